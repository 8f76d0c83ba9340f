"""Which tool's file this is, from its content: pure, no file read here.

The rules (docs/importing.md, "Detection"), first match wins:

- a YAML (or JSON) mapping with ``processes:`` whose entries have a ``command`` or an
  ``entrypoint``: process-compose;
- ``pkgs:`` (a list), ``config:`` holding ``pkgs``, or ``experiments:``: a Jarvis-CD pipeline;
- ``job:`` (a mapping) with ``agents:`` (a list): an A2A job;
- ``group_name``, ``exec_hooks``, ``exec_options``, a ``spec`` or ``env_*`` hook with ``args``,
  or a ``worker_schedule`` with ``worker_count``: a Mitosis suite or task (JSON);
- ``module`` with ``class`` (agent.json) or ``agents_directory``/``base_port`` with
  ``max_agents`` (deployment_servers.json): ATOLL;
- TOML (not YAML, or YAML that reads as one string): an ``[agent]`` table is an ATOLL agent,
  ``[coordinator]``/``[worker]``/``coordinator_url`` Mitosis configuration, anything else "toml";
- everything else is taken as a Shipyard spec (its own validation reports what is wrong).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # yaml and tomllib are imported only when a file needs reading past the
    # first check: a Shipyard spec given to run costs one regex search here
    from shipyard.spec.yamlsource import PathKey

#: The formats ``--format`` takes (``toml`` is only ever detected: TOML of no known tool).
FORMATS = ("a2a", "atoll", "process-compose", "jarvis", "mitosis", "shipyard")

#: What each format is called in messages.
TITLES = {
    "a2a": "A2A job (agentic-deployment-engine)",
    "atoll": "ATOLL",
    "process-compose": "process-compose",
    "jarvis": "Jarvis-CD pipeline",
    "mitosis": "Mitosis",
    "shipyard": "Shipyard spec",
    "toml": "TOML",
}

#: A line that only a Shipyard spec (or no tool's file) starts with: detection stops there,
#: reading nothing more (a 50,000-step spec is not parsed twice).
_SHIPYARD_LINE = re.compile(r"^(steps|services)\s*:", re.MULTILINE)


@dataclass(frozen=True)
class Detection:
    """The format, the key that told it (a path in the data; () for the whole file) and why."""

    format: str
    reason: str
    key: PathKey = ()

    @property
    def foreign(self) -> bool:
        return self.format != "shipyard"

    @property
    def title(self) -> str:
        return TITLES.get(self.format, self.format)


SHIPYARD = Detection("shipyard", "no other tool's keys")


def looks_like_shipyard(text: str) -> bool:
    """A top-level ``steps:`` or ``services:`` line: a Shipyard spec, nothing more to read."""
    return _SHIPYARD_LINE.search(text) is not None


def detect_text(text: str, path: Path | None = None) -> Detection:
    """The format of ``text``. Only a file that reads as YAML (or JSON) or TOML is foreign."""
    if looks_like_shipyard(text):
        return SHIPYARD
    data = _yaml_data(text, path)
    if isinstance(data, dict):
        return detect_data(data)
    return _toml(text, path) or SHIPYARD


def _yaml_data(text: str, path: Path | None) -> Any:
    from shipyard.spec.yamlsource import YamlProblems, read_yaml

    try:
        data, _ = read_yaml(text, path)
    except YamlProblems as error:
        return error.read[0] if error.read else None
    return data


def detect_data(data: dict[str, Any]) -> Detection:
    """The format of a file read as a mapping."""
    for rule in _RULES:
        found = rule(data)
        if found is not None:
            return found
    return SHIPYARD


def _process_compose(data: dict[str, Any]) -> Detection | None:
    processes = data.get("processes")
    if isinstance(processes, dict) and any(
        isinstance(p, dict) and ("command" in p or "entrypoint" in p) for p in processes.values()
    ):
        return Detection("process-compose", "'processes:' with a 'command'", ("processes",))
    return None


def _jarvis(data: dict[str, Any]) -> Detection | None:
    if isinstance(data.get("pkgs"), list):
        return Detection("jarvis", "'pkgs:', a list of packages", ("pkgs",))
    config = data.get("config")
    if isinstance(config, dict) and "pkgs" in config:
        return Detection("jarvis", "'config:' with 'pkgs': a pipeline test", ("config",))
    if isinstance(data.get("experiments"), list | dict):
        return Detection("jarvis", "'experiments:': a pipeline test suite", ("experiments",))
    return None


def _a2a(data: dict[str, Any]) -> Detection | None:
    if isinstance(data.get("job"), dict) and isinstance(data.get("agents"), list):
        return Detection("a2a", "'job:' with 'agents:'", ("job",))
    return None


def _mitosis(data: dict[str, Any]) -> Detection | None:
    from shipyard.formats.mitosisprobe import mitosis_key

    found = mitosis_key(data)  # Shipyard's suite file shares worker_schedule and env_* names
    return None if found is None else Detection("mitosis", found[1], (found[0],))


def _atoll(data: dict[str, Any]) -> Detection | None:
    if "module" in data and "class" in data:
        return Detection("atoll", "'module' with 'class': an agent.json", ("module",))
    if "agents_directory" in data or ("base_port" in data and "max_agents" in data):
        key = "agents_directory" if "agents_directory" in data else "base_port"
        return Detection("atoll", "deployment server settings: a deployment_servers.json", (key,))
    return None


_RULES = (_process_compose, _jarvis, _a2a, _mitosis, _atoll)


def _toml(text: str, path: Path | None) -> Detection | None:
    import tomllib

    from shipyard.spec.jsontoml import load_toml

    try:
        data = load_toml(text, path)  # NestedTooDeeply: no file to detect, said at the file
    except (tomllib.TOMLDecodeError, ValueError):
        return None
    if not data:
        return None
    if isinstance(data.get("agent"), dict):
        return Detection("atoll", "TOML with an [agent] table: an agent.toml")
    if any(key in data for key in ("coordinator", "worker", "coordinator_url", "manager")):
        return Detection("mitosis", "TOML with coordinator, worker or manager settings")
    return Detection("toml", "TOML")
