"""What some MCP tools return beyond a single operation's record: a seed tool that does one of
several things (``run_pipeline`` runs or, with ``dry_run``, plans) answers with one record that
holds either. Every field is a record of the protocol or plain data, so the tools' output
schemas come from the same types as the Python API's results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shipyard.analysis import MonitorSnapshot
from shipyard.api import CleanReport, LogLine, StopReport
from shipyard.checkpoint import Checkpoint
from shipyard.models import ExecutionStatus

Scalar = str | int | float | bool


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """What a run would do, from :meth:`shipyard.api.Specs.plan` (nothing ran)."""

    name: str
    mode: str
    parameters: dict[str, Scalar | None]
    steps: list[str]
    services: list[str]
    stages: list[list[str]]
    critical_path: list[str]
    critical_path_seconds: float | None = None
    ports: dict[str, int] = field(default_factory=dict)  # the port each service would get


@dataclass(frozen=True, slots=True)
class RunResult:
    """A run started (``execution``: its status, final unless ``background``) or, with
    ``dry_run``, only planned (``plan``)."""

    dry_run: bool
    execution: ExecutionStatus | None = None
    plan: PlanSummary | None = None


@dataclass(frozen=True, slots=True)
class StopResult:
    """A stop (or, with ``dry_run``, what it would cut) and the clean that followed it."""

    stop: StopReport
    clean: CleanReport | None = None


@dataclass(frozen=True, slots=True)
class LogsResult:
    execution_id: str
    action: str  # collect | search | export
    lines: list[LogLine]
    count: int  # lines read (all of them are in ``lines`` unless ``truncated``)
    truncated: bool = False
    output_path: str | None = None  # where ``export`` wrote them


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    action: str  # create | list | restore
    checkpoints: list[Checkpoint] = field(default_factory=list)
    execution: ExecutionStatus | None = None  # the new execution of a restore


@dataclass(frozen=True, slots=True)
class Monitoring:
    """Snapshots of one execution, ``interval`` seconds apart (fewer if it ended first)."""

    execution_id: str
    interval: float
    snapshots: list[MonitorSnapshot]


@dataclass(frozen=True, slots=True)
class ApiCallResult:
    command: str
    method: str
    ok: bool
    result: Any = None  # the operation's result, as JSON
    error: str | None = None
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class ApiResult:
    """``integrate_python_api``: each command's result, in order; the first error stops the
    rest (``skipped`` counts them). ``allowed``: the operations the language may call."""

    action: str
    results: list[ApiCallResult] = field(default_factory=list)
    skipped: int = 0
    allowed: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Purged:
    bytes: int


@dataclass(frozen=True, slots=True)
class ArtifactContent:
    """The start of one artifact a step's outputs left: as text when it is UTF-8, else as
    base64; ``truncated`` when the file is longer than what was read."""

    step: str
    path: str
    bytes_read: int
    truncated: bool
    text: str | None = None
    base64: str | None = None
