"""The one exception root. Every error a user can cause is a ``ShipyardError``.

Each subclass carries a message that says what is wrong, where, and what to do.
Front ends print ``str(error)`` and exit non-zero; they never show a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class ShipyardError(Exception):
    """Base of every error a user can cause. ``exit_code`` is what the CLI returns."""

    exit_code: int = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


@dataclass(frozen=True)
class Location:
    """A place in a spec file (1-based line and column, as editors show them)."""

    path: Path | None
    line: int
    column: int

    def __str__(self) -> str:
        name = str(self.path) if self.path else "<spec>"
        return f"{name}:{self.line}:{self.column}"


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with a spec, with where it is and how to fix it."""

    message: str
    location: Location | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        tail = f"\n    hint: {self.hint}" if self.hint else ""
        return f"{where}{self.message}{tail}"


def _reading_order(problem: SpecProblem) -> tuple[int, int]:
    where = problem.location
    return (where.line, where.column) if where else (0, 0)


class SpecError(ShipyardError):
    """The spec file cannot be loaded: one or more problems, each with file:line."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        self.problems = sorted(problems, key=_reading_order)
        count = len(problems)
        head = "the spec has a problem" if count == 1 else f"the spec has {count} problems"
        body = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{head}:\n{body}")


class ParameterError(ShipyardError):
    """A ``-p key=value`` override is unknown, of the wrong type or not an allowed choice."""


class ExecutionNotFound(ShipyardError):
    """No execution with the given id (or no execution at all)."""


class StoreError(ShipyardError):
    """The state database cannot be opened or is of an unknown schema version."""


class ControlUnavailable(ShipyardError):
    """The process running an execution does not answer on its control socket."""
