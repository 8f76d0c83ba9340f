"""The estimated end of a running pipeline, from its plan and the durations of earlier runs."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.models import ExecutionStatus

if TYPE_CHECKING:
    from shipyard.operations.clock import Clock


def with_estimate(
    status: ExecutionStatus, history: dict[str, float], clock: Clock
) -> ExecutionStatus:
    """``status`` with its estimated end (None when nothing is known to estimate from)."""
    from shipyard.estimate import remaining_seconds

    try:
        plan = json.loads((Path(status.run_dir) / "plan.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return status
    needs = {step["name"]: step["needs"] for step in plan["steps"]}
    now = datetime.fromtimestamp(clock.now(), UTC)
    seconds, basis = remaining_seconds(
        status.units, needs, history, max_parallel=plan["max_parallel"], now=now
    )
    end = now + timedelta(seconds=seconds) if seconds is not None else None
    return dataclasses.replace(status, estimated_end=end, estimate_basis=basis)
