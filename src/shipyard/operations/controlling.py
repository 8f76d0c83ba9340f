"""Asking a running execution to do something, over its control socket (``runs/<id>/
control.sock``, see :mod:`shipyard.control`), and waiting in the store for the outcome, which
is where every outcome is recorded anyway."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError
from shipyard.models import ExecutionStatus, UnitState, UnitStatus
from shipyard.operations.core import Core

if TYPE_CHECKING:
    from shipyard.api import StopReport
    from shipyard.operations.clock import Clock
    from shipyard.workspace import RunDir


def send(socket: Path, status: ExecutionStatus, request: dict[str, Any]) -> dict[str, Any]:
    """One request to the process running ``status``; a clear error if it is not running."""
    from shipyard import control

    if status.state.finished:
        raise ShipyardError(
            f"{status.id} is not running ({status.state.value})",
            hint="bring it up: shipyard up",
        )
    return control.request(socket, request)


def ask_to_stop(socket: Path, pid: int, request: dict[str, Any]) -> None:
    """Send a stop request; when the socket does not answer, SIGTERM the process (its signal
    handler reads the instructions from the store, written there first)."""
    import os
    import signal

    from shipyard import control
    from shipyard.errors import ControlUnavailable

    try:
        control.request(socket, request)
    except ControlUnavailable:
        os.kill(pid, signal.SIGTERM)


def notify_healthy(socket: Path, timeout: float) -> None:
    """Return when the execution's supervisor says every service is healthy (or cannot say)."""
    import contextlib

    from shipyard import control
    from shipyard.errors import ControlUnavailable

    with contextlib.suppress(ControlUnavailable):
        control.request(socket, {"op": "wait_healthy"}, timeout=timeout)


def poll_until(
    look: Callable[[], ExecutionStatus],
    done: Callable[[ExecutionStatus], bool],
    *,
    clock: Clock,
    timeout: float,
    interval: float,
) -> tuple[ExecutionStatus, bool]:
    """Look at the execution until ``done`` says so or ``timeout`` has passed: the last status
    seen, and whether it is done."""
    deadline = clock.monotonic() + timeout
    while True:
        status = look()
        if done(status):
            return status, True
        if clock.monotonic() > deadline:
            return status, False
        time.sleep(interval)


def await_service(
    look: Callable[[], ExecutionStatus],
    service: str,
    reached: Callable[[UnitStatus], bool],
    *,
    clock: Clock,
    what: str,
    timeout: float = 60.0,
) -> UnitStatus:
    """Poll a service's record until ``reached`` says so; an error after ``timeout``."""
    status, done = poll_until(
        look, lambda now: reached(now.unit(service)), clock=clock, timeout=timeout, interval=0.02
    )
    if not done:
        raise ShipyardError(f"service '{service}' is not {what} after {timeout:g}s")
    return status.unit(service)


def service_action(
    socket: Path,
    status: ExecutionStatus,
    service: str,
    action: str,
    *,
    look: Callable[[], ExecutionStatus],
    clock: Clock,
) -> UnitStatus:
    """``start``, ``stop`` or ``restart`` one service of a running fleet, and return its record
    once the action shows: stopped, or healthy (with a new process, for a restart)."""
    unit = _service_unit(status, service)
    if action == "restart" and (
        status.state.finished or unit.state != UnitState.RUNNING or not unit.pid
    ):
        raise ShipyardError(f"service '{service}' of {status.id} is not running")
    send(socket, status, {"op": "service", "action": action, "name": service})
    reached, what = _reached(action, service, unit)
    return await_service(look, service, reached, clock=clock, what=what)


def _reached(
    action: str, service: str, before: UnitStatus
) -> tuple[Callable[[UnitStatus], bool], str]:
    """When ``action`` on ``service`` is done (and what that is called in an error)."""
    if action == "stop":
        return (lambda now: now.state == UnitState.STOPPED), "stopped"
    if action == "start":
        return (lambda now: now.state == UnitState.RUNNING and now.health == "healthy"), "healthy"

    def back(now: UnitStatus) -> bool:
        if now.state.finished and now.state != UnitState.STOPPED:
            raise ShipyardError(f"service '{service}' did not come back: {now.reason}")
        return now.pid != before.pid and now.health == "healthy"

    return back, "healthy again"


def _service_unit(status: ExecutionStatus, service: str) -> UnitStatus:
    unit = next((u for u in status.units if u.name == service and u.kind == "service"), None)
    if unit is None:
        names = ", ".join(u.name for u in status.units if u.kind == "service") or "none"
        raise ShipyardError(f"{status.id} has no service '{service}'", hint=f"services: {names}")
    return unit


def wait_healthy(
    socket: Path,
    status: ExecutionStatus,
    look: Callable[[], ExecutionStatus],
    *,
    clock: Clock,
    timeout: float,
) -> ExecutionStatus:
    """Wait until every service is healthy, one has ended (it will not become healthy: a
    service that exited under a policy that keeps it down once held this wait for its whole
    timeout), or the execution has ended: told by its supervisor over the control socket,
    else by watching the store."""
    deadline = clock.monotonic() + timeout
    if not status.state.finished:
        notify_healthy(socket, timeout)

    def settled(now: ExecutionStatus) -> bool:
        services = [unit for unit in now.units if unit.kind == "service"]
        return (
            now.state.finished
            or all(unit.health == "healthy" for unit in services)
            or any(unit.state.finished for unit in services)
        )

    status, done = poll_until(
        look, settled, clock=clock, timeout=deadline - clock.monotonic(), interval=0.01
    )
    if not done:
        raise ShipyardError(
            f"{status.id} is not healthy after {timeout:g}s",
            hint=f"shipyard ps {status.id} shows which service is not",
        )
    return status


def stop_impact(status: ExecutionStatus, run_dir: RunDir) -> StopReport:
    """What stopping ``status`` would do: which units are running (and get stopped), which
    would never start."""
    from shipyard.api import StopReport

    if status.state.finished:
        raise ShipyardError(
            f"execution {status.id} already finished ({status.state.value})",
            hint="nothing to stop; `shipyard status` shows how it ended",
        )
    # Steps started in the last moments may not be in the store yet: the journal has them.
    journaled = {unit for _, _, unit in run_dir.started()}
    running = [
        u.name
        for u in status.units
        if u.state == UnitState.RUNNING or (u.state == UnitState.PENDING and u.name in journaled)
    ]
    never = [
        u.name
        for u in status.units
        if u.state in (UnitState.PENDING, UnitState.RETRYING) and u.name not in running
    ]
    return StopReport(execution_id=status.id, running=running, never_start=never)


class StopOperations:
    """The stop part of LocalOperations."""

    def stop_impact(self: Core, execution_id: str) -> StopReport:
        """What `stop` would do, without doing it."""
        status = self.status(execution_id)
        return stop_impact(status, self.workspace.run_dir(status.id))

    def stop(
        self: Core,
        execution_id: str,
        *,
        force: bool = False,
        grace: float = 30.0,
        wait: bool = True,
        reason: str = "stopped by `shipyard stop`",
    ) -> StopReport:
        """Stop a running execution, in this process or detached.

        Graceful: nothing new starts, running steps may finish within ``grace`` seconds, then get
        their stop signal (SIGKILL after their own stop timeout). ``force``: every process group
        is killed now. Stopped units keep their logs and records.
        """
        from shipyard.engine.liveness import pid_alive
        from shipyard.slurmarray.points import cancel_queued

        _check_grace(grace)
        status = self.status(execution_id)
        report = stop_impact(status, self.workspace.run_dir(status.id))
        pid, _ = self.store.supervisor(report.execution_id)
        self.store.request_stop(report.execution_id, force=force, grace=grace, at=self.clock.now())
        run_dir = self.workspace.run_dir(report.execution_id)
        if pid is None and cancel_queued(self.store, run_dir, report.execution_id, self.clock):
            pass  # a sweep point whose Slurm array task is still queued: cancelled now
        elif pid is None or not pid_alive(pid):
            self._reconcile(report.execution_id)
        else:
            socket = self.workspace.run_dir(report.execution_id).control
            request = {"op": "stop", "force": force, "grace": grace, "reason": reason}
            ask_to_stop(socket, pid, request)
        final = self.status(report.execution_id)
        if wait and not final.state.finished:
            look, timeout = self._looker(report.execution_id), (0 if force else grace) + 60
            final, _ = poll_until(
                look, lambda s: s.state.finished, clock=self.clock, timeout=timeout, interval=0.1
            )
        return dataclasses.replace(report, force=force, grace=grace, state=final.state)


#: The longest grace a stop takes: a spec's durations stop at 365 days too.
MAX_GRACE = 365 * 86400.0


def _check_grace(grace: float) -> None:
    """The CLI's --grace is a duration (never negative); the protocol took any number — a
    negative grace was recorded as given, and a huge one held the caller waiting for it."""
    import math

    if isinstance(grace, bool) or not isinstance(grace, int | float):
        raise ShipyardError(f"grace={grace!r:.40} is not a number of seconds", hint="e.g. 30")
    if not (math.isfinite(grace) and 0 <= grace <= MAX_GRACE):
        raise ShipyardError(
            f"grace={grace} is outside 0 to {MAX_GRACE:.0f} seconds (365 days)",
            hint="e.g. 30; force=true stops at once",
        )
