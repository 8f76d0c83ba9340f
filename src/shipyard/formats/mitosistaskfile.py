"""A Shipyard task file: one task's fields as ``POST /api/v1/tasks`` takes them, in YAML (or
JSON) — what ``shipyard import`` writes for a Mitosis task, and what ``shipyard tasks submit
--file`` and ``shipyard suite submit UUID --file`` read (a Mitosis task JSON too).

Read like the suite files: positions from :mod:`shipyard.spec.yamlsource`, the shape checked by
Pydantic, every problem at its file:line:column.

No ``from __future__ import annotations``: Pydantic reads the annotations.
"""

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shipyard.errors import SpecError, SpecProblem
from shipyard.spec.quantities import MAX_DURATION
from shipyard.spec.yamlsource import SourceMap, YamlProblems, read_yaml

Text = Annotated[str, Field(min_length=1, max_length=10_000)]
HINT = "see docs/importing.md ('Mitosis suites and tasks') for the task file's fields"


class TaskWatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    upstream: str = Field(min_length=1, max_length=100, description="The task waited for.")
    state: Literal["started", "succeeded", "failed", "ended"] = "succeeded"


class TaskFile(BaseModel):
    """One task; ``group`` may be left out for ``suite submit`` (the suite's is taken)."""

    model_config = ConfigDict(extra="forbid")
    group: str | None = Field(default=None, min_length=1, max_length=200)
    command: list[Text] = Field(min_length=1, description="argv; no shell.")
    env: dict[str, str] = {}
    tags: list[Text] = []
    labels: dict[str, Any] = {}
    priority: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    timeout: float | None = Field(default=None, gt=0, le=MAX_DURATION)  # a spec's cap: 365 days
    max_attempts: int = Field(default=3, ge=1, le=100)
    watch: TaskWatch | None = None
    suite_uuid: str | None = Field(default=None, min_length=1, max_length=100)
    key: str | None = Field(default=None, min_length=1, max_length=200)


def load_task_text(text: str, path: Path | None = None) -> dict[str, Any]:
    """The task's fields (as ``POST /tasks`` takes them, without those left out)."""
    try:
        data, source = read_yaml(text, path)
    except YamlProblems as error:
        raise SpecError(error.problems) from None
    if not isinstance(data, dict):
        raise SpecError(
            [
                SpecProblem(
                    "a task file is a YAML mapping with at least 'command'",
                    source.locate(()),
                    hint=HINT,
                )
            ]
        )
    try:
        task = TaskFile.model_validate(data)
    except ValidationError as error:
        raise SpecError(_problems(error, source)) from None
    return task.model_dump(exclude_none=True)


def _problems(error: ValidationError, source: SourceMap) -> list[SpecProblem]:
    found = []
    for item in error.errors():
        loc = tuple(part for part in item.get("loc", ()) if isinstance(part, str | int))
        where = ".".join(str(part) for part in loc) or "the file"
        kind = item.get("type", "")
        words = {"extra_forbidden": "unknown field", "missing": "missing (it is required)"}
        message = f"{where}: {words.get(kind, item.get('msg', 'invalid'))}"
        if loc == ("timeout",) and kind == "less_than_equal":  # the seconds of 365 days
            message = "timeout: longer than 365 days, the longest duration Shipyard accepts"
        location = source.locate(loc, key=kind == "extra_forbidden")
        found.append(SpecProblem(message, location, hint=HINT))
    return found
