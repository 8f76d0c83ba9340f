"""The operations API: the one surface every front end uses (CLI, Python, MCP, REST).

``Operations`` is a Protocol; :class:`shipyard.local.LocalOperations` implements it with the
engine and the store in this process. Arguments are plain values; results are typed records
(dataclasses, and the Pydantic plan), so a front end renders them or dumps them as JSON
(``shipyard.models.to_jsonable``) and has no logic of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shipyard.models import Event, ExecutionState, ExecutionStatus, ExecutionSummary, UnitStatus

if TYPE_CHECKING:  # the plan models pull in the spec models; status commands need neither
    from shipyard.plan.model import Plan, RunMode


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class ValidationReport:
    path: str
    valid: bool
    name: str | None = None
    steps: int = 0
    parameters: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LogLine:
    unit: str
    #: 1-based line number in what is kept of the unit's log (rotated files first); None for
    #: lines read from the end (``tail``), whose position is not counted from the start.
    number: int | None
    text: str


@dataclass(frozen=True, slots=True)
class StopReport:
    """What a stop does (or did): the units it cuts and those that will never start."""

    execution_id: str
    running: list[str]  # running now: they finish within the grace, or are stopped
    never_start: list[str]  # pending or waiting to retry: they will not run
    force: bool = False
    grace: float = 0.0
    state: ExecutionState | None = None  # the execution's state afterwards (None: not acted)


@dataclass(frozen=True, slots=True)
class CleanedRun:
    execution_id: str
    paths: list[str]  # relative to the run directory
    bytes: int
    records: bool = False  # the execution's store records went too (level complete)


@dataclass(frozen=True, slots=True)
class CleanReport:
    level: str
    dry_run: bool
    runs: list[CleanedRun]
    skipped: list[str] = field(default_factory=list)  # active executions left alone

    @property
    def total_bytes(self) -> int:
        return sum(run.bytes for run in self.runs)


Observer = Callable[[Event], None]


class Operations(Protocol):
    """Everything Shipyard can be asked to do. Errors a user can cause raise ShipyardError."""

    def validate(self, spec_path: str | Path) -> ValidationReport: ...

    def plan(
        self,
        spec_path: str | Path,
        params: Mapping[str, Any] | None = None,
        *,
        mode: RunMode = "normal",
        max_parallel: int | None = None,
    ) -> Plan: ...

    def preview_ports(self, plan: Plan) -> dict[str, int]:
        """The port each service would get if the fleet came up now."""

    def run(
        self,
        spec_path: str | Path,
        params: Mapping[str, Any] | None = None,
        *,
        mode: RunMode = "normal",
        max_parallel: int | None = None,
        observer: Observer | None = None,
        detach: bool = False,
        resume_from: str | None = None,
    ) -> ExecutionStatus:
        """Run to the end in this process and return the final status; with ``detach``, hand
        the execution to a supervisor process and return as soon as it runs."""

    def up(
        self,
        spec_path: str | Path,
        params: Mapping[str, Any] | None = None,
        *,
        observer: Observer | None = None,
        detach: bool = False,
    ) -> ExecutionStatus:
        """Bring a fleet up (and run its spec's steps beside it); its services stay up until
        :meth:`stop`. In this process it returns once the fleet is down again."""

    def wait_healthy(self, execution_id: str, *, timeout: float = 300.0) -> ExecutionStatus:
        """Wait until every service of a fleet is healthy, or the fleet has ended."""

    def restart_service(self, execution_id: str, service: str) -> UnitStatus:
        """Restart one service through its restart policy; returns once it is healthy."""

    def service_stop(self, execution_id: str, service: str) -> UnitStatus:
        """Stop one service of a running fleet; it stays down until :meth:`service_start`."""

    def service_start(self, execution_id: str, service: str) -> UnitStatus:
        """Start a stopped (or failed) service again; returns once it is healthy."""

    def resume(
        self,
        execution_id: str,
        *,
        force: bool = False,
        detach: bool = False,
        observer: Observer | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> ExecutionStatus:
        """Continue a failed, cancelled or lost execution: what succeeded is kept. ``params``
        gives its secret parameters again (never stored; else ``$SHIPYARD_PARAM_<NAME>``)."""

    def clean(
        self,
        execution_id: str | None = None,
        *,
        pipeline: str | None = None,
        all_finished: bool = False,
        level: str = "standard",
        preserve_logs: bool = False,
        preserve_outputs: bool | None = None,
        dry_run: bool = False,
    ) -> CleanReport:
        """Move what ``level`` removes from finished run directories to the trash."""

    def clean_undo(self, execution_id: str) -> CleanedRun:
        """Put back what the latest clean of ``execution_id`` moved to the trash."""

    def clean_purge(self) -> int:
        """Empty the trash for good; returns the bytes freed."""

    def stop_impact(self, execution_id: str) -> StopReport:
        """What :meth:`stop` would cut and skip, without acting."""

    def stop(
        self,
        execution_id: str,
        *,
        force: bool = False,
        grace: float = 30.0,
        wait: bool = True,
        reason: str = "stopped by `shipyard stop`",
    ) -> StopReport:
        """Stop a running execution (gracefully within ``grace``, or ``force``: at once);
        ``reason`` is recorded as why it ended."""

    def status(self, execution_id: str | None = None) -> ExecutionStatus:
        """One execution's status; the latest execution when no id is given."""

    def list_executions(
        self, *, active_only: bool = False, name: str | None = None, limit: int = 50
    ) -> list[ExecutionSummary]: ...

    def logs(
        self,
        execution_id: str,
        unit: str | None = None,
        *,
        tail: int | None = None,
        grep: str | None = None,
    ) -> Iterator[LogLine]:
        """A unit's (or every unit's) log lines, streamed: memory does not grow with the log."""

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the spec file."""
