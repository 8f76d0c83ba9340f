"""Plain-text output for the fast paths (``run -q``): no Rich, nothing to import."""

from __future__ import annotations

from shipyard.models import ExecutionStatus
from shipyard.spec.quantities import format_duration


def summary_line(status: ExecutionStatus) -> str:
    """``exec_… succeeded 401/401 units in 0.42s`` (+ failures and the reason, when any)."""
    elapsed = format_duration(status.duration_seconds) if status.duration_seconds else "—"
    text = (
        f"{status.id} {status.state.value} {status.progress.done}/{status.progress.total} "
        f"units in {elapsed}"
    )
    if status.failed:
        text += f", {status.failed} failed"
    if status.reason:
        text += f" ({status.reason})"
    return text
