"""A process-compose file → the equivalent Shipyard spec (docs/importing.md has the table).

Read with Shipyard's own YAML reader (so every note and problem has the file's line and
column), then: project keys, the roles (:mod:`pcroles`), each process (:mod:`pcprocess`), and the
written spec with a comment on each mapping (:mod:`emit`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from shipyard.errors import SpecError
from shipyard.formats.context import ImportContext
from shipyard.formats.emit import Entry, emit
from shipyard.formats.naming import slug
from shipyard.formats.notes import ImportResult
from shipyard.formats.pcprocess import Project, env_entries, unit_of
from shipyard.formats.pcroles import roles
from shipyard.spec.models import NAME_PATTERN, PARAMETER_PATTERN
from shipyard.spec.yamlsource import SourceMap

#: Project keys with no Shipyard equivalent, and why.
UNMAPPED = {
    "version": "the process-compose file format's version; a Shipyard spec has none",
    "log_level": "process-compose's own log level",
    "log_length": "process-compose's in-memory log length; Shipyard keeps logs in files",
    "log_location": "Shipyard keeps each unit's log in its run folder",
    "log_configuration": "Shipyard keeps each unit's log in its run folder",
    "is_tui_disabled": "Shipyard has no TUI",
    "env_cmds": "Shipyard does not compute env values from commands (a prepare hook could)",
    "extends": "the importer does not merge a base file: import the merged file",
    "shell": "commands run with sh -c (shell: true), or bash -c when they use bash-only syntax",
}
IMPLICIT = {
    "ordered_shutdown": "shipyard down always stops units in reverse start order",
    "is_strict": "Shipyard always refuses unknown keys",
}
HANDLED = {"processes", "environment", "vars", "name"}

_NAME = re.compile(NAME_PATTERN)
_PARAMETER = re.compile(PARAMETER_PATTERN)


def spec_name(data: dict[str, Any], path: Path | None) -> str:
    """The file's ``name``, else its file name (its folder's for a plain process-compose.yaml),
    made a valid Shipyard name."""
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        stem = path.stem if path else "process-compose"
        if stem in ("process-compose", "compose") and path is not None:
            stem = path.resolve().parent.name or stem
        name = stem
    return slug(name)


def import_process_compose(
    data: dict[str, Any], source: SourceMap, path: Path | None, *, project_rebase: Any = None
) -> ImportResult:
    """``data`` read from ``path`` (with its source map) as a Shipyard spec; SpecError with
    every problem, at the file's own lines, when it cannot be imported."""
    ctx = ImportContext(source)
    processes = data.get("processes")
    if not isinstance(processes, dict) or not processes:
        ctx.problem(("processes",), "processes should map each process's name to its settings")
        raise SpecError(ctx.problems)
    top: list[Entry] = [
        Entry(
            "name",
            spec_name(data, path),
            comment="the file's name" if "name" not in data else "name",
        )
    ]
    parameters = _parameters(ctx, data.get("vars"), top)
    env = env_entries(ctx, ("environment",), data.get("environment"))
    if env is not None:
        top.append(env)
    project = Project(roles(processes), parameters)
    project.log_ready = {
        name
        for name, process in processes.items()
        if isinstance(process, dict)
        and process.get("ready_log_line")
        and process.get("readiness_probe") is None
        and project.roles[name].role == "service"
    }
    if project_rebase is not None:
        project.rebase = project_rebase
    _check_names(ctx, processes)
    project.omitted = {
        name
        for name, process in processes.items()
        if isinstance(process, dict)
        and (process.get("is_disabled") or process.get("disabled"))
        and project.roles[name].role == "service"
    }
    steps = Entry("steps", comment="processes that run to their end")
    services = Entry("services", comment="processes that keep running")
    for name, process in processes.items():
        if not isinstance(process, dict):
            ctx.problem(("processes", name), f"process '{name}' should be a mapping")
            continue
        unit = unit_of(ctx, name, process, project)
        if unit is not None:
            (steps if project.roles[name].role == "step" else services).children.append(unit)
    if project.stop_all:
        top.append(
            Entry(
                "execution",
                children=[
                    Entry(
                        "on_service_failure",
                        "stop-all",
                        comment="a service's restart: exit_on_failure",
                    )
                ],
            )
        )
    top.extend(entry for entry in (steps, services) if entry.children)
    _project_notes(ctx, data)
    if ctx.problems:
        raise SpecError(ctx.problems)
    header = ctx.header("the process-compose file", path)
    text, origins = emit(header, top)
    return ImportResult("process-compose", text, ctx.notes, origins)


def _parameters(ctx: ImportContext, value: Any, top: list[Entry]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        ctx.problem(("vars",), "vars should map names to values")
        return {}
    entry = Entry(
        "parameters", comment="vars: {{.NAME}} in commands is {{ NAME }}", origin=ctx.at(("vars",))
    )
    for name, default in value.items():
        if not _PARAMETER.match(name):
            ctx.problem(
                ("vars", name),
                f"var '{name}' cannot be a Shipyard parameter's name",
                hint="use letters, digits and '_', not starting with a digit",
            )
            continue
        if not isinstance(default, str | int | float | bool):
            ctx.problem(("vars", name), f"var '{name}' should be a plain value")
            continue
        kind = {bool: "bool", int: "int", float: "float"}.get(type(default), "str")
        entry.children.append(
            Entry(name, {"type": kind, "default": default}, origin=ctx.at(("vars", name)))
        )
    if entry.children:
        top.append(entry)
    return value


def _check_names(ctx: ImportContext, processes: dict[str, Any]) -> None:
    for name in processes:
        if not _NAME.match(str(name)) or len(str(name)) > 64:
            ctx.problem(
                ("processes", name),
                f"process '{name}' cannot be a Shipyard unit's name",
                hint="rename it with letters, digits, '_', '-', '.' (at most 64, starting "
                "with a letter or digit)",
            )


def _project_notes(ctx: ImportContext, data: dict[str, Any]) -> None:
    for key in data:
        if key in UNMAPPED:
            ctx.unmapped((key,), UNMAPPED[key])
        elif key in IMPLICIT:
            ctx.note((key,), "implicit", IMPLICIT[key])
        elif key not in HANDLED:
            ctx.unmapped((key,), "not a process-compose key this importer knows")
