"""A spec's problems named by the path the user gave, not the resolved one.

Specs are loaded by their resolved path (relative workdirs and the run's record need it), so
every problem line used to show the machine's absolute path even when ``shipyard validate
specs/x.yaml`` was typed, while the header kept it relative. An absolute path is shown only
where the user gave one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from shipyard.errors import Location, SpecError, SpecProblem

SpecErrorT = TypeVar("SpecErrorT", bound=SpecError)


def problems_as_given(problems: list[SpecProblem], given: str | Path) -> list[SpecProblem]:
    """``problems``, those located in the file ``given`` resolves to named ``given``."""
    shown = Path(given)
    resolved = shown.resolve()
    if shown == resolved:
        return problems
    return [_renamed(problem, resolved, shown) for problem in problems]


def as_given(error: SpecErrorT, given: str | Path) -> SpecErrorT:
    """``error`` (of its own class) with its problems named as ``given``: see
    :func:`problems_as_given`. The same object when nothing changes."""
    problems = problems_as_given(error.problems, given)
    if problems == error.problems:
        return error
    return type(error)(problems)


def _renamed(problem: SpecProblem, resolved: Path, shown: Path) -> SpecProblem:
    where = problem.location
    if where is None or where.path != resolved:
        return problem
    return SpecProblem(
        problem.message, Location(shown, where.line, where.column), hint=problem.hint
    )


__all__ = ["as_given", "problems_as_given"]
