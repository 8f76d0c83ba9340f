"""Parameter sweeps: many executions of one spec over a parameter matrix (issue 12 §2). The
records every front end shows; the operations are
:class:`shipyard.operations.sweeping.SweepOperations`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Scalar = str | int | float | bool


@dataclass(frozen=True, slots=True)
class SweepSettings:
    """How a sweep runs; also what a spec's ``sweep:`` block holds."""

    matrix: dict[str, list[Scalar]]  # parameter → its values
    zip_groups: list[list[str]] = field(default_factory=list)  # zipped together, not crossed
    repeat: int = 1
    max_parallel_runs: int = 1
    timeout_per_run: float | None = None  # seconds
    failure_threshold: float | None = None  # stop starting points past this failed fraction
    objective: str | None = None  # "metric:max" | "metric:min"
    slurm_array: bool = False  # the points as one Slurm job array (shipyard.slurmarray)


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One execution of the sweep: a point of the matrix, one of its repeats."""

    parameters: dict[str, Scalar]
    repeat: int  # 1-based
    point_hash: str  # the parameters' hash: what a resumed sweep matches on
    state: str  # pending | running | succeeded | failed | cancelled | skipped | lost
    execution_id: str | None = None
    duration_seconds: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # reported by its steps (last value)
    reason: str | None = None
    slurm_job: str | None = None  # its task of the sweep's Slurm job array: "12_3"


@dataclass(frozen=True, slots=True)
class ParameterStats:
    """A metric over the points sharing one value of one parameter (repeats included)."""

    parameter: str
    value: Scalar
    metric: str
    count: int
    mean: float
    std: float
    min: float
    max: float


@dataclass(frozen=True, slots=True)
class SweepReport:
    id: str
    name: str
    state: str  # pending | running | succeeded | failed | cancelled | stopped_early | lost
    created_at: datetime
    settings: SweepSettings
    points: list[SweepPoint] = field(default_factory=list)
    stats: list[ParameterStats] = field(default_factory=list)
    best: SweepPoint | None = None  # the best point for the objective
    ended_at: datetime | None = None
    reason: str | None = None
    spec_path: str | None = None
    best_value: float | None = None  # the objective's mean over the best point's repeats
    resumed_from: str | None = None  # the sweep whose succeeded points this one kept


def settings_from_json(data: Mapping[str, Any]) -> SweepSettings:
    """The settings a sweep's record keeps (``sweeps.settings``, JSON) as the record again."""
    return SweepSettings(
        matrix={name: list(values) for name, values in data["matrix"].items()},
        zip_groups=[list(group) for group in data.get("zip_groups", [])],
        repeat=int(data.get("repeat", 1)),
        max_parallel_runs=int(data.get("max_parallel_runs", 1)),
        timeout_per_run=data.get("timeout_per_run"),
        failure_threshold=data.get("failure_threshold"),
        objective=data.get("objective"),
        slurm_array=bool(data.get("slurm_array", False)),
    )
