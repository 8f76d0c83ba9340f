"""Agent folders: one agent per subfolder, described by ``agent.toml``, ``agent.json`` or
``agent.yaml``, turned into a fleet spec that ``shipyard up`` can run.

An agent file holds what a service holds: ``command`` (argv or string), ``port`` (a number or
``auto``), ``health``, ``restart``, ``env``, and a ``name`` (default: the folder's). A malformed
file is reported with its path and the problem; the other agents still load.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from shipyard.errors import ShipyardError, SpecError
from shipyard.spec.models import NAME_PATTERN, ServiceSpec
from shipyard.spec.reading import read_spec_text
from shipyard.spec.yamlsource import YamlProblems, read_yaml
from shipyard.wording import counted

FILES = ("agent.toml", "agent.json", "agent.yaml", "agent.yml")


@dataclass(frozen=True, slots=True)
class DiscoveredAgent:
    name: str
    folder: str
    file: str
    state: str  # "discovered", or "invalid" with a problem
    problem: str | None = None
    service: dict[str, Any] = field(default_factory=dict)


def discover(root: Path) -> list[DiscoveredAgent]:
    if not root.is_dir():
        raise ShipyardError(
            f"{root} is not a folder", hint="agents discover DIR: one agent per subfolder"
        )
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        file = next((folder / name for name in FILES if (folder / name).is_file()), None)
        if file is None:
            continue
        found.append(_load(folder, file))
    return found


def _load(folder: Path, file: Path) -> DiscoveredAgent:
    name = folder.name
    try:
        data = _parse(file)
        if not isinstance(data, dict):
            raise ValueError("an agent file is a mapping (name, command, port, health, …)")
        name = str(data.pop("name", folder.name))
        import re

        if not re.match(NAME_PATTERN, name):
            raise ValueError(f"'{name}' is not a valid agent name; use letters, digits, _ - .")
        if "command" not in data:
            raise ValueError("it needs a 'command'")
        data["run"] = data.pop("command")
        data.setdefault("workdir", str(folder))
        data.setdefault("port", "auto")
        ServiceSpec.model_validate(data)  # the same rules as a service in a spec
    except (ValueError, ValidationError, tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        problem = _first_line(error)
        return DiscoveredAgent(name, str(folder), str(file), "invalid", problem)
    except (SpecError, YamlProblems) as error:  # not a regular file, too large, YAML bounds
        problem = error.problems[0].message
        return DiscoveredAgent(name, str(folder), str(file), "invalid", problem)
    except RecursionError:  # JSON and TOML parsers recurse once per nesting level
        problem = "it is nested too deeply to be an agent file"
        return DiscoveredAgent(name, str(folder), str(file), "invalid", problem)
    return DiscoveredAgent(name, str(folder), str(file), "discovered", None, data)


def _parse(file: Path) -> Any:
    # Read like a spec: a regular file of a sane size in UTF-8 (never a FIFO or /dev/zero),
    # and YAML with bounded depth and alias expansion.
    text = read_spec_text(file)
    if file.suffix == ".toml":
        return tomllib.loads(text)
    if file.suffix == ".json":
        return json.loads(text)
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


def fleet_spec(root: Path, agents: list[DiscoveredAgent], *, max_agents: int | None) -> str:
    """The fleet spec (YAML text) that runs every valid agent of ``root``."""
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
        raise ShipyardError(f"two agents in {root} have the same name: {sorted(names)}")
    spec = {
        "name": folder_fleet_name(root),
        "description": f"agents of {root}",
        "services": {agent.name: agent.service for agent in valid},
    }
    return yaml.safe_dump(spec, sort_keys=False)


def _safe(text: str) -> str:
    # ASCII only: an execution name is [A-Za-z0-9_.-] ('ü'.isalnum() is true).
    cleaned = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_-.") else "-" for ch in text)
    return cleaned.strip("-.") or "folder"


def skipped_lines(agents: list[DiscoveredAgent]) -> list[str]:
    """What a deploy of the whole folder leaves out, one line per invalid agent: its name, its
    file and the problem (a deploy that said nothing of them looked like it had run them)."""
    return [f"{a.name}: {a.file}: {a.problem}" for a in agents if a.state == "invalid"]


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
