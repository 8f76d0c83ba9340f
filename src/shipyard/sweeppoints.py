"""What a sweep records of its points (a point's end, the pending ones cancelled, the failure
count's wording): shared by the sweep's own loop (:mod:`shipyard.sweeprun`), the job-array
follower (:mod:`shipyard.slurmarray`) and the operations, so none of them imports another."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.models import ExecutionStatus
    from shipyard.sweeprun import SweepHost


def record_end(
    host: SweepHost,
    sweep_id: str,
    point: Mapping[str, Any],
    status: ExecutionStatus,
    *,
    timed_out: bool,
) -> bool:
    """Record how a point's execution ended, with its duration and the metrics its steps
    reported (a name reported twice: its last value); True if it counts as failed."""
    state = status.state.value
    reason = status.reason or _unit_reason(status)
    if timed_out and state != "succeeded":
        state, reason = "failed", reason or "timed out"
    elif state in ("lost", "stopped"):
        state = "failed"
    metrics = {metric.name: metric.value for metric in status.metrics}
    host.store.update_sweep_point(
        sweep_id,
        point["point_hash"],
        point["repeat"],
        state=state,
        reason=reason,
        duration=status.duration_seconds,
        metrics=metrics,
    )
    return state == "failed"


def _unit_reason(status: ExecutionStatus) -> str | None:
    """Why a failed execution failed, from its first failed step (the execution's own
    reason is left empty when a step's exit says it all)."""
    for unit in status.units:
        if unit.state.value == "failed":
            detail = unit.reason or (
                f"exit code {unit.exit_code}" if unit.exit_code is not None else "failed"
            )
            return f"{unit.name}: {detail}"
    return None


def cancel_pending(host: SweepHost, sweep_id: str, reason: str) -> None:
    for point in host.store.sweep_point_rows(sweep_id):
        if point["state"] == "pending":
            host.store.update_sweep_point(
                sweep_id, point["point_hash"], point["repeat"], state="cancelled", reason=reason
            )


def failed_points(failed: int, total: int) -> str:
    """ "1 of 1 point failed", "2 of 5 points failed"."""
    from shipyard.wording import plural

    return f"{failed} of {total} {plural('point', total)} failed"
