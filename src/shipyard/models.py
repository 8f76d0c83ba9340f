"""Records of executions, as the store keeps them and every front end shows them.

These are frozen stdlib dataclasses rather than Pydantic models on purpose: ``shipyard status``
and ``shipyard list`` must answer in well under 150 ms, and importing Pydantic alone costs most of
that. They are still typed, documented records: :func:`to_jsonable` gives their stable JSON
form (``--json``), and Pydantic's ``TypeAdapter`` validates or describes them where a schema is
needed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any


class ExecutionState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"  # stopped by a user (Ctrl-C, stop)
    STOPPED = "stopped"  # a fleet brought down
    LOST = "lost"  # its supervisor died without finishing it

    @property
    def finished(self) -> bool:
        return self not in (ExecutionState.PENDING, ExecutionState.RUNNING)


class UnitState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"  # failed, waiting for its backoff before the next attempt
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # never started: a dependency failed, or the run was stopped
    CANCELLED = "cancelled"  # was running when the execution was stopped
    STOPPED = "stopped"  # a service that was stopped (or exited cleanly and stays down)
    DISABLED = "disabled"  # enabled: false in the spec
    GATED = "gated"  # exited 0, but a quality gate on its metrics failed: dependants skipped

    @property
    def finished(self) -> bool:
        return self not in (UnitState.PENDING, UnitState.RUNNING, UnitState.RETRYING)


def timestamp(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 6)


@dataclass(frozen=True, slots=True)
class ResourceUsage:
    """Measured use of one attempt's whole process tree (psutil samples + the kernel's rusage).

    A figure that was not measured is None, never a guess: a step shorter than the sampling
    interval has its CPU time (from wait4) but no memory figure.
    """

    cpu_percent_peak: float | None = None  # 100 = one core busy
    cpu_percent_mean: float | None = None
    rss_peak_bytes: int | None = None
    rss_mean_bytes: int | None = None
    read_bytes: int | None = None
    write_bytes: int | None = None
    cpu_seconds: float | None = None  # user + system time of the leader and what it waited for
    samples: int = 0
    #: The latest sample of a running attempt (CPU % since the sample before, RSS now); None
    #: once the attempt has ended (its record keeps the peaks and means).
    cpu_percent_now: float | None = None
    rss_now_bytes: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResourceUsage:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


@dataclass(frozen=True, slots=True)
class Attempt:
    unit: str
    number: int
    state: UnitState
    started_at: datetime | None
    ended_at: datetime | None
    exit_code: int | None = None
    signal: str | None = None
    reason: str | None = None
    pid: int | None = None
    resources: ResourceUsage = field(default_factory=ResourceUsage)

    @property
    def duration_seconds(self) -> float | None:
        return seconds_between(self.started_at, self.ended_at)


@dataclass(frozen=True, slots=True)
class UnitStatus:
    name: str
    state: UnitState
    kind: str = "step"
    attempts: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    pid: int | None = None
    log_path: str | None = None
    resources: ResourceUsage = field(default_factory=ResourceUsage)
    # services only
    port: int | None = None
    url: str | None = None
    health: str | None = None  # starting | healthy | unhealthy
    restarts: int = 0
    #: Its last health probe: what it saw ("HTTP 503 from /health", "connection refused by
    #: 127.0.0.1:8123…") and whether that passed; None before the first probe.
    probe: str | None = None
    probe_ok: bool | None = None
    #: Where it runs (issue 16): the host's name for the ssh runner, ``slurm`` (or the job's
    #: node) for Slurm; None here, on the local runner. Read from the run folder's nodes.json.
    node: str | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int

    @property
    def percent(self) -> float:
        return round(100.0 * self.done / self.total, 1) if self.total else 100.0


@dataclass(frozen=True, slots=True)
class ExecutionSummary:
    id: str
    name: str
    state: ExecutionState
    mode: str
    created_at: datetime
    progress: Progress
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: float | None = None
    failed: int = 0


@dataclass(frozen=True, slots=True)
class Metric:
    """A figure a step reported by appending a JSON line to ``$SHIPYARD_METRICS``
    (``{"name": "bw_mib", "value": 812.5, "unit": "MiB/s"}``); kept per attempt."""

    unit: str  # the step that reported it
    attempt: int
    name: str
    value: float
    unit_label: str | None = None  # the figure's unit ("MiB/s"); ``unit`` is the step


@dataclass(frozen=True, slots=True)
class Artifact:
    """A file a step's declared outputs left in its artifacts folder (what a step that needs
    it is handed): its path there, its size and its SHA-256, recorded when it was copied."""

    unit: str  # the step that wrote it
    path: str  # relative to the run's artifacts/<unit>/
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ArtifactChunk:
    """A piece of an artifact's bytes, in order (``data``: base64, so it crosses JSON);
    ``offset``: where it starts in the file; the last one has ``last`` set."""

    offset: int
    data: str
    last: bool = False

    @property
    def raw(self) -> bytes:
        import base64  # here: status and list never need it

        return base64.b64decode(self.data)


@dataclass(frozen=True, slots=True)
class GateApproval:
    """A failed quality gate passed on purpose by a person (``shipyard gate approve``)."""

    unit: str  # the gated step
    approved_by: str
    reason: str
    at: datetime
    #: The gates that had failed, as their messages said then.
    gates: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Alert:
    """A unit past a limit while it ran (its RSS over its memory limit, its time over the p95
    of its history): raised by the engine as an ``alert`` event, shown by ``status``."""

    unit: str
    kind: str  # memory | duration
    message: str  # what was measured against what
    at: datetime
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class ExecutionStatus:
    id: str
    name: str
    state: ExecutionState
    mode: str
    created_at: datetime
    progress: Progress
    run_dir: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: float | None = None
    failed: int = 0
    spec_path: str | None = None
    parameters: dict[str, str | int | float | bool] = field(default_factory=dict)
    reason: str | None = None
    units: list[UnitStatus] = field(default_factory=list)
    #: When an active execution should end, from earlier runs' measured durations; None without.
    estimated_end: datetime | None = None
    estimate_basis: str | None = None  # what the estimate rests on, or why there is none
    #: The process running the execution (foreground command or detached supervisor), while
    #: it runs.
    supervisor_pid: int | None = None
    #: What its steps reported through ``$SHIPYARD_METRICS``, oldest first.
    metrics: list[Metric] = field(default_factory=list)
    #: The registered pipeline it ran as (``shipyard run NAME``), if any.
    pipeline: str | None = None
    #: Units that passed a limit while they ran (``alert`` events), oldest first.
    alerts: list[Alert] = field(default_factory=list)
    #: Its hooks that ran, as units of kind ``hook`` (``_prepare``, ``_cleanup``: one a
    #: phase, its commands its attempts), apart from ``units``: they count in no progress.
    hooks: list[UnitStatus] = field(default_factory=list)
    #: Failed quality gates a person passed on purpose (``shipyard gate approve``).
    approvals: list[GateApproval] = field(default_factory=list)

    def unit(self, name: str) -> UnitStatus:
        for unit in self.every_unit():
            if unit.name == name:
                return unit
        raise KeyError(name)

    def every_unit(self) -> list[UnitStatus]:
        """The prepare hooks, the units, the cleanup hooks: in the order they run."""
        before = [hook for hook in self.hooks if hook.name == "_prepare"]
        after = [hook for hook in self.hooks if hook.name != "_prepare"]
        return [*before, *self.units, *after]


@dataclass(frozen=True, slots=True)
class Event:
    """One line of an execution's event log. ``action`` is a stable key to filter on."""

    ts: float
    execution_id: str
    action: str
    unit: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


_SCALARS = (str, int, float, bool, type(None))
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def to_jsonable(value: Any) -> Any:
    """The stable JSON form of a record (or list of records): enums as their value, datetimes
    as ISO 8601 in UTC, ``Progress`` with its percentage."""
    if isinstance(value, _SCALARS) and not isinstance(value, Enum):
        return value
    kind = type(value)
    names = _FIELD_NAMES.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        result = {name: to_jsonable(getattr(value, name)) for name in names}
        if isinstance(value, Progress):
            result["percent"] = value.percent
        return result
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    return value
