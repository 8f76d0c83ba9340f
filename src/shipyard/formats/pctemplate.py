"""process-compose's Go templates in commands (``{{.PY}}``) → Shipyard's ``{{ PY }}``.

Project ``vars`` become the spec's parameters (``-p PY=python3.12`` still works); a process's own
``vars`` are written in as their values (Shipyard parameters are the spec's, not a unit's).
Any other template (``{{.PC_REPLICA_NUM}}``, ``{{if}}``, a var nobody defines) is a problem at
its own line: it cannot be carried over faithfully.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shipyard.formats.context import ImportContext
from shipyard.spec.yamlsource import PathKey

_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_VAR = re.compile(r"^\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*$")


def render(
    ctx: ImportContext,
    path: PathKey,
    text: str,
    parameters: Mapping[str, Any],
    local: Mapping[str, Any],
) -> str:
    """``text`` with each ``{{.NAME}}``: a process var's value, or ``{{ NAME }}`` of a project
    var (a parameter). A template of another form is a problem."""

    def one(match: re.Match[str]) -> str:
        inner = _VAR.match(match.group(1))
        if inner is None:
            ctx.problem(
                path,
                f"'{match.group(0)}' is a Go template the importer cannot translate",
                hint="only {{.NAME}} of the file's vars is carried over; write the value out",
            )
            return match.group(0)
        name = inner.group(1)
        if name in local:
            return str(local[name])
        if name in parameters:
            return "{{ " + name + " }}"
        ctx.problem(
            path,
            f"'{match.group(0)}' names no var of this file",
            hint=f"define {name} under vars: (of the project or of this process)",
        )
        return match.group(0)

    return _TEMPLATE.sub(one, text)
