"""Agent folders: one agent per subfolder, described by ``agent.toml``, ``agent.json`` or
``agent.yaml``, turned into a fleet spec that ``shipyard up`` can run.

An agent file holds what a service holds: ``command`` (argv or string), ``port`` (a number or
``auto``), ``health``, ``restart``, ``env``, and a ``name`` (default: the folder's). A malformed
file is reported with its path and the problem; the other agents still load.

ATOLL's own files are read as they are (:mod:`shipyard.formats.atoll`): an ``agent.toml`` with
an ``[agent]`` table or a legacy ``agent.json``, the folder's ``deployment_servers.json``, and
ATOLL's start command when a file has none (or ``--command TEMPLATE``).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from shipyard.errors import ShipyardError, SpecError
from shipyard.spec.jsontoml import load_json, load_toml, toml_place
from shipyard.spec.models import NAME_PATTERN, ServiceSpec
from shipyard.spec.reading import read_spec_text
from shipyard.spec.yamlsource import YamlProblems, read_yaml
from shipyard.wording import counted

if TYPE_CHECKING:
    from shipyard.formats.atoll import ServerSettings, Template

FILES = ("agent.toml", "agent.json", "agent.yaml", "agent.yml")


@dataclass(frozen=True, slots=True)
class DiscoveredAgent:
    name: str
    folder: str
    file: str
    state: str  # "discovered", or "invalid" with a problem
    problem: str | None = None
    service: dict[str, Any] = field(default_factory=dict)
    #: What became of the file's keys that Shipyard maps with other semantics or not at all.
    notes: list[str] = field(default_factory=list)
    #: Keys kept as they are, mapped onto nothing (ATOLL's version, author, capabilities, …).
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Where in ``file`` the problem is, when the parser says (1-based).
    line: int | None = None
    column: int | None = None

    @property
    def where(self) -> str:
        """``file``, ``file:line`` or ``file:line:column``: where to look."""
        parts = [self.file] + [str(n) for n in (self.line, self.column) if n is not None]
        return ":".join(parts)


def discover(
    root: Path, *, command: str | None = None, servers: Path | None = None
) -> list[DiscoveredAgent]:
    """The agents of ``root``, one per subfolder. ``command`` is a start command template for
    the files that have none (default: ATOLL's); ``servers`` a deployment_servers.json (default:
    the one in ``root``, if any)."""
    if not root.is_dir():
        raise ShipyardError(
            f"{root} is not a folder", hint="agents discover DIR: one agent per subfolder"
        )
    from shipyard.formats.atoll import Template

    template = Template(command, "--command") if command is not None else None
    settings = server_settings(root, servers)
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        file = next((folder / name for name in FILES if (folder / name).is_file()), None)
        if file is None:
            continue
        found.append(_load(folder, file, template, settings))
    return _same_names(found)


def server_settings(root: Path, servers: Path | None = None) -> ServerSettings:
    """ATOLL's server-wide settings for the agents of ``root``: ``servers`` if given, else
    ``root/deployment_servers.json`` if there is one, else none."""
    from shipyard.formats.atoll import SERVERS_FILE, ServerSettings, read_servers

    if servers is not None:
        if not servers.is_file():
            raise ShipyardError(
                f"{servers} is not a file", hint=f"--servers FILE: ATOLL's {SERVERS_FILE}"
            )
        return read_servers(servers)
    if (root / SERVERS_FILE).is_file():
        return read_servers(root / SERVERS_FILE)
    return ServerSettings()


def _same_names(found: list[DiscoveredAgent]) -> list[DiscoveredAgent]:
    """Two agents of one name both stay listed, each noting the other: deploying the whole
    folder refuses them, deploying by name takes the first."""
    import dataclasses

    named: dict[str, list[DiscoveredAgent]] = {}
    for agent in found:
        named.setdefault(agent.name, []).append(agent)
    out = []
    for agent in found:
        others = [a.file for a in named[agent.name] if a is not agent]
        if others and agent.state == "discovered":
            note = f"name {agent.name!r} is also the name of {', '.join(others)}"
            agent = dataclasses.replace(agent, notes=[*agent.notes, note])
        out.append(agent)
    return out


def _load(
    folder: Path, file: Path, template: Template | None, settings: ServerSettings
) -> DiscoveredAgent:
    from shipyard.formats.atoll import is_atoll, map_agent

    name = folder.name
    try:
        data = _parse(file)
        if not isinstance(data, dict):
            raise ValueError("an agent file is a mapping (name, command, port, health, …)")
        if is_atoll(data, file):
            mapped = map_agent(data, folder=folder, file=file, settings=settings, command=template)
            name = mapped.name
            ServiceSpec.model_validate(mapped.service)  # the same rules as a spec's service
            return DiscoveredAgent(
                name, str(folder), str(file), "discovered", None, mapped.service,
                mapped.notes, mapped.metadata,
            )  # fmt: skip
        name = str(data.pop("name", folder.name))
        import re

        if not re.match(NAME_PATTERN, name):
            raise ValueError(f"'{name}' is not a valid agent name; use letters, digits, _ - .")
        notes = _command(data, name, folder, file, template)
        data["run"] = data.pop("command")
        data.setdefault("workdir", str(folder))
        data.setdefault("port", "auto")
        ServiceSpec.model_validate(data)  # the same rules as a service in a spec
    except tomllib.TOMLDecodeError as error:
        line, column, message = toml_place(error)
        problem = f"this is not valid TOML: {message}"
        return DiscoveredAgent(name, str(folder), str(file), "invalid", problem, line=line,
                               column=column)  # fmt: skip
    except json.JSONDecodeError as error:
        problem = f"this is not valid JSON: {error.msg}"
        return DiscoveredAgent(name, str(folder), str(file), "invalid", problem,
                               line=error.lineno, column=error.colno)  # fmt: skip
    except (SpecError, YamlProblems) as error:  # not a regular file, too large, YAML bounds
        problem = error.problems[0].message
        return DiscoveredAgent(name, str(folder), str(file), "invalid", problem)
    except ShipyardError as error:  # a command template that cannot be used
        problem = error.message + (f" ({error.hint})" if error.hint else "")
        return DiscoveredAgent(name, str(folder), str(file), "invalid", problem)
    except (ValueError, ValidationError, yaml.YAMLError) as error:
        problem = _first_line(error)
        return DiscoveredAgent(name, str(folder), str(file), "invalid", problem)
    return DiscoveredAgent(name, str(folder), str(file), "discovered", None, data, notes)


def _command(
    data: dict[str, Any], name: str, folder: Path, file: Path, template: Template | None
) -> list[str]:
    """A Shipyard agent file without a command gets ``--command``, or (agent.toml or
    agent.json) ATOLL's start command; the note says which."""
    from shipyard.formats.atoll import DEFAULT_COMMAND, Template

    if "command" in data:
        return []
    if template is None and file.suffix not in (".toml", ".json"):
        raise ValueError("it needs a 'command' (or give `--command TEMPLATE`)")
    note = "command: from --command"
    if template is None:
        template = Template(DEFAULT_COMMAND, "ATOLL's start command")
        note = "command: none in the file: ATOLL's start command (or give --command TEMPLATE)"
    port = data.get("port")
    fixed = port if isinstance(port, int) and not isinstance(port, bool) else None
    values = {"name": name, "folder": str(folder), "file": file.name}
    data["command"] = template.argv(values, fixed)
    return [note]


def _parse(file: Path) -> Any:
    # Read like a spec: a regular file of a sane size in UTF-8 (never a FIFO or /dev/zero),
    # and YAML with bounded depth and alias expansion.
    text = read_spec_text(file)
    # JSON and TOML nested past their parsers' recursion: NestedTooDeeply, a SpecError whose
    # problem (no path: the agent's line names the file) is the agent's.
    if file.suffix == ".toml":
        return load_toml(text)
    if file.suffix == ".json":
        return load_json(text)
    return read_yaml(text, file)[0]


def _first_line(error: Exception) -> str:
    if isinstance(error, ValidationError):
        item = error.errors()[0]
        # Pydantic names union members in the location ('constrained-int'…): not for people.
        parts = [str(p) for p in item["loc"] if not any(c in str(p) for c in "[-")]
        where = ".".join(parts)
        if parts == ["port"]:
            return f"port should be a number or 'auto', not {item.get('input')!r}"
        return f"{where}: {item['msg'].removeprefix('Value error, ')}"
    return str(error).strip().splitlines()[0]


def fleet_spec(
    root: Path,
    agents: list[DiscoveredAgent],
    *,
    max_agents: int | None,
    base_port: int | None = None,
) -> str:
    """The fleet spec (YAML text) that runs every valid agent of ``root``; ``base_port``: the
    first automatic port (ATOLL's server setting), else Shipyard's default."""
    valid = [agent for agent in agents if agent.state == "discovered"]
    if not valid:
        skipped = "; ".join(skipped_lines(agents))
        raise ShipyardError(
            f"no valid agent in {root}" + (f" ({skipped})" if skipped else ""),
            hint=f"fix the agent files; `shipyard agents discover {root}` shows every problem",
        )
    if max_agents is not None and len(valid) > max_agents:
        raise ShipyardError(
            f"{root} holds {counted(len(valid), 'agent')}, more than max_agents ({max_agents})",
            hint="raise --max-agents or deploy fewer agents",
        )
    names = [agent.name for agent in valid]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        files = [agent.file for agent in valid if agent.name in twice]
        raise ShipyardError(
            f"two agents in {root} have the same name ({', '.join(twice)}): {', '.join(files)}",
            hint="rename one ([agent].name or name), or deploy one by name: "
            f"shipyard agents deploy {root} NAME",
        )
    return spec_text(folder_fleet_name(root), f"agents of {root}", valid, base_port)


def spec_text(
    name: str, description: str, agents: list[DiscoveredAgent], base_port: int | None
) -> str:
    """The fleet spec (YAML text) of ``agents``, one service each."""
    spec: dict[str, Any] = {"name": name, "description": description}
    if base_port is not None:
        spec["execution"] = {"base_port": base_port}
    spec["services"] = {agent.name: agent.service for agent in agents}
    return yaml.safe_dump(spec, sort_keys=False)


def shown_command(service: dict[str, Any]) -> str:
    """The agent's command as it was written (without :mod:`shipyard.portexec` before it,
    which only fills ``{port}`` in when it starts)."""
    import re
    import shlex

    run = service.get("run")
    if isinstance(run, str):
        return run
    words = [str(word) for word in run or []]
    if words[1:3] == ["-m", "shipyard.portexec"]:  # its literal braces shown as braces
        brace = re.compile(r"\{lb\}|\{rb\}|\{\{|\}\}")
        words = [brace.sub(lambda b: "{" if b[0] in ("{lb}", "{{") else "}", w) for w in words[3:]]
    # Quoted only where a shell would need it to keep the word whole ({port} stays readable).
    plain = re.compile(r"[^\s'\"\\$`;&|<>()*?!#~]+")
    return " ".join(w if plain.fullmatch(w) else shlex.quote(w) for w in words)


def _safe(text: str) -> str:
    # ASCII only: an execution name is [A-Za-z0-9_.-] ('ü'.isalnum() is true).
    cleaned = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_-.") else "-" for ch in text)
    return cleaned.strip("-.") or "folder"


def skipped_lines(agents: list[DiscoveredAgent]) -> list[str]:
    """What a deploy of the whole folder leaves out, one line per invalid agent: its name, its
    file and the problem (a deploy that said nothing of them looked like it had run them)."""
    return [f"{a.name}: {a.where}: {a.problem}" for a in agents if a.state == "invalid"]


def folder_key(root: Path) -> str:
    """The folder's name (at most 24 characters of it) and 8 hex digits of its resolved path:
    two folders of one name (``/a/agents``, ``/b/agents``) get two keys, so neither acts on the
    other's fleet, and ``agents-<key>.<agent>`` stays within a name's 64 characters."""
    import hashlib

    digest = hashlib.sha256(str(root).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{_safe(root.name)[:24].rstrip('-.')}-{digest}"


def folder_fleet_name(root: Path) -> str:
    """The execution name of the fleet that runs the whole folder ``root`` (resolved)."""
    return f"agents-{folder_key(root)}"
