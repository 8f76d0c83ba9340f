"""A TOML file given where a spec is expected: say it is TOML (not "invalid YAML, check the
indentation"), what it is, and where it belongs.

People reach for ``shipyard validate`` with the TOML files of the tools they come from: an
ATOLL ``agent.toml``, a Mitosis coordinator or node-manager configuration, Shipyard's own
``serve --config`` settings. Each has a home in Shipyard, and none of them is a spec.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.errors import Location, SpecProblem
from shipyard.spec.jsontoml import load_toml, toml_place

_SPEC_IS_YAML = "a Shipyard spec is YAML (docs/spec.md)"

#: The first line that says "TOML": a ``[table]`` header or a ``key = value`` line (YAML's
#: would be ``key: value``).
_TOML_LINE = re.compile(r"""^\s*(\[\[?[\w.\-" ]+\]\]?\s*(#.*)?|[\w.\-"]+\s*=\s*\S.*)$""")

#: Keys that tell a Mitosis configuration apart from Shipyard's own settings.
_MITOSIS_COORDINATOR = ("bind", "db_url", "s3_url", "redis_url", "admin_user")
_MITOSIS_AGENT = ("coordinator_addr", "credential_path", "machine_code")


@dataclass(frozen=True)
class TomlKind:
    """What a TOML file is, the key (table or setting) that told it, where it belongs, and
    the tool whose file it is (None: no known tool's)."""

    #: "this is …": what it is, said to be TOML, and not a spec.
    what: str
    key: str
    hint: str
    tool: str | None = None


def toml_problem(text: str, path: Path | None, *, unless: str | None = None) -> SpecProblem | None:
    """The problem to report for ``text`` when it is TOML (or looks like TOML that does not
    parse); None when it does not look like TOML at all, or is the tool ``unless``'s file
    (whose own importer says where it goes)."""
    try:
        data = load_toml(text, path)  # NestedTooDeeply past the parser's depth
    except (tomllib.TOMLDecodeError, ValueError) as error:
        return _broken(text, path, str(error))
    if not data:
        return None
    kind = toml_kind(data)
    if unless is not None and kind.tool == unless:
        return None
    return SpecProblem(
        f"this is {kind.what}",
        Location(path, _line_of(text, kind.key), 1),
        hint=kind.hint,
    )


def toml_kind(data: dict[str, Any]) -> TomlKind:
    """What the TOML ``data`` is, from its tables and keys."""
    agent = data.get("agent")
    if isinstance(agent, dict) and any(key in agent for key in _MITOSIS_AGENT):
        return _mitosis_manager("agent")
    if isinstance(agent, dict):
        return TomlKind(
            "an ATOLL agent file (agent.toml), in TOML, not YAML: not a Shipyard spec",
            "agent",
            "an agent folder (DIR/NAME/agent.toml) is read by `shipyard agents discover DIR` "
            f"and started by `shipyard agents deploy DIR`; {_SPEC_IS_YAML}",
            "atoll",
        )
    if "coordinator_url" in data or isinstance(data.get("manager"), dict):
        return _mitosis_manager("coordinator_url" if "coordinator_url" in data else "manager")
    if _is_mitosis_config(data):
        tables = [name for name in ("coordinator", "worker", "client") if name in data]
        return TomlKind(
            f"a Mitosis configuration ({', '.join(f'[{t}]' for t in tables)}), in TOML, not "
            "YAML: not a Shipyard spec",
            tables[0],
            "Shipyard's coordinator is `shipyard serve --db URL` (its settings: `--config "
            "FILE`, docs/server.md), a worker is `shipyard worker`, a node manager "
            f"`shipyard manager` (docs/coordinator.md); {_SPEC_IS_YAML}",
            "mitosis",
        )
    if _is_serve_settings(data):
        return TomlKind(
            "a Shipyard server settings file (TOML, for `shipyard serve`), not a spec",
            next(iter(data)),
            f"give it to `shipyard serve --config FILE` (docs/server.md); {_SPEC_IS_YAML}",
            "shipyard",
        )
    if _is_spec(data):
        return TomlKind(
            "a TOML file, not YAML: a spec's keys written in TOML",
            next(iter(data)),
            "write the same keys in YAML (name: x, then steps: with one indented entry per "
            "step); see docs/spec.md",
            "shipyard",
        )
    if any(key in data for key in ("project", "tool", "build-system")):
        return TomlKind(
            "a Python project file (pyproject.toml), in TOML, not YAML: not a Shipyard spec",
            "",
            _SPEC_IS_YAML,
        )
    return TomlKind("a TOML file, not YAML: it is not a Shipyard spec", "", _SPEC_IS_YAML)


def _mitosis_manager(key: str) -> TomlKind:
    return TomlKind(
        "a Mitosis node manager configuration, in TOML, not YAML: not a Shipyard spec",
        key,
        "Shipyard's node manager reads it: `shipyard manager --config FILE` "
        f"(docs/importing.md); {_SPEC_IS_YAML}",
        "mitosis",
    )


def _is_mitosis_config(data: dict[str, Any]) -> bool:
    if isinstance(data.get("worker"), dict) or isinstance(data.get("client"), dict):
        return True
    coordinator = data.get("coordinator")
    return isinstance(coordinator, dict) and any(k in coordinator for k in _MITOSIS_COORDINATOR)


def _is_serve_settings(data: dict[str, Any]) -> bool:
    import dataclasses

    from shipyard.server.settings import Settings

    names = {field.name for field in dataclasses.fields(Settings)}
    keys = set(data.get("server", data)) if isinstance(data.get("server"), dict) else set(data)
    return bool(keys) and keys <= names | {"server", "coordinator"}


def _is_spec(data: dict[str, Any]) -> bool:
    from shipyard.spec.models import Spec

    return set(data) <= set(Spec.model_fields) and bool({"steps", "services"} & set(data))


def _line_of(text: str, key: str) -> int:
    """The line of the table ``[key]`` or the setting ``key = …`` (1 if not found)."""
    if key:
        pattern = re.compile(rf"^\s*(\[\s*{re.escape(key)}\s*\]|{re.escape(key)}\s*=)", re.M)
        found = pattern.search(text)
        if found:
            return text.count("\n", 0, found.start()) + 1
    return 1


def _broken(text: str, path: Path | None, error: str) -> SpecProblem | None:
    """TOML that does not parse: said so when the file reads like TOML at its first line."""
    first = next(
        (
            (number, line)
            for number, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")
        ),
        None,
    )
    if first is None or not _TOML_LINE.match(first[1]):
        return None
    line, column, reason = toml_place(error)
    where = Location(path, line, column) if line and column else Location(path, first[0], 1)
    return SpecProblem(
        f"this looks like TOML (line {first[0]}: {first[1].strip()!r}), not YAML, and it is "
        f"not valid TOML either: {reason}",
        where,
        hint=_SPEC_IS_YAML,
    )


__all__ = ["TomlKind", "toml_kind", "toml_problem"]
