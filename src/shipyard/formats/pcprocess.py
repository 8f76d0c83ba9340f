"""One process-compose process → one Shipyard step or service (an :class:`Entry` tree)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from shipyard.formats.context import ImportContext
from shipyard.formats.emit import Entry, Scalar
from shipyard.formats.pcavailability import restart_entries, retry_entries
from shipyard.formats.pcprobe import health_of
from shipyard.formats.pcroles import RoleChoice
from shipyard.formats.pctemplate import render
from shipyard.spec.yamlsource import PathKey

#: process-compose's shutdown.signal is a number; Shipyard's stop.signal a name.
SIGNALS = {1: "HUP", 2: "INT", 3: "QUIT", 9: "KILL", 10: "USR1", 12: "USR2", 15: "TERM"}

#: Keys of a process with no Shipyard equivalent, and why.
UNMAPPED = {
    "namespace": "Shipyard has no namespaces: units are named by their own names only",
    "is_daemon": "Shipyard watches the process it starts; a daemon that forks away would be "
    "seen as exited (run it in the foreground)",
    "is_tty": "units' output goes to log files, never to a terminal",
    "log_location": "each unit's log is kept in its run folder (shipyard logs)",
    "log_configuration": "each unit's log is kept in its run folder (shipyard logs)",
    "env_file": "Shipyard reads no env files: put the variables under env",
    "schedule": "Shipyard does not start units on an interval or a cron schedule",
    "launch_timeout_seconds": "Shipyard has no launch timeout (readiness_timeout is for health)",
    "platform": "Shipyard runs every unit on this machine's platform",
}

#: Keys handled below (or above, in the roles).
HANDLED = {
    "command",
    "entrypoint",
    "working_dir",
    "description",
    "environment",
    "depends_on",
    "availability",
    "readiness_probe",
    "liveness_probe",
    "replicas",
    "is_disabled",
    "disabled",
    "vars",
    "shutdown",
    "success_exit_codes",
    "ready_log_line",
}

_DEPEND_CONDITIONS = {
    "process_started",
    "process_healthy",
    "process_completed",
    "process_completed_successfully",
    "process_log_ready",
}


@dataclass
class Project:
    """What a process's mapping needs to know of the whole file."""

    roles: dict[str, RoleChoice]
    parameters: dict[str, Any]
    #: disabled services, left out: their dependants' waits on them are dropped (named)
    omitted: set[str] = field(default_factory=set)
    taken_ports: set[int] = field(default_factory=set)
    #: a workdir as written (None: the file's folder) → as the written spec must say it
    rebase: Callable[[str | None], str | None] = lambda workdir: workdir
    #: some service's restart is exit_on_failure: execution.on_service_failure: stop-all
    stop_all: bool = False
    #: services whose readiness is their ready_log_line (``health: {log_line}``): a
    #: process_log_ready wait on one is a wait for it healthy
    log_ready: set[str] = field(default_factory=set)


def unit_of(
    ctx: ImportContext, name: str, process: dict[str, Any], project: Project
) -> Entry | None:
    """The unit, or None when it is left out (a disabled service)."""
    path: PathKey = ("processes", name)
    role = project.roles[name]
    disabled = bool(process.get("is_disabled") or process.get("disabled"))
    if disabled and role.role == "service":
        key = "is_disabled" if "is_disabled" in process else "disabled"
        ctx.unmapped(
            (*path, key),
            "Shipyard services have no 'enabled' switch: this disabled process is left out",
        )
        return None
    entry = Entry(name, comment=f"a {role.role}: {role.reason}", origin=ctx.at(path))
    children = entry.children
    if isinstance(process.get("description"), str):
        children.append(
            Entry("description", process["description"], origin=ctx.at((*path, "description")))
        )
    children.extend(_run(ctx, path, process, project))
    workdir = process.get("working_dir")
    rebased = project.rebase(str(workdir) if workdir is not None else None)
    if rebased is not None:
        children.append(
            Entry("workdir", rebased, comment="working_dir", origin=ctx.at((*path, "working_dir")))
        )
    env = env_entries(ctx, (*path, "environment"), process.get("environment"))
    if env is not None:
        children.append(env)
    children.extend(_depends(ctx, path, process.get("depends_on"), role.role, project))
    if role.role == "step":
        children.extend(_step_only(ctx, path, process, disabled))
    else:
        children.extend(_service_only(ctx, path, process, project))
    children.extend(_stop(ctx, (*path, "shutdown"), process.get("shutdown")))
    children.extend(_success_codes(ctx, (*path, "success_exit_codes"), process))
    for key in process:
        if key in UNMAPPED:
            ctx.unmapped((*path, key), UNMAPPED[key])
        elif key not in HANDLED:
            ctx.unmapped((*path, key), "not a process-compose key this importer knows")
    return entry


def _run(
    ctx: ImportContext, path: PathKey, process: dict[str, Any], project: Project
) -> list[Entry]:
    given = process.get("vars")
    local: dict[str, Any] = given if isinstance(given, dict) else {}
    if "vars" in process:
        ctx.note((*path, "vars"), "mapped", "written into the command as their values")
    entrypoint = process.get("entrypoint")
    if isinstance(entrypoint, list) and entrypoint:
        argv: list[Scalar] = [
            render(ctx, (*path, "entrypoint"), str(arg), project.parameters, local)
            for arg in entrypoint
        ]
        if "command" in process:
            ctx.unmapped((*path, "command"), "entrypoint is the command run (an argv)")
        return [
            Entry("run", argv, comment="entrypoint (an argv)", origin=ctx.at((*path, "entrypoint")))
        ]
    command = process.get("command")
    if not isinstance(command, str) or not command.strip():
        ctx.problem(
            (*path, "command") if "command" in process else path,
            f"process '{path[-1]}' has no command",
            hint="give it command: a shell string (or entrypoint: an argv list)",
        )
        return []
    text = render(ctx, (*path, "command"), command, project.parameters, local)
    where = ctx.at((*path, "command"))
    construct = bash_only(text)
    if construct is not None:  # process-compose runs bash -c; sh would refuse this
        comment = f"command, with bash-only syntax ({construct}): run by bash -c"
        return [Entry("run", ["bash", "-c", text], comment=comment, origin=where)]
    return [
        Entry("run", text, comment="command (a shell string)", origin=where),
        Entry("shell", True, comment="run with sh -c", origin=where),
    ]


#: Shell syntax bash has and POSIX sh (dash, Shipyard's shell: true) does not.
_BASH_ONLY = (
    (re.compile(r"\[\["), "[["),
    (
        re.compile(r"(^|[\s;&|(])(source|shopt|declare|local -a|mapfile|readarray)\s"),
        "a bash builtin",
    ),
    (re.compile(r"(^|[\s;&|])function\s+\w+"), "function NAME"),
    (re.compile(r"[<>]\("), "process substitution"),
    (re.compile(r"\$'"), "$'...' quoting"),
    (re.compile(r"\{[^{}\s]*\.\.[^{}\s]*\}"), "{a..b} expansion"),
    (re.compile(r"\w=\("), "an array"),
    (re.compile(r"\$\{[^}]*(//|:\d|\^|,)"), "${...} bash expansion"),
    (re.compile(r"&>|\|&"), "&> or |& redirection"),
    (re.compile(r"(^|[\s;&|(])(pushd|popd)\s"), "pushd/popd"),
    (re.compile(r"\$\{?(RANDOM|BASH_[A-Z]+|PIPESTATUS|SECONDS)\b"), "a bash variable"),
    (re.compile(r"(^|[\s;&|(])set -o pipefail"), "set -o pipefail"),
)


def bash_only(command: str) -> str | None:
    """The first bash-only construct of ``command``, if any (a heuristic: sh gets the rest)."""
    for pattern, name in _BASH_ONLY:
        if pattern.search(command):
            return name
    return None


def env_entries(ctx: ImportContext, path: PathKey, value: Any) -> Entry | None:
    """``environment``: a list of ``K=V`` strings → an ``env`` mapping."""
    if value is None:
        return None
    if not isinstance(value, list):
        ctx.problem(path, "environment should be a list of 'NAME=value' strings")
        return None
    entry = Entry("env", comment="environment (a list of K=V)", origin=ctx.at(path))
    for index, item in enumerate(value):
        if not isinstance(item, str) or "=" not in item or item.startswith("="):
            ctx.problem((*path, index), f"environment item {item!r} is not 'NAME=value'")
            continue
        key, _, text = item.partition("=")
        entry.children.append(Entry(key, text, origin=ctx.at((*path, index))))
    return entry if entry.children else None


def _depends(
    ctx: ImportContext, path: PathKey, depends: Any, role: str, project: Project
) -> list[Entry]:
    if depends is None:
        return []
    where: PathKey = (*path, "depends_on")
    if not isinstance(depends, dict):
        ctx.problem(where, "depends_on should map process names to {condition: ...}")
        return []
    if role == "step":
        names = _step_needs(ctx, where, depends, project)
        return [Entry("needs", names, comment="depends_on", origin=ctx.at(where))] if names else []
    entry = Entry("depends_on", origin=ctx.at(where))
    for target, how in depends.items():
        condition = _condition(ctx, (*where, target), target, how, project)
        if condition is None:
            continue
        role = project.roles[target].role
        wanted = _service_wait(ctx, (*where, target), role, condition, project.log_ready)
        entry.children.append(
            Entry(target, wanted, comment=condition, origin=ctx.at((*where, target)))
        )
    return [entry] if entry.children else []


def _condition(
    ctx: ImportContext, path: PathKey, target: str, how: Any, project: Project
) -> str | None:
    condition = how.get("condition", "process_started") if isinstance(how, dict) else None
    if condition not in _DEPEND_CONDITIONS:
        ctx.problem(
            path,
            f"depends_on '{target}': condition {condition!r} is not one of process-compose's",
            hint="use " + ", ".join(sorted(_DEPEND_CONDITIONS)),
        )
        return None
    if target not in project.roles:
        ctx.problem(path, f"depends_on '{target}', which is no process of this file")
        return None
    if target in project.omitted:
        ctx.unmapped(path, f"'{target}' is disabled and left out, so this wait is dropped")
        return None
    return str(condition)


def _step_needs(
    ctx: ImportContext, where: PathKey, depends: dict[str, Any], project: Project
) -> list[Scalar]:
    names: list[Scalar] = []
    for target, how in depends.items():
        condition = _condition(ctx, (*where, target), target, how, project)
        if condition is None:
            continue
        names.append(target)
        target_role = project.roles[target].role
        if target_role == "step" and condition == "process_completed":
            ctx.note(
                (*where, target),
                "approximate",
                "process_completed (any exit): a step that needs another waits for its success",
            )
        elif (
            target_role == "service"
            and condition == "process_log_ready"
            and (target in project.log_ready)
        ):
            continue  # a step that needs a service waits until healthy: its log line
        elif target_role == "service" and condition != "process_healthy":
            ctx.note(
                (*where, target),
                "approximate",
                f"{condition}: a step that needs a service waits until it is healthy "
                "(started, when it has no health check)",
            )
    return names


def _service_wait(
    ctx: ImportContext, path: PathKey, target_role: str, condition: str, log_ready: set[str]
) -> str:
    if target_role == "step":
        if condition == "process_completed":
            ctx.note(
                path, "approximate", "process_completed (any exit): Shipyard waits for success"
            )
        elif condition != "process_completed_successfully":
            ctx.note(path, "approximate", f"{condition} on a process that runs to its end")
        return "completed_successfully"
    if condition == "process_started":
        return "started"
    if condition == "process_healthy":
        return "healthy"
    if condition == "process_log_ready":
        if path[-1] in log_ready:
            return "healthy"  # its health is its ready_log_line
        ctx.note(
            path,
            "approximate",
            "process_log_ready: its readiness is not a ready_log_line here; waits until started",
        )
        return "started"
    ctx.note(path, "approximate", f"{condition} on a service: waits until healthy")
    return "healthy"


def _step_only(
    ctx: ImportContext, path: PathKey, process: dict[str, Any], disabled: bool
) -> list[Entry]:
    entries: list[Entry] = []
    if disabled:
        key = "is_disabled" if "is_disabled" in process else "disabled"
        entries.append(Entry("enabled", False, comment=key, origin=ctx.at((*path, key))))
    replicas = process.get("replicas")
    if replicas not in (None, 1):
        ctx.unmapped(
            (*path, "replicas"),
            "a process that runs to its end is a step, and steps have no replicas",
        )
    if "ready_log_line" in process:
        ctx.unmapped(
            (*path, "ready_log_line"),
            "this process runs to its end (a step, which nothing waits for as ready)",
        )
    entries.extend(retry_entries(ctx, (*path, "availability"), process.get("availability")))
    return entries


def _service_only(
    ctx: ImportContext, path: PathKey, process: dict[str, Any], project: Project
) -> list[Entry]:
    entries: list[Entry] = []
    replicas = process.get("replicas", 1)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= 64:
        ctx.problem((*path, "replicas"), f"replicas {replicas!r}: Shipyard runs 1 to 64 copies")
        replicas = 1
    health = health_of(ctx, path, process, project.taken_ports, shared=replicas > 1)
    if health is not None and health.port is not None:
        entries.append(Entry("port", health.port, comment="the http_get probe's port"))
    if replicas > 1:
        where = ctx.at((*path, "replicas"))
        entries.append(Entry("replicas", replicas, comment="replicas", origin=where))
    if health is not None and health.entries:
        probe = "readiness_probe" if "readiness_probe" in process else "ready_log_line"
        entries.append(
            Entry("health", children=health.entries, comment=probe, origin=ctx.at((*path, probe)))
        )
    if health is not None and health.liveness:
        where = ctx.at((*path, "liveness_probe"))
        entries.append(
            Entry("liveness", children=health.liveness, comment="liveness_probe", origin=where)
        )
    if health is not None and health.readiness_timeout is not None:
        entries.append(
            Entry(
                "readiness_timeout",
                health.readiness_timeout,
                comment="the probe's delay and failures take longer than 60s",
            )
        )
    restart, stop_all = restart_entries(ctx, (*path, "availability"), process.get("availability"))
    project.stop_all = project.stop_all or stop_all
    entries.extend(restart)
    return entries


def _stop(ctx: ImportContext, path: PathKey, shutdown: Any) -> list[Entry]:
    if shutdown is None:
        return []
    if not isinstance(shutdown, dict):
        ctx.problem(path, "shutdown should be a mapping (signal, timeout_seconds, command)")
        return []
    entry = Entry("stop", comment="shutdown", origin=ctx.at(path))
    signal = shutdown.get("signal")
    if signal is not None:
        if signal in SIGNALS:
            entry.children.append(
                Entry(
                    "signal",
                    SIGNALS[signal],
                    comment=f"signal {signal}",
                    origin=ctx.at((*path, "signal")),
                )
            )
        else:
            ctx.unmapped(
                (*path, "signal"),
                f"signal {signal!r}: Shipyard stops with one of "
                + ", ".join(f"{n} ({s})" for n, s in SIGNALS.items()),
            )
    timeout = shutdown.get("timeout_seconds")
    if timeout is not None:
        entry.children.append(
            Entry(
                "timeout",
                timeout,
                comment="timeout_seconds",
                origin=ctx.at((*path, "timeout_seconds")),
            )
        )
    if "command" in shutdown:
        entry.children.extend(_stop_command(ctx, (*path, "command"), shutdown["command"]))
    if "parent_only" in shutdown:
        ctx.unmapped(
            (*path, "parent_only"), "Shipyard always signals the unit's whole process group"
        )
    for key in shutdown:
        if key not in ("signal", "timeout_seconds", "command", "parent_only"):
            ctx.unmapped((*path, key), "not a shutdown key this importer knows")
    return [entry] if entry.children else []


def _stop_command(ctx: ImportContext, path: PathKey, command: Any) -> list[Entry]:
    """``shutdown.command``, a shell string as ``command`` is: run before the stop signal
    (process-compose runs it instead of the signal, then SIGKILLs after the timeout)."""
    if not isinstance(command, str) or not command.strip():
        ctx.problem(path, "shutdown.command should be a shell command (a string)")
        return []
    ctx.note(
        path,
        "approximate",
        "run before the stop signal (process-compose sends no signal after it, only SIGKILL "
        "at the timeout)",
    )
    where = ctx.at(path)
    construct = bash_only(command)
    if construct is not None:
        comment = f"shutdown.command, with bash-only syntax ({construct}): run by bash -c"
        return [Entry("command", ["bash", "-c", command], comment=comment, origin=where)]
    return [
        Entry("command", command, comment="shutdown.command (a shell string)", origin=where),
        Entry("shell", True, comment="run with sh -c", origin=where),
    ]


def _success_codes(ctx: ImportContext, path: PathKey, process: dict[str, Any]) -> list[Entry]:
    """``success_exit_codes``: the codes listed, and 0 — Shipyard's list replaces its default
    ``[0]``, and a process that exits 0 is never taken for a failure (named when added)."""
    if "success_exit_codes" not in process:
        return []
    codes = process["success_exit_codes"]
    if (
        not isinstance(codes, list)
        or not codes
        or not all(type(c) is int and 0 <= c <= 255 for c in codes)
    ):
        ctx.problem(path, f"success_exit_codes should be a list of exit codes 0-255, not {codes!r}")
        return []
    if 0 not in codes:
        ctx.note(path, "mapped", "0 is written into the list: Shipyard's list replaces its [0]")
    written: list[Scalar] = sorted({0, *codes})
    return [Entry("success_exit_codes", written, comment="success_exit_codes", origin=ctx.at(path))]


def relative_rebase(source_dir: str, target_dir: str) -> Callable[[str | None], str | None]:
    """Workdirs of a spec written to ``target_dir`` for a file in ``source_dir``: relative ones
    re-based so they name the same folders (and None becomes the file's folder)."""
    if os.path.realpath(source_dir) == os.path.realpath(target_dir):
        return lambda workdir: workdir
    offset = os.path.relpath(source_dir, target_dir)

    def rebase(workdir: str | None) -> str | None:
        if workdir is not None and PurePath(workdir).is_absolute():
            return workdir
        return os.path.normpath(PurePath(offset) / (workdir or "."))

    return rebase
