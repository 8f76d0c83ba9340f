"""What to do next when a fleet did not come up: pure, so each case has a row in a table;
and the fleet as the store has it once it has ended by itself, for ``up -d`` to print."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.models import ExecutionStatus

#: How long ``up -d`` waits for the store to record the end of a fleet none of whose units
#: runs any more: its supervisor ends it at once (cleanup hooks may take a moment).
SETTLE_TIMEOUT = 10.0
SETTLE_INTERVAL = 0.05


def ending(status: ExecutionStatus) -> bool:
    """Whether ``status`` is a fleet that has not ended although nothing of it runs: every
    service (and step) has finished, so its supervisor is ending it — a header that showed
    this state would call a fleet "running" that has already failed."""
    return (
        not status.state.finished
        and any(unit.kind == "service" for unit in status.units)
        and all(unit.state.finished for unit in status.units)
    )


def settled(
    status: ExecutionStatus,
    look: Callable[[], ExecutionStatus],
    *,
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
    timeout: float = SETTLE_TIMEOUT,
) -> ExecutionStatus:
    """``status`` as the store has it once its end is recorded, when it is :func:`ending`
    (else as it is): what ``up -d`` prints is the store's state, never a stale "running".
    Past ``timeout`` the last look is returned (the store's word then, whatever it is)."""
    deadline = monotonic() + timeout
    while ending(status) and monotonic() < deadline:
        sleep(SETTLE_INTERVAL)
        status = look()
    return status


def not_up_hint(status: ExecutionStatus) -> str:
    """The hint under "EXEC did not come up: REASON". ``shipyard logs`` only when something
    ran and so wrote a log: a fleet refused before its first start (a port taken) has none."""
    if _failed_hook(status, after_units=False):  # nothing else started: its log says why
        return f"shipyard logs {status.id} _prepare shows what the hook said"
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
    """The ``shipyard logs`` line under a run that did not succeed: the prepare hook's own log
    when it failed (no step wrote anything then), else the command with its STEP."""
    if failed := _failed_hook(status, after_units=True):
        return f"shipyard logs {status.id} {failed}"
    return f"shipyard logs {status.id} [STEP]"


def _failed_hook(status: ExecutionStatus, *, after_units: bool) -> str | None:
    """The hook whose log says why: a failed prepare (then nothing else ran); with
    ``after_units``, also a failed cleanup when no step or service failed (then the cleanup is
    why a run failed). A cleanup never explains a fleet that did not come up, nor a failure of
    a step or service before it: their logs (or the reason) do."""
    failed = {hook.name for hook in status.hooks if hook.state.value == "failed"}
    if "_prepare" in failed:
        return "_prepare"
    units_failed = any(unit.state.value == "failed" for unit in status.units)
    if after_units and "_cleanup" in failed and not units_failed:
        return "_cleanup"
    return None
