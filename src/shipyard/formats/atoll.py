"""ATOLL agent folders read as they are (``shipyard agents discover|deploy DIR``).

ATOLL's deployment server walks each subfolder of its agents directory and takes ``agent.toml``
(``[agent]``, ``[llm]``, ``[dependencies]``, ``[resources]``, ``[mcp_servers.*]``,
``[sub_agents.*]``, ``[deployment]``), else the older ``agent.json`` (``name``, ``module``,
``class``, …). It starts each agent as ``python -m atoll --server --port P --agent agent.toml``
in the agent's folder, and restarts it on exit up to ``max_restarts`` times. Its server-wide
settings are ``deployment_servers.json`` (``base_port``, ``max_agents``, ``restart_on_failure``,
``max_restarts``, ``health_check_interval``, …).

This module maps one agent file's data onto a Shipyard service (pure: the caller reads the
file) and says, for every key, what became of it: a note per mapping Shipyard made with other
semantics, and a note per key with no Shipyard equivalent, so nothing is dropped silently. The
identity keys (version, author, capabilities, …) are kept as the agent's metadata.

The start command is a template (``--command``, or the agent file's own ``command``): argv
words, never a shell, with the placeholders ``{name}``, ``{folder}``, ``{file}`` and ``{port}``.
``{port}`` is the port Shipyard gives the agent: a fixed ``[deployment].port`` is written in at
once; an automatic one is known only when the agent starts, so the command then runs through
:mod:`shipyard.portexec`, which puts ``$PORT`` in its place and execs the agent (the same pid).
"""

from __future__ import annotations

import json
import re
import shlex
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.formats.naming import slug
from shipyard.spec.models import NAME_PATTERN, ServiceSpec

#: How ATOLL starts an agent (its deployment server, ``src/atoll/deployment/server.py``).
DEFAULT_COMMAND = "python -m atoll --server --port {port} --agent {file}"
PLACEHOLDERS = ("name", "folder", "file", "port")
#: The server settings file ATOLL reads, looked for in the folder given.
SERVERS_FILE = "deployment_servers.json"

#: agent.toml's sections and what becomes of the ones Shipyard does not map.
_UNMAPPED_SECTIONS = {
    "llm": "agent-internal LLM settings: not mapped (the agent reads its own file)",
    "mcp_servers": "agent-internal MCP servers: not mapped (the agent starts them itself)",
    "sub_agents": "remote child agents: not mapped (Shipyard has no remote agent servers yet)",
    "dependencies": "not mapped: install them before deploying (e.g. a pip install in the "
    "folder); Shipyard does not create the agent's environment",
    "resources": "no equivalent: Shipyard's resources are step-only (ATOLL does not enforce "
    "them either)",
}
_IDENTITY = ("version", "description", "author", "license", "capabilities")
#: agent.json (the legacy format): kept as metadata, none maps onto the service.
_LEGACY_KEPT = ("version", "module", "class", "description", "author", "capabilities")
_LEGACY_KEYS = {"name", "supported_mcp_servers", *_LEGACY_KEPT}
_DEPLOYMENT_KEYS = ("port", "auto_restart", "max_restarts", "restart_delay", "command")
#: A Shipyard service's own keys, taken as written when an ATOLL file carries them.
_SHIPYARD_KEYS = frozenset(ServiceSpec.model_fields) - {"run", "workdir", "name"}

#: deployment_servers.json keys with no Shipyard equivalent, and why.
_SERVER_UNMAPPED = {
    "enabled": "no equivalent: Shipyard has no deployment server to switch off",
    "host": "no equivalent yet: Shipyard's REST API is `shipyard serve --host`",
    "api_port": "no equivalent yet: Shipyard's REST API is `shipyard serve --port`",
    "remote_servers": "no equivalent yet: remote deployment servers are on the roadmap",
}


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What of ``deployment_servers.json`` applies to the agents of a folder."""

    file: str | None = None
    base_port: int | None = None
    max_agents: int | None = None
    restart: dict[str, Any] = field(default_factory=dict)
    health_interval: float | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Mapped:
    """One ATOLL agent as a Shipyard service, with what was made of each key."""

    name: str
    service: dict[str, Any]
    notes: list[str]
    metadata: dict[str, Any]


class Template:
    """A start command with placeholders, checked when it is given (``--command`` or a file's
    ``command``): argv words, each split as a POSIX shell would split it but never run by one."""

    def __init__(self, command: str | list[Any], where: str) -> None:
        if isinstance(command, str):
            try:
                words = shlex.split(command)
            except ValueError as error:  # an unclosed quote
                raise ShipyardError(
                    f"{where}: {command!r} cannot be split into words: {error}",
                    hint="close the quote; the command is argv words, never run by a shell",
                ) from None
        elif isinstance(command, list) and all(isinstance(w, str) for w in command):
            words = list(command)
        else:
            raise ShipyardError(
                f"{where}: a command is a string or a list of strings, not {command!r}"
            )
        if not words or not words[0]:
            raise ShipyardError(f"{where}: the command is empty", hint=f"e.g. {DEFAULT_COMMAND}")
        self.source = command if isinstance(command, str) else shlex.join(words)
        self.words = [_pieces(word, where) for word in words]

    @property
    def uses_port(self) -> bool:
        return any(name == "port" for pieces in self.words for _, name in pieces)

    def argv(self, values: dict[str, str], port: int | None) -> list[str]:
        """The command to run: every placeholder filled; with ``port`` None (an automatic
        port) the ``{port}`` words are left for :mod:`shipyard.portexec`, which fills them
        from ``$PORT`` when the agent starts."""
        if port is not None or not self.uses_port:
            filled = {**values, "port": str(port)}
            return [
                "".join(text + filled.get(name or "", "") for text, name in word)
                for word in self.words
            ]
        escaped = {key: _escape(value) for key, value in values.items()}
        later = [
            "".join(
                _escape(text) + ("{port}" if name == "port" else escaped.get(name or "", ""))
                for text, name in word
            )
            for word in self.words
        ]
        return [sys.executable, "-m", "shipyard.portexec", *later]


def _pieces(word: str, where: str) -> list[tuple[str, str | None]]:
    """A word as (literal text, placeholder or None) pieces; ``{{`` and ``}}`` are braces."""
    known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    try:
        parsed = list(string.Formatter().parse(word))
    except ValueError as error:
        raise ShipyardError(
            f"{where}: {word!r}: {error}",
            hint=f"the placeholders are {known}; write {{{{ and }}}} for a literal brace",
        ) from None
    pieces: list[tuple[str, str | None]] = []
    for text, name, spec, conversion in parsed:
        if name is not None and (name not in PLACEHOLDERS or spec or conversion):
            shown = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            raise ShipyardError(
                f"{where}: unknown placeholder {shown} in {word!r}",
                hint=f"the placeholders are {known}; write {{{{ and }}}} for a literal brace",
            )
        pieces.append((text, name))
    return pieces


def _escape(text: str) -> str:
    """A literal brace as portexec's ``{lb}`` or ``{rb}``, not str.format's ``{{``/``}}``: the
    word is a word of a spec, whose ``{{ name }}`` templating would read ``{{x}}`` as a
    parameter ("'{{ x }}' is not a parameter"). Written so, no word ever holds ``{{``."""
    return _BRACE.sub(lambda brace: "{lb}" if brace[0] == "{" else "{rb}", text)


_BRACE = re.compile(r"[{}]")


def is_atoll(data: dict[str, Any], file: Path) -> bool:
    """An ATOLL agent file: an ``[agent]`` table (agent.toml), or an agent.json in the legacy
    format (``module``/``class``, or no ``command`` at all)."""
    if isinstance(data.get("agent"), dict):
        return True
    return file.suffix == ".json" and (
        "module" in data or "class" in data or ("command" not in data and "name" in data)
    )


def valid_name(wanted: str) -> str:
    """``wanted`` made a valid Shipyard unit name: each other character becomes '-'."""
    return slug(wanted, limit=48, fallback="agent", runs=False)


def name_of(data: dict[str, Any], folder: Path, file: Path) -> tuple[str, list[str]]:
    """The agent's Shipyard name (``[agent].name``, or ``name`` in agent.json) and a note when
    it had to be made valid or was missing."""
    table = data.get("agent") if isinstance(data.get("agent"), dict) else data
    assert isinstance(table, dict)
    key = "[agent].name" if table is not data else "name"
    wanted = table.get("name")
    if wanted is None:
        return valid_name(folder.name), [f"{key}: missing; named after its folder"]
    if not isinstance(wanted, str) or not wanted.strip():
        raise ValueError(f"{key} should be a non-empty string, not {wanted!r}")
    if re.match(NAME_PATTERN, wanted) and len(wanted) <= 48:
        return wanted, []
    name = valid_name(wanted)
    return name, [f"{key} {wanted!r} is not a valid Shipyard unit name: it runs as {name!r}"]


@dataclass(slots=True)
class _Draft:
    """The service being built from one agent file, and what was said of its keys."""

    notes: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)
    service: dict[str, Any] = field(default_factory=dict)
    restart: dict[str, Any] = field(default_factory=dict)
    port: int | None = None
    command: Any = None
    rest: list[str] = field(default_factory=list)  # keys of no ATOLL section


def map_agent(
    data: dict[str, Any],
    *,
    folder: Path,
    file: Path,
    settings: ServerSettings,
    command: Template | None,
) -> Mapped:
    """``data`` (an ATOLL agent file's content) as a Shipyard service; ``command`` is the
    ``--command`` template (None: ATOLL's own start command). Raises ValueError or
    ShipyardError for a value Shipyard cannot take."""
    name, notes = name_of(data, folder, file)
    draft = _Draft(notes, service={"workdir": str(folder)}, restart=dict(settings.restart))
    if isinstance(data.get("agent"), dict):
        _agent_toml(data, draft)
    else:
        _agent_json(data, draft)
    description = draft.metadata.get("description")
    if isinstance(description, str):
        draft.service["description"] = description
    _shipyard_keys(data, draft)
    if "command" in data:
        if draft.command is not None:
            raise ValueError("the command is given twice: top-level 'command' and [deployment]")
        draft.command = data["command"]
    if draft.command is not None:
        template = Template(draft.command, f"{file}: command")
    elif command is not None:
        template = command
    else:
        template = Template(DEFAULT_COMMAND, "ATOLL's start command")
        notes.append(
            "command: none in the file: ATOLL's start command (`--command TEMPLATE`, or "
            "`command` under [deployment], overrides it)"
        )
    service = draft.service
    values = {"name": name, "folder": str(folder), "file": file.name}
    service["run"] = template.argv(values, draft.port)
    service["port"] = draft.port if draft.port is not None else "auto"
    if draft.restart:
        service["restart"] = draft.restart
    if "health" not in service:
        # ATOLL only watches the pid; an agent serves on its port, so Shipyard checks that.
        health: dict[str, Any] = {"tcp": True, "start_interval": "0.5s"}
        if settings.health_interval is not None:
            health["interval"] = settings.health_interval
        service["health"] = health
    return Mapped(name, service, notes, draft.metadata)


def _agent_json(data: dict[str, Any], draft: _Draft) -> None:
    """The legacy agent.json: identity kept as metadata, nothing else to map."""
    draft.metadata.update({key: data[key] for key in _LEGACY_KEPT if key in data})
    if "module" in data or "class" in data:
        draft.notes.append(
            "module/class: not mapped: ATOLL loads the class in-process; Shipyard starts "
            "the agent with its start command (kept as metadata)"
        )
    if "supported_mcp_servers" in data:
        draft.metadata["supported_mcp_servers"] = data["supported_mcp_servers"]
        draft.notes.append("supported_mcp_servers: not mapped: agent-internal (kept as metadata)")
    draft.rest = [key for key in data if key not in _LEGACY_KEYS]


def _agent_toml(data: dict[str, Any], draft: _Draft) -> None:
    """agent.toml: [agent] kept as metadata, [deployment] mapped, the rest named."""
    agent = data["agent"]
    draft.metadata.update({key: agent[key] for key in _IDENTITY if key in agent})
    kept = [key for key in _IDENTITY if key in agent and key != "description"]
    if kept:
        draft.notes.append(f"[agent] {', '.join(kept)}: kept as metadata (discover --json)")
    other = [key for key in agent if key not in (*_IDENTITY, "name")]
    if other:
        draft.notes.append(f"[agent] {', '.join(other)}: not ATOLL keys: not mapped")
    for section, why in _UNMAPPED_SECTIONS.items():
        if section in data:
            draft.notes.append(f"[{section}] {_keys(data[section])}: {why}")
    deployment = data.get("deployment", {})
    if not isinstance(deployment, dict):
        raise ValueError(f"[deployment] should be a table, not {deployment!r}")
    draft.port = _port(deployment.get("port", 0), "[deployment].port")
    draft.command = deployment.get("command")
    draft.restart.update(_restart(deployment, draft.notes))
    other = [key for key in deployment if key not in _DEPLOYMENT_KEYS]
    if other:
        draft.notes.append(f"[deployment] {', '.join(other)}: not ATOLL keys: not mapped")
    known = {"agent", "deployment", "command", *_UNMAPPED_SECTIONS}
    draft.rest = [key for key in data if key not in known]


def _shipyard_keys(data: dict[str, Any], draft: _Draft) -> None:
    """A Shipyard service key in an ATOLL file is taken as written (over the mapping); any
    other key is named as not mapped."""
    for key in draft.rest:
        if key not in _SHIPYARD_KEYS:
            continue
        value = data[key]
        if key == "restart" and isinstance(value, dict):
            draft.restart.update(value)
        elif key == "port":
            draft.port = _port(value, "port")
        else:
            draft.service[key] = value
    unknown = [key for key in draft.rest if key not in _SHIPYARD_KEYS and key != "command"]
    if unknown:
        draft.notes.append(f"{', '.join(unknown)}: not ATOLL or Shipyard keys: not mapped")


def _keys(section: Any) -> str:
    return ", ".join(section) if isinstance(section, dict) and section else "(empty)"


def _port(value: Any, key: str) -> int | None:
    if value in (0, "auto"):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return value
    raise ValueError(f"{key} should be 0 or 'auto' (automatic) or a port, not {value!r}")


def _restart(deployment: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """ATOLL's per-agent restart keys as Shipyard's ``restart``."""
    restart: dict[str, Any] = {}
    if "auto_restart" in deployment:
        auto = deployment["auto_restart"]
        if not isinstance(auto, bool):
            raise ValueError(f"[deployment].auto_restart should be true or false, not {auto!r}")
        restart["policy"] = "on-failure" if auto else "no"
    if "max_restarts" in deployment:
        restart["max_restarts"] = _count(deployment["max_restarts"], "[deployment].max_restarts")
    if "restart_delay" in deployment:
        delay = deployment["restart_delay"]
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
            raise ValueError(f"[deployment].restart_delay should be seconds, not {delay!r}")
        # ATOLL waits the same delay every time; Shipyard's backoff doubles up to max_backoff,
        # so both are set to the delay: a constant delay, as written.
        restart["backoff"] = restart["max_backoff"] = float(delay)
        notes.append(
            f"[deployment].restart_delay {delay}: restart.backoff and max_backoff {delay}s "
            "(a constant delay, as ATOLL's; Shipyard's backoff otherwise doubles)"
        )
    return restart


def _count(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} should be a whole number of 0 or more, not {value!r}")
    return value


def read_servers(path: Path) -> ServerSettings:
    """``deployment_servers.json`` as the settings of a folder's agents; a file Shipyard
    cannot read is a ShipyardError with its line and column."""
    from shipyard.spec.jsontoml import load_json
    from shipyard.spec.reading import read_spec_text

    text = read_spec_text(path)
    try:
        data = load_json(text, path)  # NestedTooDeeply past the parser's depth
    except json.JSONDecodeError as error:
        raise ShipyardError(
            f"{path}:{error.lineno}:{error.colno}: this is not valid JSON: {error.msg}",
            hint=f"{SERVERS_FILE} is ATOLL's server settings, a JSON object",
        ) from None
    if not isinstance(data, dict):
        raise ShipyardError(f"{path}: {SERVERS_FILE} is a JSON object, not {type(data).__name__}")
    try:
        return _servers(data, path)
    except ValueError as error:
        raise ShipyardError(
            f"{path}: {error}", hint=f"{SERVERS_FILE}: ATOLL's server settings"
        ) from None


def _servers(data: dict[str, Any], path: Path) -> ServerSettings:
    notes: list[str] = []
    base_port = _positive(
        data, "base_port", notes, "execution.base_port (the first automatic port)"
    )
    if base_port is not None and base_port > 65535:
        raise ValueError(f"base_port should be a port (1-65535), not {base_port}")
    max_agents = _positive(data, "max_agents", notes, "agents deploy --max-agents")
    restart = _server_restart(data, notes)
    interval = None
    if data.get("health_check_interval") is not None:
        value = data["health_check_interval"]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"health_check_interval should be seconds, not {value!r}")
        interval = float(value)
        notes.append(
            f"health_check_interval {value}: health.interval (Shipyard probes the agent's "
            "port; ATOLL only watched its pid)"
        )
    if data.get("auto_discover_port") is not None:
        notes.append("auto_discover_port: Shipyard always probes upward for a free port")
    if data.get("agents_directory") is not None:
        notes.append(
            f"agents_directory {data['agents_directory']!r}: not used: the folder given to "
            "`shipyard agents` is the agents directory"
        )
    notes.extend(f"{key}: {why}" for key, why in _SERVER_UNMAPPED.items() if key in data)
    other = [key for key in data if key not in _SERVER_KEYS]
    if other:
        notes.append(f"{', '.join(other)}: not ATOLL keys: not mapped")
    return ServerSettings(str(path), base_port, max_agents, restart, interval, tuple(notes))


_SERVER_KEYS = {
    "base_port", "max_agents", "restart_on_failure", "max_restarts", "health_check_interval",
    "auto_discover_port", "agents_directory", *_SERVER_UNMAPPED,
}  # fmt: skip


def _positive(data: dict[str, Any], key: str, notes: list[str], becomes: str) -> int | None:
    if data.get(key) is None:
        return None
    value = _count(data[key], key)
    if value < 1:
        raise ValueError(f"{key} should be 1 or more, not {value}")
    notes.append(f"{key} {value}: {becomes}" + (f" {value}" if becomes.endswith("-agents") else ""))
    return value


def _server_restart(data: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    restart: dict[str, Any] = {}
    if "restart_on_failure" in data:
        if not isinstance(data["restart_on_failure"], bool):
            raise ValueError("restart_on_failure should be true or false")
        restart["policy"] = "on-failure" if data["restart_on_failure"] else "no"
    if "max_restarts" in data:
        restart["max_restarts"] = _count(data["max_restarts"], "max_restarts")
    if restart:
        shown = ", ".join(f"{key} {value}" for key, value in restart.items())
        notes.append(f"restart_on_failure, max_restarts: every agent's restart ({shown})")
    return restart
