"""How long an active execution still needs, from the measured durations of earlier runs.

Pure: given the units' states, the dependency graph, the parallelism limit and the mean duration
of each step over earlier successful runs. The remaining time is the longer of the critical path
through the unfinished steps and their total work divided by the parallelism. Without a measured
duration for every unfinished step there is no estimate, and the reason says which one is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

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
