"""How long an active execution still needs, from the measured durations of earlier runs.

Pure: given the units' states, the dependency graph, the parallelism limit and the mean duration
of each step over earlier successful runs. The remaining time is the longer of the critical path
through the unfinished steps and their total work divided by the parallelism. Without a measured
duration for every unfinished step there is no estimate, and the reason says which one is missing.

Which earlier runs: those with the same parameters when there are any (a run with ``secs=30``
was estimated from one with ``secs=6``), else the latest ones, and the basis says which. Past
the estimate, the end stays where it was expected, so ``status`` says "overdue by …" instead of
"(in 0ms)".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shipyard.dag import critical_path
from shipyard.models import UnitState, UnitStatus


def remaining_seconds(
    units: Sequence[UnitStatus],
    needs: Mapping[str, Sequence[str]],
    means: Mapping[str, float],
    *,
    max_parallel: int,
    now: datetime,
) -> tuple[float | None, str]:
    """(seconds left or None, what the figure is based on / why there is none)."""
    unfinished = [unit for unit in units if not unit.state.finished]
    if not unfinished:
        return 0.0, "nothing left to run"
    missing = [unit.name for unit in unfinished if unit.name not in means]
    if missing:
        shown = ", ".join(missing[:3]) + (" …" if len(missing) > 3 else "")
        return None, f"no earlier successful run of {shown} to estimate from"
    weight: dict[str, float] = {}
    for unit in unfinished:
        left = means[unit.name]
        if unit.state == UnitState.RUNNING and unit.started_at is not None:
            left = max(0.0, left - (now - unit.started_at).total_seconds())
        weight[unit.name] = left
    graph = {name: [dep for dep in needs.get(name, ()) if dep in weight] for name in weight}
    _, longest = critical_path(graph, weight)
    seconds = max(longest, sum(weight.values()) / max(1, max_parallel))
    return seconds, "from the mean step durations of up to 5 earlier successful runs"


#: Earlier runs an estimate averages over, at most.
RUNS_AVERAGED = 5


@dataclass(frozen=True, slots=True)
class PastRun:
    """An earlier successful run of the same spec, as the estimate sees it."""

    id: str
    parameters: Mapping[str, object]


def runs_to_estimate_from(
    runs: Sequence[PastRun],
    parameters: Mapping[str, str | int | float | bool],
    *,
    last: int = RUNS_AVERAGED,
) -> tuple[list[str], str]:
    """The ids of the earlier runs (``runs``: newest first) whose step times the estimate
    averages, and the basis it shows: the latest ``last`` with the same ``parameters`` when
    any ran with them, else the latest ``last`` of all, saying that none had these."""
    same = [run.id for run in runs if dict(run.parameters) == dict(parameters)][:last]
    chosen = same or [run.id for run in runs[:last]]
    if not chosen:
        return [], "no earlier successful run to estimate from"
    if same:
        which = "earlier successful runs with the same parameters"
    else:
        from shipyard.spec.params import render_value  # a bool as the spec spells it: true

        given = ", ".join(
            f"{name}={render_value(value)}" for name, value in sorted(parameters.items())
        )
        which = f"the latest earlier successful runs (none had {given})"
    return chosen, f"from the mean step times of {which}: {', '.join(chosen)}"


def expected_end(
    units: Sequence[UnitStatus], means: Mapping[str, float], seconds: float, *, now: datetime
) -> datetime:
    """When the execution should end, given ``seconds`` left (from :func:`remaining_seconds`).
    With nothing left but running steps past their mean, the end is when the latest of them
    was expected to end — in the past, so the view can say how overdue it is."""
    if seconds > 0:
        return now + timedelta(seconds=seconds)
    ends = [
        unit.started_at + timedelta(seconds=means[unit.name])
        for unit in units
        if unit.state == UnitState.RUNNING and unit.started_at is not None and unit.name in means
    ]
    return min(now, max(ends)) if ends else now
