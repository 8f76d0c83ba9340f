"""Watching and judging executions: the monitor's snapshots, the analysis of a finished run,
a pipeline's history (issue 12 §4). The records every front end shows; the operations are
:class:`shipyard.operations.analysing.AnalysisOperations`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shipyard.models import Alert, ExecutionStatus

__all__ = [
    "Alert",
    "AnalysisReport",
    "DurationStats",
    "HistoryEntry",
    "MonitorSnapshot",
    "PipelineHistory",
    "Recommendation",
    "StepTiming",
    "UnitSample",
]


@dataclass(frozen=True, slots=True)
class UnitSample:
    """One unit at one instant of the monitor."""

    name: str
    state: str
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    elapsed_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class MonitorSnapshot:
    execution_id: str
    at: datetime
    status: ExecutionStatus
    units: list[UnitSample] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StepTiming:
    unit: str
    duration_seconds: float | None
    cpu_seconds: float | None = None
    rss_peak_bytes: int | None = None
    attempts: int = 0
    on_critical_path: bool = False
    baseline_seconds: float | None = None  # the same step in the baseline
    delta_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Recommendation:
    message: str
    evidence: str  # the measured figure it rests on


@dataclass(frozen=True, slots=True)
class AnalysisReport:
    execution_id: str
    name: str
    state: str
    duration_seconds: float | None
    critical_path: list[str] = field(default_factory=list)
    critical_path_seconds: float | None = None
    steps: list[StepTiming] = field(default_factory=list)
    bottlenecks: list[str] = field(default_factory=list)
    cpu_efficiency: float | None = None  # CPU seconds / (wall × cores)
    cores: int | None = None
    failures: dict[str, str] = field(default_factory=dict)  # unit → reason
    baseline_id: str | None = None
    baseline_basis: str | None = None  # why that baseline (or why none)
    recommendations: list[Recommendation] = field(default_factory=list)
    html_path: str | None = None


@dataclass(frozen=True, slots=True)
class DurationStats:
    count: int
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    execution_id: str
    state: str
    created_at: datetime
    duration_seconds: float | None = None
    parameters: dict[str, str | int | float | bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PipelineHistory:
    name: str
    executions: list[HistoryEntry] = field(default_factory=list)
    success_rate: float | None = None
    durations: DurationStats = field(default_factory=lambda: DurationStats(0))
    steps: dict[str, DurationStats] = field(default_factory=dict)
    basis: str | None = None  # which executions these are (registered name or spec name)
