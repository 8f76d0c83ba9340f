"""A suite spec file (issue 14 §1; docs/suites.md): the suite's fields as ``POST /suites``
takes them, and its tasks — a list, or a generator that makes one task per item of a list of
values or per line of a file.

Read like the pipeline specs: YAML with positions (:mod:`shipyard.spec.yamlsource`), the shape
checked by Pydantic, every problem reported at once with its file:line:column and a hint.

A generator's item reaches its command as an argv element (``{{ item }}`` in an argument is
replaced by the item's text) and as an environment variable (``ITEM`` unless ``env_name``
says otherwise) — never through a shell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import SpecError, SpecProblem
from shipyard.spec.reading import read_spec_text
from shipyard.spec.yamlsource import SourceMap, YamlProblems, read_yaml

if TYPE_CHECKING:
    from pydantic import ValidationError

#: The most tasks one suite file makes (a bigger suite is several `suite submit`s).
MAX_TASKS = 100_000
ITEM = re.compile(r"\{\{\s*item\s*\}\}")
HINT = "see docs/suites.md for the suite file's fields"


@dataclass(frozen=True)
class SuiteFile:
    """A loaded suite file: the body of ``POST /suites`` and the tasks (without suite_uuid)."""

    suite: dict[str, Any]
    tasks: list[dict[str, Any]]
    path: Path | None


def load_suite_spec(path: str | Path) -> SuiteFile:
    file = Path(path)
    return load_suite_text(read_spec_text(file), file.resolve())


def load_suite_text(text: str, path: Path | None = None) -> SuiteFile:
    from pydantic import ValidationError

    from shipyard.spec.suitemodel import SuiteSpec

    try:
        data, source = read_yaml(text, path)
    except YamlProblems as error:
        raise SpecError(error.problems) from None
    if not isinstance(data, dict):
        where = source.locate(())
        raise SpecError([SpecProblem("a suite file is a YAML mapping with at least 'group'",
                                     where, hint=HINT)])  # fmt: skip
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(_problems(error, source)) from None
    tasks = [task.model_dump(exclude_none=True) for task in spec.tasks or []]
    if spec.generate is not None:
        tasks += _generated(spec.generate, path, source)
    if len(tasks) > MAX_TASKS:
        message = f"the file makes {len(tasks):,} tasks, over {MAX_TASKS:,}"
        where = source.locate(("generate",))
        hint = "split the items over several submits"
        raise SpecError([SpecProblem(message, where, hint=hint)])
    body = spec.model_dump(exclude={"tasks", "generate"}, exclude_none=True)
    return SuiteFile(body, tasks, path)


def _generated(generate: Any, path: Path | None, source: SourceMap) -> list[dict[str, Any]]:
    items = [str(value) for value in generate.values or []]
    if generate.file is not None:
        items += _lines(generate.file, path, source)
    made = []
    for item in items:
        task: dict[str, Any] = {
            "command": [_filled(part, item) for part in generate.command],
            "env": {**generate.env, generate.env_name: item},
            "max_attempts": generate.max_attempts,
        }
        if generate.timeout is not None:
            task["timeout"] = generate.timeout
        made.append(task)
    return made


def _filled(part: str, item: str) -> str:
    return ITEM.sub(lambda _: item, part)  # a function: the item's backslashes stay as typed


def _lines(name: str, path: Path | None, source: SourceMap) -> list[str]:
    """The non-empty lines of a generator's file (relative to the suite file's folder)."""
    base = path.parent if path else Path.cwd()
    file = (base / name).resolve()
    try:
        text = read_spec_text(file)
    except (OSError, SpecError) as error:
        why = error.problems[0].message if isinstance(error, SpecError) else str(error)
        raise SpecError([SpecProblem(f"generate.file {name!r} cannot be read: {why}",
                                     source.locate(("generate", "file")),
                                     hint=f"give a text file, one item a line (looked at {file})")]
                        ) from None  # fmt: skip
    return [line.strip() for line in text.splitlines() if line.strip()]


def _problems(error: ValidationError, source: SourceMap) -> list[SpecProblem]:
    found = []
    for item in error.errors():
        loc = tuple(part for part in item.get("loc", ()) if isinstance(part, str | int))
        where = ".".join(str(part) for part in loc) or "the file"
        kind = item.get("type", "")
        message = str(item.get("msg", "invalid"))
        if kind == "extra_forbidden":
            message = f"{where}: unknown field"
        elif kind == "missing":
            message = f"{where}: missing (it is required)"
        else:
            message = f"{where}: {message}"
        found.append(SpecProblem(message, source.locate(loc, key=kind == "extra_forbidden"),
                                 hint=HINT))  # fmt: skip
    return found
