"""A pipeline's record over time (issue 15 §3): rates, duration percentiles, throughput and
anomalies, measured from the executions the store holds. Records and pure functions; the
operation that reads the store is :mod:`shipyard.operations.measuring`, the chart
:mod:`shipyard.metricschart`.

An anomaly is a duration far from the usual by the *modified z-score* of Iglewicz and Hoaglin:
``z = 0.6745 · (x − median) / MAD`` (MAD: the median of the absolute deviations from the
median; 0.6745 makes it comparable to a standard deviation for normal data), flagged past 3.5.
Median and MAD are robust: the slow run being judged barely moves them, where a mean and a
standard deviation would stretch to include it. When more than half the durations are equal
the MAD is 0; the mean absolute deviation stands in for it then (``z = (x − median) /
(1.253314 · meanAD)``, the same authors' fallback), and when that is 0 too every duration is
the median and none is an anomaly.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from shipyard.alerts import percentile
from shipyard.analysis import DurationStats

__all__ = [
    "MAD_FACTOR",
    "MEAN_AD_FACTOR",
    "MIN_SAMPLES",
    "THRESHOLD",
    "Anomaly",
    "DurationStats",
    "PipelineMetrics",
    "RobustScore",
    "RunPoint",
    "anomalies",
    "duration_stats",
    "percentile",
    "robust_z",
    "throughput_per_day",
]

#: 0.6745: the 0.75 quantile of the standard normal, so MAD/0.6745 estimates σ.
MAD_FACTOR = 0.6745
#: The mean absolute deviation of normal data is σ·√(2/π); 1/√(2/π) ≈ 1.253314.
MEAN_AD_FACTOR = 1.253314
#: A modified z-score past this is an anomaly (Iglewicz and Hoaglin's recommendation).
THRESHOLD = 3.5
#: Durations needed before any is judged: with fewer, "usual" is not known yet.
MIN_SAMPLES = 5


@dataclass(frozen=True, slots=True)
class RobustScore:
    value: float
    median: float
    mad: float
    z: float
    scale: str  # "MAD", "meanAD" (MAD was 0) or "none" (every value equal)


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A run (``step`` None) or one step of a run whose duration is far from the usual."""

    execution_id: str
    step: str | None
    at: datetime  # when the execution was created
    value: float  # its duration, seconds
    median: float
    mad: float
    z: float
    scale: str
    samples: int  # how many durations the median and MAD rest on


@dataclass(frozen=True, slots=True)
class RunPoint:
    """One execution as the chart draws it: when, how it ended, how long it and its steps took."""

    execution_id: str
    created_at: datetime
    state: str
    duration_seconds: float | None
    steps: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PipelineMetrics:
    name: str
    basis: str  # which executions these are (registered name or spec name)
    since: datetime | None
    window_seconds: float | None  # from ``since`` (else the first run) to now
    runs: int
    finished: int
    succeeded: int
    failed: int  # finished without succeeding (failed, cancelled, lost, stopped)
    states: dict[str, int] = field(default_factory=dict)
    success_rate: float | None = None  # of the finished runs
    failure_rate: float | None = None
    throughput_per_day: float | None = None
    durations: DurationStats = field(default_factory=lambda: DurationStats(0))
    steps: dict[str, DurationStats] = field(default_factory=dict)
    anomalies: list[Anomaly] = field(default_factory=list)
    threshold: float = THRESHOLD
    notes: list[str] = field(default_factory=list)  # what could not be judged, and why
    points: list[RunPoint] = field(default_factory=list)  # oldest first
    chart_path: str | None = None


def duration_stats(values: Sequence[float]) -> DurationStats:
    """Count and p50/p95/p99 (linear interpolation between ranks, as numpy's default)."""

    def rounded(q: float) -> float | None:
        found = percentile(values, q)
        return round(found, 6) if found is not None else None

    return DurationStats(len(values), rounded(50), rounded(95), rounded(99))


def robust_z(value: float, values: Sequence[float]) -> RobustScore:
    """The modified z-score of ``value`` among ``values`` (see the module's doc)."""
    if not values:
        raise ValueError("no values to score against")
    median = statistics.median(values)
    mad = statistics.median([abs(x - median) for x in values])
    if mad > 0:
        return RobustScore(value, median, mad, MAD_FACTOR * (value - median) / mad, "MAD")
    mean_ad = statistics.fmean([abs(x - median) for x in values])
    if mean_ad > 0:
        z = (value - median) / (MEAN_AD_FACTOR * mean_ad)
        return RobustScore(value, median, mad, z, "meanAD")
    z = 0.0 if value == median else math.copysign(math.inf, value - median)
    return RobustScore(value, median, mad, z, "none")


def anomalies(
    series: Sequence[tuple[str, datetime, float]],
    *,
    step: str | None = None,
    threshold: float = THRESHOLD,
    minimum: int = MIN_SAMPLES,
) -> list[Anomaly]:
    """The entries of ``series`` — (execution id, when, seconds) — whose modified z-score's
    size is past ``threshold``, slowest first; none when there are fewer than ``minimum``."""
    if len(series) < minimum:
        return []
    values = [seconds for _, _, seconds in series]
    found = []
    for execution_id, at, seconds in series:
        score = robust_z(seconds, values)
        if abs(score.z) > threshold:
            found.append(
                Anomaly(
                    execution_id,
                    step,
                    at,
                    round(seconds, 6),
                    round(score.median, 6),
                    round(score.mad, 6),
                    round(score.z, 3) if math.isfinite(score.z) else score.z,
                    score.scale,
                    len(values),
                )
            )
    return sorted(found, key=lambda anomaly: -abs(anomaly.z))


def throughput_per_day(runs: int, window_seconds: float | None) -> float | None:
    """Runs per day over the window; None for an empty window (nothing to divide by)."""
    if window_seconds is None or window_seconds <= 0:
        return None
    return round(runs / (window_seconds / 86_400.0), 3)
