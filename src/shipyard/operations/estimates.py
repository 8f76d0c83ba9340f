"""The estimated end of a running pipeline, from its plan and the durations of earlier runs."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.models import ExecutionStatus

if TYPE_CHECKING:
    from shipyard.operations.clock import Clock
    from shipyard.store.base import Store

#: Earlier successful runs looked through for ones with the same parameters.
RUNS_SEARCHED = 50


def step_means(store: Store, status: ExecutionStatus) -> tuple[dict[str, float], str]:
    """The mean time of each step over the earlier runs the estimate rests on
    (:func:`shipyard.estimate.runs_to_estimate_from`), and the basis that names them."""
    from shipyard.estimate import PastRun, runs_to_estimate_from

    history = store.execution_history(name=status.name, succeeded_only=True, limit=RUNS_SEARCHED)
    runs = [PastRun(entry.execution_id, entry.parameters) for entry in history]
    chosen, basis = runs_to_estimate_from(runs, status.parameters)
    durations = store.unit_durations(chosen) if chosen else {}
    return {step: sum(times) / len(times) for step, times in durations.items()}, basis


def with_estimate(status: ExecutionStatus, store: Store, clock: Clock) -> ExecutionStatus:
    """``status`` with its estimated end (None when nothing is known to estimate from)."""
    from shipyard.estimate import expected_end, remaining_seconds

    try:
        plan = json.loads((Path(status.run_dir) / "plan.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return status
    means, basis = step_means(store, status)
    needs = {step["name"]: step["needs"] for step in plan["steps"]}
    now = datetime.fromtimestamp(clock.now(), UTC)
    seconds, why = remaining_seconds(
        status.units, needs, means, max_parallel=plan["max_parallel"], now=now
    )
    if seconds is None:
        return dataclasses.replace(status, estimated_end=None, estimate_basis=why)
    end = expected_end(status.units, means, seconds, now=now)
    return dataclasses.replace(status, estimated_end=end, estimate_basis=basis)
