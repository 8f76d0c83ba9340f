"""Writing an imported spec as YAML text with a comment on each mapping, and remembering, for
each line written, the place in the foreign file it came from (so a problem Shipyard finds in
the written spec is reported at the foreign file's own line)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import Location

Scalar = str | int | float | bool
#: A value written on its key's line: a scalar, or a short flow list or mapping of scalars
#: (a list's items may be lists or mappings of scalars: topology levels, hosts).
Flow = Scalar | list[Any] | dict[str, Scalar]


@dataclass
class Entry:
    """A key of the written spec: a flow value on its line, or child entries below it."""

    key: str
    value: Flow | None = None
    children: list[Entry] = field(default_factory=list)
    comment: str = ""
    origin: Location | None = None


#: Words YAML (1.1 or 1.2) reads as something other than a string when left unquoted.
_SPECIAL = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", ""}
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")


def scalar(value: Scalar) -> str:
    """``value`` as YAML: plain when it cannot be misread, else a JSON string (valid YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if _PLAIN.match(value) and value.lower() not in _SPECIAL:
        return value
    return json.dumps(value, ensure_ascii=False)


def flow(value: Flow) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(flow(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {scalar(v)}" for k, v in value.items()) + "}"
    return scalar(value)


def _block_literal(value: Flow | None) -> str | None:
    """The block indicator for a multi-line string a literal block keeps exactly, else None."""
    if not isinstance(value, str) or "\n" not in value or "\r" in value or "\t" in value:
        return None
    body = value[:-1] if value.endswith("\n") else value
    if body.endswith("\n") or body.startswith((" ", "\n")) or not body.strip():
        return None
    if any(line != line.rstrip(" ") for line in body.split("\n")):
        return None
    return "|" if value.endswith("\n") else "|-"


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.origins: dict[int, Location] = {}

    def add(self, text: str, origin: Location | None) -> None:
        self.lines.append(text)
        if origin is not None:
            self.origins[len(self.lines)] = origin

    def entries(self, entries: list[Entry], indent: int, inherited: Location | None) -> None:
        """``inherited``: the origin of the entry these are below, for those with none."""
        pad = " " * indent
        for entry in entries:
            origin = entry.origin or inherited
            note = f"  # {entry.comment}" if entry.comment else ""
            key = scalar(entry.key)
            if entry.value is None:
                self.add(f"{pad}{key}:{note}", origin)
                self.entries(entry.children, indent + 2, origin)
                continue
            indicator = _block_literal(entry.value)
            if indicator is None:
                self.add(f"{pad}{key}: {flow(entry.value)}{note}", origin)
                continue
            assert isinstance(entry.value, str)
            self.add(f"{pad}{key}: {indicator}{note}", origin)
            body = entry.value[:-1] if entry.value.endswith("\n") else entry.value
            for line in body.split("\n"):
                self.add(f"{pad}  {line}" if line else "", origin)


def emit(header: list[str], entries: list[Entry]) -> tuple[str, dict[int, Location]]:
    """The spec's text (``header`` as comment lines first) and each line's origin."""
    writer = _Writer()
    for line in header:
        writer.add(f"# {line}".rstrip(), None)
    writer.entries(entries, 0, None)
    return "\n".join(writer.lines) + "\n", writer.origins
