"""Mitosis files where Shipyard's coordinator commands take them: ``shipyard suite create``
(a Mitosis suite JSON, or a Shipyard suite file), ``shipyard tasks submit --file`` and
``shipyard suite submit UUID --file`` (a Mitosis task JSON, or a Shipyard task file), and
``shipyard import`` (the Shipyard file written for either).

Each Mitosis file is mapped (:mod:`shipyard.formats.mitosis`), then checked by Shipyard's own
models, a problem of either reported at the JSON's line:column with Mitosis's key names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import Location, SpecError, SpecProblem
from shipyard.formats.mitosis import (
    HINT,
    is_task,
    map_mitosis,
    read_mitosis,
    suite_text,
    validation_problems,
)
from shipyard.formats.notes import ImportResult, MappingNote
from shipyard.spec.reading import read_spec_text

if TYPE_CHECKING:
    from shipyard.spec.suitespec import SuiteFile


#: The most copies one --file submit makes (as tasks submit's --count).
MAX_COUNT = 100_000


@dataclass(frozen=True)
class Loaded:
    """A suite file's or a task's fields, and what the Mitosis mapping said (empty for a
    Shipyard file)."""

    body: dict[str, Any]
    notes: list[MappingNote] = field(default_factory=list)
    format: str = "shipyard"

    @property
    def warnings(self) -> list[MappingNote]:
        return [note for note in self.notes if note.warning]


def _is_mitosis(text: str, path: Path, format: str | None) -> bool:
    if format is not None:
        if format not in ("mitosis", "shipyard"):
            from shipyard.errors import BadRequest

            raise BadRequest(f"--format {format}: suites and tasks are Shipyard's or Mitosis's",
                             hint="--format mitosis (or shipyard)")  # fmt: skip
        return format == "mitosis"
    from shipyard.formats.detect import detect_text

    return detect_text(text, path).format == "mitosis" or _broken_json(text, path)


def _broken_json(text: str, path: Path) -> bool:
    """A ``.json`` file that JSON cannot read: said as JSON's error, not YAML's."""
    from shipyard.spec.jsontoml import load_json

    if path.suffix.lower() != ".json":
        return False
    try:
        load_json(text, path)  # NestedTooDeeply: refused here, before any server is asked
    except ValueError:
        return True
    return False


def load_suite(file: str | Path, format: str | None = None) -> tuple[SuiteFile, Loaded]:
    """The suite of ``file``: a Shipyard suite file, or a Mitosis suite JSON mapped onto one."""
    from shipyard.spec.suitespec import SuiteFile, load_suite_text

    path = Path(file)
    text = read_spec_text(path)
    if not _is_mitosis(text, path, format):
        return load_suite_text(text, path.resolve()), Loaded({})
    mapped, ctx, source = _mapped(text, path)
    if mapped.kind != "suite":
        raise _wrong_kind(path, "task", "suite", "shipyard suite submit UUID --file " + str(file))
    from pydantic import ValidationError

    from shipyard.spec.suitemodel import SuiteSpec

    try:
        spec = SuiteSpec.model_validate(mapped.body)
    except ValidationError as error:
        raise SpecError(validation_problems(error, mapped, source)) from None
    body = spec.model_dump(exclude={"tasks", "generate"}, exclude_none=True)
    return SuiteFile(body, [], path.resolve()), Loaded(body, ctx.notes, "mitosis")


def load_task(file: str | Path, format: str | None = None) -> Loaded:
    """The task of ``file``: a Shipyard task file, or a Mitosis task JSON mapped onto one."""
    from pydantic import ValidationError

    from shipyard.formats.mitosistaskfile import TaskFile, load_task_text

    path = Path(file)
    text = read_spec_text(path)
    if not _is_mitosis(text, path, format):
        return Loaded(load_task_text(text, path.resolve()))
    mapped, ctx, source = _mapped(text, path)
    if mapped.kind != "task":
        raise _wrong_kind(path, "suite", "task", f"shipyard suite create {file}")
    try:
        task = TaskFile.model_validate(mapped.body)
    except ValidationError as error:
        raise SpecError(validation_problems(error, mapped, source)) from None
    return Loaded(task.model_dump(exclude_none=True), ctx.notes, "mitosis")


def _mapped(text: str, path: Path) -> Any:
    data, source = read_mitosis(text, path.resolve())
    mapped, ctx = map_mitosis(data, source)
    return mapped, ctx, source


def _wrong_kind(path: Path, is_: str, wanted: str, command: str) -> SpecError:
    return SpecError(
        [
            SpecProblem(
                f"this is a Mitosis {is_} (it has "
                f"{'spec' if is_ == 'task' else 'no spec'}), not a {wanted}",
                Location(path.resolve(), 1, 1),
                hint=f"use {command}",
            )
        ]
    )


def import_mitosis(text: str, path: Path, output: Path | None = None) -> ImportResult:
    """``shipyard import``: the Shipyard suite file (or task file) of a Mitosis suite (or
    task), checked to load as Shipyard reads it, with a comment on each mapping."""
    data, source = read_mitosis(text, path)
    mapped, ctx = map_mitosis(data, source)
    result = suite_text(mapped, ctx, path)
    written = output.resolve() if output is not None else path
    try:
        if is_task(data):
            from shipyard.formats.mitosistaskfile import load_task_text

            load_task_text(result.text, written)
        else:
            from shipyard.spec.suitespec import load_suite_text

            load_suite_text(result.text, written)
    except SpecError as error:  # the mapping's own checks passed: Shipyard's models refused
        raise SpecError([_remapped(p, result) for p in error.problems]) from None
    return result


def _remapped(problem: SpecProblem, result: ImportResult) -> SpecProblem:
    line = problem.location.line if problem.location else None
    origin = result.origins.get(line) if line is not None else None
    return SpecProblem(
        f"{problem.message} (in the Mitosis file's Shipyard equivalent)",
        origin,
        hint=problem.hint or HINT,
    )


def notes_text(file: str | Path, loaded: Loaded) -> str:
    """What suite create and submit say on stderr about a Mitosis file: that it was mapped,
    and each key not mapped or mapped with other semantics, at its line:column."""
    if loaded.format != "mitosis":
        return ""
    lines = [
        f"note: {file} is a Mitosis file, read as its Shipyard equivalent "
        "(`shipyard import` writes it; docs/importing.md)"
    ]
    for note in loaded.warnings:
        where = f"{file}:{note.location.line}:{note.location.column}: " if note.location else ""
        lines.append(f"  {where}{note.key}: {note.message}")
    return "\n".join(lines) + "\n"


def file_tasks(
    file: str,
    command: list[str] | None,
    count: int,
    index_env: str | None,
    *,
    group: str | None = None,
    key: str | None = None,
) -> list[dict[str, Any]]:
    """The tasks ``--file`` submits: ``count`` copies of its task (each with its index in
    ``index_env``, and the key ``KEY-INDEX`` unless the file names its own), in ``group`` if
    given (else the file's). BadRequest: a command given too, or no group anywhere for a
    lone task (``group`` None and none in the file is fine for ``suite submit``)."""
    import sys
    import uuid

    from shipyard.errors import BadRequest

    if command:
        raise BadRequest(
            "give a command or --file, not both", hint="shipyard tasks submit --file task.json"
        )
    if not 1 <= count <= MAX_COUNT:
        raise BadRequest(f"--count {count} is outside 1..{MAX_COUNT}", hint="--count 1000")
    loaded = load_task(file)
    sys.stderr.write(notes_text(file, loaded))
    task = dict(loaded.body)
    if group is not None:
        task["group"] = group
    prefix = key or uuid.uuid4().hex[:12]  # as tasks submit draws one: 48 random bits
    tasks = []
    for index in range(count):
        copy = {**task, "env": dict(task.get("env", {}))}
        if index_env:
            copy["env"][index_env] = str(index)
        if "key" in task:
            copy["key"] = task["key"] if count == 1 else f"{task['key']}-{index}"
        else:
            copy["key"] = f"{prefix}-{index}"
        tasks.append(copy)
    return tasks


def lone_tasks_group(tasks: list[dict[str, Any]], file: str) -> None:
    """A task submitted alone needs a group: --group or the file's."""
    from shipyard.errors import BadRequest

    if any("group" not in task for task in tasks):
        raise BadRequest(f"{file} names no group", hint="give --group G, or group: in the file")


def suite_group_notice(tasks: list[dict[str, Any]], group: str) -> str:
    """A task file's group or suite_uuid other than the suite's is replaced by the suite's
    (as Mitosis does for a suite's tasks): said, not done silently."""
    told = sorted({str(task["group"]) for task in tasks if task.get("group") not in (None, group)})
    if not told:
        return ""
    return (
        f"note: the task's group {told[0]!r} is replaced by the suite's group "
        f"{group!r} (a suite's tasks are in its group, as in Mitosis)\n"
    )


def import_mitosis_file(
    file: Path, format: str | None, output: Path | None = None
) -> ImportResult | None:
    """``shipyard import`` of a Mitosis suite or task JSON (detected, or ``--format
    mitosis``); None for any other file (a Mitosis TOML too: not a suite or a task)."""
    from shipyard.formats.detect import detect_text

    if format not in (None, "mitosis"):
        return None
    text = read_spec_text(file)
    detection = detect_text(text, file)
    toml = detection.format == "mitosis" and detection.key == ()  # a config, told by TOML
    if toml or (format is None and detection.format != "mitosis"):
        return None  # for a TOML, the importer's message says where a manager's config goes
    return import_mitosis(text, file.resolve(), output)
