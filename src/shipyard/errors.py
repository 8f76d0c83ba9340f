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


class PipelineNotFound(ShipyardError):
    """No pipeline registered under the given name (404 when served)."""


class StoreError(ShipyardError):
    """The state database cannot be opened or is of an unknown schema version."""


class ControlUnavailable(ShipyardError):
    """The process running an execution does not answer on its control socket."""


class OutsideWorkdir(ShipyardError):
    """A declared path (output, input, checkpoint path) resolves outside its step's workdir."""


class MachineFault(ShipyardError):
    """The machine refused what Shipyard had to do: a full disk, a read-only folder, an I/O
    error, a damaged state database. Nothing the spec can fix; exit code 3 so scripts can tell."""

    exit_code = 3


class DiskFull(MachineFault):
    """No space left (or quota exceeded) on the device holding a file Shipyard writes."""


class NotWritable(MachineFault):
    """A folder Shipyard must write to is read-only or not ours."""


class StoreCorrupt(MachineFault, StoreError):
    """The state database is damaged: not an SQLite file, or its pages do not check out."""


#: errno values that mean "no space"; those that mean "you may not write here".
_NO_SPACE = frozenset({28, 122})  # ENOSPC, EDQUOT
_NOT_WRITABLE = frozenset({1, 13, 30})  # EPERM, EACCES, EROFS

# `clean --all-finished` needs a little space itself (it moves runs to the trash and records
# that), so on a disk that is completely full only emptying the trash or deleting other files
# helps first.
_FREE_SPACE_HINT = (
    "free some space: `shipyard clean --purge` empties the trash, or delete files you do not "
    "need; with a little space free, `shipyard clean --all-finished` then `clean --purge` "
    "frees old runs' files; or point SHIPYARD_HOME at another disk. What was recorded so far "
    "is kept"
)


def machine_fault(errno: int | None, doing: str, path: object, detail: str) -> ShipyardError:
    """The error a user sees when ``doing`` (e.g. "write") ``path`` failed with ``errno``:
    what happened, where, and what to do. Used by every boundary that touches the disk."""
    if errno in _NO_SPACE:
        return DiskFull(
            f"disk full: cannot {doing} {path} (no space left on its device)",
            hint=_FREE_SPACE_HINT,
        )
    if errno in _NOT_WRITABLE:
        why = "a read-only file system" if errno == 30 else "permission denied"
        return NotWritable(
            f"cannot {doing} {path}: {why}",
            hint="Shipyard keeps its state and run folders under SHIPYARD_HOME: make that folder "
            "writable for this user, or point SHIPYARD_HOME (or --home) at one that is",
        )
    return MachineFault(
        f"cannot {doing} {path}: {detail}",
        hint="check the disk and the folder (dmesg may say more), then try again",
    )


def from_os_error(error: OSError, doing: str, path: object = None) -> ShipyardError:
    """An OSError of the disk (ENOSPC, EROFS, EACCES, EIO…) as a ShipyardError."""
    where = path if path is not None else (error.filename or "a file")
    return machine_fault(error.errno, doing, where, error.strerror or str(error))


# --- The coordinator's task queue (issue 13 §3) -------------------------------------------------
# Each carries the HTTP status the server answers with, so the REST front end maps an error by
# its class, not by its text.


class CoordinatorError(ShipyardError):
    """Something the coordinator refuses; ``http_status`` is its HTTP answer."""

    http_status: int = 400


class BadRequest(CoordinatorError):
    """A request the coordinator cannot take as given (a value of the wrong kind or range)."""

    http_status = 400


class NotFound(CoordinatorError):
    """No task (or worker) of that id."""

    http_status = 404


class Conflict(CoordinatorError):
    """The task is no longer in a state that allows it (edited after start, lease lost…)."""

    http_status = 409


class DatabaseUnavailable(CoordinatorError):
    """The coordinator's PostgreSQL cannot be reached or migrated."""

    http_status = 503
    exit_code = 3
