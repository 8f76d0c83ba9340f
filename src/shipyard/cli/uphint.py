"""What to do next when a fleet did not come up: pure, so each case has a row in a table."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.models import ExecutionStatus


def not_up_hint(status: ExecutionStatus) -> str:
    """The hint under "EXEC did not come up: REASON". ``shipyard logs`` only when something
    ran and so wrote a log: a fleet refused before its first start (a port taken) has none."""
    failed = [hook for hook in status.hooks if hook.state.value == "failed"]
    if failed:  # nothing else started: the hook's own log says why
        return f"shipyard logs {status.id} {failed[0].name} shows what the hook said"
    if any(unit.started_at is not None or unit.attempts for unit in status.units):
        return f"shipyard logs {status.id} shows what the services said"
    reason = status.reason or ""
    if "is already in use" in reason:
        return (
            "nothing was started: stop what listens on that port, give the service another "
            "port, or use port: auto (a free one is picked)"
        )
    return "nothing was started, so there are no logs: fix the cause above and run up again"


def logs_hint(status: ExecutionStatus) -> str:
    """The ``shipyard logs`` line under a run that did not succeed: a failed hook's own log
    when a hook failed (no step wrote anything then), else the command with its STEP."""
    failed = [hook for hook in status.hooks if hook.state.value == "failed"]
    if failed:
        return f"shipyard logs {status.id} {failed[0].name}"
    return f"shipyard logs {status.id} [STEP]"
