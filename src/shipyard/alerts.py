"""When a running unit deserves an alert (issue 12 §4). Pure: no I/O, no clock.

The engine asks :func:`due_alerts` at each resource sample of a running step and records what
it returns as ``alert`` events, once per unit attempt and kind — so alerts exist whether anybody
watches or not. Two kinds:

- ``memory``: the unit's measured RSS (its whole process tree) passed the memory the step
  reserved (``resources: {memory: 2G}`` in the spec: what the scheduler counted it for);
- ``duration``: it has run longer than the p95 of its own history — the durations of the same
  step in earlier successful runs of the same spec, at least :data:`MIN_HISTORY` of them (a p95
  of one or two runs is no statistic) — by more than :data:`MIN_EXCESS_SECONDS`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from shipyard.spec.quantities import format_duration, format_size

#: Earlier successful runs a step needs before its p95 can raise a duration alert.
MIN_HISTORY = 3
#: The most recent successful runs a step's p95 is taken over.
HISTORY_RUNS = 20
#: How far past its p95 a step must be before it is alerted on: without it, a step sleeping
#: 0.1 s was alerted on in testing, the jitter of starting a process and of the sampling tick
#: taking it past a p95 of runs that were all about 0.1 s.
MIN_EXCESS_SECONDS = 0.5

MEMORY = "memory"
DURATION = "duration"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of ``values`` by linear interpolation between the two
    nearest ranks (numpy's default); None for no values."""
    if not values:
        return None
    if not 0.0 <= q <= 100.0 or math.isnan(q):
        raise ValueError(f"percentile {q} is not within 0-100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class DurationLimit:
    """The p95 of a step's earlier successful durations, and how many runs it rests on."""

    p95: float
    runs: int


def duration_limit(durations: Sequence[float]) -> DurationLimit | None:
    """The duration past which a step is alerted on, or None when its history is too short."""
    if len(durations) < MIN_HISTORY:
        return None
    p95 = percentile(durations, 95.0)
    assert p95 is not None
    return DurationLimit(p95, len(durations))


@dataclass(frozen=True, slots=True)
class UnitLook:
    """One running unit at one sample: what was measured and what it is held to."""

    rss_bytes: int | None  # measured RSS of the tree now; None before the first sample
    elapsed_seconds: float
    memory_limit: int | None = None  # bytes reserved (resources.memory), None: no limit
    duration: DurationLimit | None = None


def due_alerts(look: UnitLook, raised: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """The alerts ``look`` calls for that were not ``raised`` already for this attempt, as
    (kind, message); each message says what was measured against what."""
    due: list[tuple[str, str]] = []
    limit = look.memory_limit
    if (
        MEMORY not in raised
        and limit is not None
        and look.rss_bytes is not None
        and look.rss_bytes > limit
    ):
        due.append(
            (
                MEMORY,
                f"RSS {format_size(look.rss_bytes)} passed its memory limit "
                f"{format_size(limit)} (resources.memory)",
            )
        )
    history = look.duration
    if (
        DURATION not in raised
        and history is not None
        and look.elapsed_seconds > history.p95 + MIN_EXCESS_SECONDS
    ):
        due.append(
            (
                DURATION,
                f"running for {format_duration(look.elapsed_seconds)}, longer than the p95 "
                f"({format_duration(history.p95)}) of its {history.runs} earlier successful runs",
            )
        )
    return due
