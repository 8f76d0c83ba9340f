"""Hints for a key or a value a spec does not know: the Shipyard key another tool's name means
(process-compose's ``working_dir``, an A2A mesh's ``agents``…), else the closest valid name.

People bring the words of the tools they come from, and the closest spelling is often the
wrong key (a mesh's ``agents`` is spelled most like ``stages``, but means ``members``). The
aliases below say what those words mean here. A target is only suggested when the model at
that place has it — the loader passes the model's own fields — so a key added to
spec/models.py is picked up, and an alias whose target is not there falls back to the
closest-name match. Pure: no I/O, no Pydantic.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Alias:
    """What another tool's key means: the first of ``targets`` the model has, and why."""

    targets: tuple[str, ...]
    note: str = ""


def _aliases(targets: str, note: str, *names: str) -> dict[str, Alias]:
    alias = Alias(tuple(targets.split()), note)
    return dict.fromkeys(names, alias)


_ENV = _aliases(
    "env",
    "variables are a mapping: env: {KEY: value}",
    "environment",
    "environ",
    "envs",
    "env_vars",
    "variables",
)
_WORKDIR = _aliases(
    "workdir",
    "the folder it runs in",
    "working_dir",
    "working_directory",
    "workingDir",
    "cwd",
    "chdir",
    "dir",
)
_RUN = _aliases(
    "run",
    "the command: run: [program, args…], or a string; shell: true for shell syntax",
    "command",
    "cmd",
    "entrypoint",
    "script",
    "exec",
    "args",
    "argv",
)
_MODULE = _aliases("run", "a Python module runs as run: [python3, -m, MODULE]", "module")
_STOP = _aliases("stop", "stop: {signal: TERM, timeout: 10s}", "shutdown", "stop_signal")
_UNIT = {**_ENV, **_WORKDIR, **_RUN, **_MODULE, **_STOP}

#: Unknown key → what it means, by the model (class name) the key sits in.
ALIASES: dict[str, dict[str, Alias]] = {
    "Spec": {
        **_ENV,
        **_aliases(
            "services steps",
            "process-compose's processes are services (or steps); `shipyard import FILE` "
            "converts a whole process-compose file",
            "processes",
        ),
        **_aliases(
            "steps",
            "Jarvis-CD's packages are steps here; `shipyard import FILE` reads Jarvis-CD files",
            "pkgs",
        ),
        **_aliases("steps", "", "jobs", "tasks", "stages"),
        **_aliases(
            "services",
            "A2A agents are services, keyed by their id; `shipyard import FILE` converts a "
            "whole A2A job file",
            "agents",
        ),
        **_aliases(
            "name",
            "an A2A job's job.name and job.description are the top-level name and description",
            "job",
        ),
        **_aliases(
            "execution",
            "A2A's deployment.strategy is execution.deployment",
            "deployment",
        ),
        **_aliases(
            "parameters",
            "values used as {{ name }}; a sweep over them is sweep.matrix",
            "vars",
            "params",
            "args",
            "arguments",
            "inputs",
        ),
        **_aliases(
            "sweep",
            "a parameter sweep is sweep: {matrix: {name: [values]}, zip: [[a, b]], repeat: N}",
            "loop",
            "repeat",
            "matrix",
            "experiments",
        ),
        **_aliases("hosts", "hosts: FILE reads a hostfile; or list the hosts", "hostfile"),
        **_aliases("slurm", "Slurm settings for the slurm runner", "scheduler"),
        **_aliases(
            "hooks",
            "hooks: {prepare: [...], cleanup: [...]}",
            "exec_hooks",
            "env_preparation",
            "env_cleanup",
        ),
    },
    "StepSpec": {
        **_UNIT,
        **_aliases(
            "needs",
            "a step waits for others with needs: [a, b]",
            "depends_on",
            "dependencies",
            "after",
            "requires",
        ),
        **_aliases("enabled", "write enabled: false", "disabled", "is_disabled", "skip"),
        **_aliases(
            "retries", "retries: {count: N}", "retry", "retry_count", "max_retries", "attempts"
        ),
        **_aliases("timeout", "a duration: 300s, 5m", "timeout_seconds", "time_limit"),
    },
    "ServiceSpec": {
        **_UNIT,
        **_aliases(
            "depends_on",
            "a service waits for others with depends_on: {a: healthy}",
            "needs",
            "dependencies",
            "after",
            "requires",
        ),
        **_aliases(
            "readiness health",
            "a probe: {http: /path}, {tcp: true} or {exec: [program, args…]}",
            "readiness_probe",
            "readinessProbe",
        ),
        **_aliases(
            "ready_log_line health.log_line",
            "ready once a line containing the text is logged: health: {log_line: TEXT}",
            "ready_log_line",
            "log_ready",
        ),
        **_aliases(
            "liveness health",
            "a probe: {http: /path}, {tcp: true} or {exec: [program, args…]}",
            "liveness_probe",
            "livenessProbe",
        ),
        **_aliases(
            "health",
            "a probe: {http: /path}, {tcp: true} or {exec: [program, args…]}",
            "healthcheck",
            "health_check",
            "probe",
            "check",
        ),
        **_aliases(
            "restart",
            "restart: {policy: on-failure, max_restarts: 3, backoff: 1s}",
            "availability",
            "restart_policy",
            "auto_restart",
        ),
        **_aliases("port", "a number, or auto", "ports", "listen"),
        **_aliases("success_exit_codes", "", "exit_codes", "ok_exit_codes"),
        **_aliases("enabled", "write enabled: false", "disabled", "is_disabled"),
    },
    "TopologySpec": {
        # ``agents`` means what the topology's type lists (see _topology_agents).
        **_aliases(
            "edges",
            "a dag's edges map each service to those it sends to: edges: {a: [b, c]}",
            "connections",
            "links",
            "graph",
        ),
        **_aliases(
            "levels",
            "a tree is levels: [[root], [its children…], …], top level first",
            "root",
            "tree",
        ),
        **_aliases("members", "a mesh's services: members: [a, b, c]", "nodes", "peers"),
    },
    "ExecutionSettings": {
        **_aliases(
            "deployment",
            "how services start: staged, sequential or parallel",
            "strategy",
            "deploy_strategy",
        ),
        **_aliases(
            "max_parallel",
            "how many units run at once",
            "parallelism",
            "concurrency",
            "max_concurrency",
            "max_workers",
            "workers",
            "worker_count",
        ),
        **_aliases("failure_strategy", "fail_fast or continue", "on_failure", "fail_fast"),
        **_aliases("timeout", "a duration for the whole execution", "timeout_seconds"),
    },
    "Hooks": {
        **_aliases("prepare", "run before any step", "provision", "env_preparation", "setup"),
        **_aliases("cleanup", "run after the last unit", "env_cleanup", "teardown"),
    },
    "HealthSpec": {
        **_aliases("http", "http: /path on the service's port", "http_get", "path", "url"),
        **_aliases("exec", "exec: [program, args…]", "command", "cmd"),
        **_aliases("tcp", "tcp: true", "tcp_socket"),
        **_aliases("interval", "", "period_seconds", "period"),
        **_aliases("initial_delay", "", "initial_delay_seconds"),
        **_aliases("timeout", "", "timeout_seconds"),
    },
    "RestartSpec": {
        **_aliases("policy", "no, on-failure or always", "restart", "when", "condition"),
        **_aliases("backoff", "the first delay; it doubles", "backoff_seconds", "delay"),
        **_aliases("max_restarts", "", "max_retries", "limit", "restarts"),
    },
    "StopPolicy": {
        **_aliases("timeout", "grace before SIGKILL", "timeout_seconds", "grace_period"),
    },
    "RetryPolicy": {
        **_aliases("count", "how many retries", "attempts", "max_attempts", "retries", "times"),
        **_aliases("backoff", "the first delay; it doubles", "delay", "backoff_seconds"),
    },
    "ParameterSpec": {
        **_aliases("choices", "the only values allowed", "values", "options", "enum", "allowed"),
        **_aliases("default", "", "value"),
    },
}

#: What a topology's ``agents`` list means, by the topology's type (A2A writes a mesh's
#: services as ``agents``).
_TOPOLOGY_LISTS = {
    "mesh": "members",
    "pipeline": "stages",
    "hub-spoke": "spokes",
    "hierarchical": "levels",
    "dag": "edges",
}


def did_you_mean(target: str, note: str = "") -> str:
    """The hint's words: ``did you mean 'env'?``, and why when the name is another tool's."""
    return f"did you mean '{target}'?" + (f" ({note})" if note else "")


def key_hint(
    key: str,
    model: str | None,
    valid: Sequence[str],
    owner: Mapping[str, Any] | None = None,
    nested: Mapping[str, Collection[str]] | None = None,
) -> str | None:
    """The hint for the unknown ``key`` in the mapping ``owner`` (its raw data) of the model
    named ``model`` whose fields are ``valid``; ``nested``: the fields of those of its fields
    that are mappings themselves (an alias may name ``health.log_line``)."""
    alias = _alias(key, model, _with_nested(valid, nested or {}), owner)
    if alias is not None:
        return alias
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if close:
        return did_you_mean(close[0])
    return f"valid keys: {', '.join(valid)}" if valid else None


def _with_nested(valid: Sequence[str], nested: Mapping[str, Collection[str]]) -> list[str]:
    """``valid`` and, for each field with fields of its own, ``field.subfield``."""
    return [*valid, *(f"{name}.{sub}" for name in valid for sub in nested.get(name, ()))]


def _alias(
    key: str, model: str | None, valid: Sequence[str], owner: Mapping[str, Any] | None
) -> str | None:
    if model == "TopologySpec" and key == "agents":
        kind = owner.get("type") if owner else None
        target = _TOPOLOGY_LISTS.get(kind if isinstance(kind, str) else "mesh", "members")
        if target in valid:
            return did_you_mean(target, f"the {kind or 'mesh'} topology's list of services")
    known = ALIASES.get(model or "", {})
    alias = known.get(key) or known.get(key.lower())
    if alias is None:
        return None
    for target in alias.targets:
        if target in valid and target != key:
            return did_you_mean(target, alias.note)
    return None


# -- values ----------------------------------------------------------------------------------

#: Prefixes other tools put on a value Shipyard spells without (process-compose's
#: ``process_healthy`` is ``healthy`` in a depends_on).
_FOREIGN_PREFIXES = ("process_",)


def allowed_values(expected: str) -> list[str]:
    """The values listed in Pydantic's ``literal_error`` context: ``'a', 'b' or 'c'``."""
    return re.findall(r"'([^']*)'", expected)


def _folded(text: str) -> str:
    return text.lower().replace("-", "_").replace(" ", "_")


def value_hint(value: Any, allowed: Sequence[str]) -> str | None:
    """The allowed value ``value`` means (``on_failure`` → ``on-failure``, process-compose's
    ``process_healthy`` → ``healthy``), or None. A mapping holding one such value (a
    process-compose ``{condition: process_healthy}``) is told to be the value itself."""
    if isinstance(value, Mapping) and len(value) == 1:
        (inner,) = value.values()
        meant = _meant(inner, allowed) if isinstance(inner, str) else None
        if meant is not None:
            return f"write the value itself, '{meant}', not a mapping"
        return None
    if not isinstance(value, str):
        return None
    meant = _meant(value, allowed)
    return did_you_mean(meant) if meant is not None else None


def _meant(value: str, allowed: Sequence[str]) -> str | None:
    folded = {_folded(option): option for option in allowed}
    candidates = [value, *(value[len(p) :] for p in _FOREIGN_PREFIXES if value.startswith(p))]
    for candidate in candidates:
        option = folded.get(_folded(candidate))
        if option is not None and option != value:
            return option
    close = difflib.get_close_matches(_folded(value), list(folded), n=1, cutoff=0.75)
    return folded[close[0]] if close else None


def shape_hint(key: str, value: Any, valid: Collection[str]) -> str | None:
    """A hint for ``key`` given a value of the wrong kind, when another tool writes it so:
    ``environment: {A: 1}`` (here a named environment; variables are ``env``) and
    ``env: [A=1]`` (process-compose's list of ``K=V`` strings)."""
    if key == "environment" and isinstance(value, Mapping | list) and "env" in valid:
        return (
            f"{did_you_mean('env')} 'environment' names a captured environment (shipyard env "
            "capture NAME); variables go under env: {KEY: value}"
        )
    if key == "env" and isinstance(value, list):
        return "write env as a mapping, one KEY: value per line, not a list of 'KEY=value'"
    return None


__all__ = ["ALIASES", "Alias", "allowed_values", "did_you_mean", "key_hint", "shape_hint"]
