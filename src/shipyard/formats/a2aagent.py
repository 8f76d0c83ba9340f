"""One A2A agent (``agents[i]`` of a job YAML) → one Shipyard service (an :class:`Entry` tree).

``module`` → ``run: [python3, -m, module]`` (the deployer's ``python -m``), ``config.port`` →
``port``, every other ``config`` key → ``AGENT_<KEY>``, ``deployment.environment`` → the
service's ``env``; the readiness the deployer polls (``/.well-known/agent-configuration``) →
``health.http``; a remote agent → ``runner: ssh`` with ``host:`` (its host in :class:`Hosts`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from shipyard.formats.context import ImportContext
from shipyard.formats.emit import Entry, Scalar
from shipyard.spec.models import NAME_PATTERN
from shipyard.spec.yamlsource import PathKey

#: The path the A2A deployer polls for readiness (and its monitor for health).
CARD_PATH = "/.well-known/agent-configuration"

_NAME = re.compile(NAME_PATTERN)
_ENV_KEY = re.compile(r"[^A-Za-z0-9_]")

#: Agent keys with no Shipyard equivalent, and why.
UNMAPPED = {
    "resources": "declared only upstream (nothing reads it); Shipyard's resources are step-only",
}
#: deployment keys with no Shipyard equivalent, and why.
DEPLOYMENT_UNMAPPED = {
    "image": "a container setting: upstream has no container runner, nor has Shipyard",
    "network": "a container setting: upstream has no container runner, nor has Shipyard",
    "container_name": "a container setting: upstream has no container runner, nor has Shipyard",
    "namespace": "a Kubernetes setting: upstream has no Kubernetes runner, nor has Shipyard",
    "service_type": "a Kubernetes setting: upstream has no Kubernetes runner, nor has Shipyard",
    "password": "the ssh runner logs in with keys or an agent only (BatchMode=yes): put a key "
    "for this host in your ssh agent or ssh_config",
}


@dataclass
class Hosts:
    """The remote hosts the agents name, as the spec's ``hosts:`` entries (one per distinct
    address, user and ssh port) and the ssh key files they ask for."""

    entries: dict[tuple[str, str | None, int | None], str] = field(default_factory=dict)
    origins: dict[str, PathKey] = field(default_factory=dict)
    keys: dict[str, PathKey] = field(default_factory=dict)

    def name_of(self, address: str, user: str | None, port: int | None, path: PathKey) -> str:
        key = (address, user, port)
        if key not in self.entries:
            taken = set(self.entries.values())
            name = address if address not in taken else f"{address}-{len(self.entries) + 1}"
            self.entries[key] = name
            self.origins[name] = path
        return self.entries[key]


def agent_id(ctx: ImportContext, index: int, agent: Any) -> str | None:
    path: PathKey = ("agents", index)
    if not isinstance(agent, dict):
        ctx.problem(path, "an agent is a mapping with id, module and config")
        return None
    name = agent.get("id")
    if not isinstance(name, str) or not name:
        ctx.problem(path, "this agent has no 'id' (upstream requires one)")
        return None
    if not _NAME.match(name) or len(name) > 64:
        ctx.problem(
            (*path, "id"),
            f"agent id '{name}' cannot be a Shipyard service's name",
            hint="rename it with letters, digits, '_', '-', '.' (at most 64, starting with a "
            "letter or digit)",
        )
        return None
    return name


def service_of(
    ctx: ImportContext, index: int, name: str, agent: dict[str, Any], job: str, hosts: Hosts
) -> Entry:
    """``agents[index]`` as the service ``name``."""
    path: PathKey = ("agents", index)
    unit = Entry(name, comment=f"agents[{index}] (id: {name})", origin=ctx.at(path))
    deployment = agent.get("deployment") or {}
    if not isinstance(deployment, dict):
        ctx.problem((*path, "deployment"), "deployment should be a mapping")
        deployment = {}
    remote = _target(ctx, (*path, "deployment"), deployment)
    unit.children.append(_run(ctx, path, agent, deployment if remote else {}))
    config = agent.get("config")
    env = Entry("env", comment="config keys as AGENT_<KEY>; deployment.environment")
    env.children.append(Entry("AGENT_ID", name, comment="the deployer's AGENT_ID: the id"))
    env.children.append(Entry("JOB_ID", job, comment="the deployer's JOB_ID: job.name"))
    if not isinstance(config, dict) or "port" not in config:
        ctx.problem(
            (*path, "config") if isinstance(config, dict) else path,
            f"agent '{name}' has no config.port (upstream requires one)",
            hint="give it `config: {port: 9001}` (or `port: auto`, Shipyard's choice)",
        )
    else:
        unit.children.append(_port(ctx, (*path, "config", "port"), config["port"]))
        for key, value in config.items():
            if key != "port":
                env.children.append(_config_env(ctx, (*path, "config", key), key, value))
    _deployment_env(ctx, (*path, "deployment", "environment"), deployment, env)
    unit.children.append(env)
    if remote:
        _remote(ctx, (*path, "deployment"), deployment, unit, hosts)
    for key in deployment:
        if key in DEPLOYMENT_UNMAPPED:
            ctx.unmapped((*path, "deployment", key), DEPLOYMENT_UNMAPPED[key])
        elif key not in _DEPLOYMENT_HANDLED:
            ctx.unmapped(
                (*path, "deployment", key), "not an A2A deployment key this importer knows"
            )
    _agent_notes(ctx, path, agent)
    return unit


_DEPLOYMENT_HANDLED = {
    "target",
    "host",
    "user",
    "ssh_key",
    "python",
    "workdir",
    "port",
    "environment",
}


def _target(ctx: ImportContext, path: PathKey, deployment: dict[str, Any]) -> bool:
    target = deployment.get("target", "localhost")
    if target in ("localhost", "local"):
        return False
    if target == "remote":
        return True
    ctx.problem(
        (*path, "target"),
        f"deployment target {target!r} has no runner (upstream's deployer refuses it too)",
        hint="use localhost, or remote with a host (Shipyard's ssh runner)",
    )
    return False


def _run(ctx: ImportContext, path: PathKey, agent: dict[str, Any], remote: dict[str, Any]) -> Entry:
    module = agent.get("module")
    if not isinstance(module, str) or not module.strip():
        ctx.problem(path, "this agent has no 'module' (python -m <module> starts it)")
        module = "?"
    python = remote.get("python", "python3")
    comment = "module: the deployer starts `python -m <module>`"
    if remote:
        comment += " (remote: `uv run python -m`; here the host's python)"
        ctx.note(
            (*path, "module"),
            "approximate",
            "a remote agent upstream starts with `nohup env … uv run python -m <module>`; "
            f"Shipyard runs `{python} -m {module}` on the host over ssh (no uv run)",
        )
    if "type" in agent:
        ctx.note((*path, "type"), "implicit", "the class name: `python -m <module>` starts it")
    return Entry(
        "run", [str(python), "-m", module], comment=comment, origin=ctx.at((*path, "module"))
    )


def _port(ctx: ImportContext, path: PathKey, value: Any) -> Entry:
    if value in ("auto", 0):
        return Entry(
            "port",
            "auto",
            comment="config.port (auto: Shipyard picks a free one)",
            origin=ctx.at(path),
        )
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        ctx.problem(path, f"config.port {value!r} is not a port (1-65535, or auto)")
        return Entry("port", "auto", origin=ctx.at(path))
    return Entry(
        "port", value, comment="config.port (Shipyard also sets AGENT_PORT)", origin=ctx.at(path)
    )


def env_key(key: object) -> str:
    """``config.some-key`` → ``AGENT_SOME_KEY`` (the deployer's ``AGENT_<KEY>``)."""
    return "AGENT_" + _ENV_KEY.sub("_", str(key)).upper()


def env_value(ctx: ImportContext, path: PathKey, value: Any) -> Scalar:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return value
    ctx.note(path, "approximate", "not a plain value: exported as its JSON text")
    return json.dumps(value)


def _config_env(ctx: ImportContext, path: PathKey, key: object, value: Any) -> Entry:
    return Entry(
        env_key(key), env_value(ctx, path, value), comment=f"config.{key}", origin=ctx.at(path)
    )


def _deployment_env(
    ctx: ImportContext, path: PathKey, deployment: dict[str, Any], env: Entry
) -> None:
    value = deployment.get("environment")
    if value is None:
        return
    if not isinstance(value, dict):
        ctx.problem(path, "deployment.environment should map names to values")
        return
    for key, item in value.items():
        env.children.append(
            Entry(
                str(key),
                env_value(ctx, (*path, key), item),
                comment="deployment.environment",
                origin=ctx.at((*path, key)),
            )
        )


def _remote(
    ctx: ImportContext, path: PathKey, deployment: dict[str, Any], unit: Entry, hosts: Hosts
) -> None:
    address = deployment.get("host")
    if not isinstance(address, str) or not address:
        ctx.problem((*path, "target"), "a remote agent needs deployment.host")
        return
    user = deployment.get("user")
    port = deployment.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        ctx.problem((*path, "port"), f"deployment.port (ssh) {port!r} is not a number")
        port = None
    name = hosts.name_of(address, user if isinstance(user, str) else None, port, (*path, "host"))
    unit.children.append(
        Entry(
            "runner", "ssh", comment="deployment.target: remote", origin=ctx.at((*path, "target"))
        )
    )
    unit.children.append(
        Entry(
            "host",
            name,
            comment="deployment.host (user, port: hosts:)",
            origin=ctx.at((*path, "host")),
        )
    )
    workdir = deployment.get("workdir")
    if isinstance(workdir, str):
        unit.children.append(
            Entry(
                "workdir",
                workdir,
                comment="deployment.workdir (on the host)",
                origin=ctx.at((*path, "workdir")),
            )
        )
    key = deployment.get("ssh_key")
    if isinstance(key, str):
        hosts.keys.setdefault(key, (*path, "ssh_key"))


def _agent_notes(ctx: ImportContext, path: PathKey, agent: dict[str, Any]) -> None:
    for key in agent:
        if key in UNMAPPED:
            ctx.unmapped((*path, key), UNMAPPED[key])
        elif key not in ("id", "type", "module", "config", "deployment"):
            ctx.unmapped((*path, key), "not an A2A agent key this importer knows")
