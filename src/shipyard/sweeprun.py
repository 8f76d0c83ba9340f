"""The loop that runs a sweep's points, in the caller's process or in a sweep process of its
own (``python -m shipyard.sweeprun HOME SWEEP_ID``, what ``sweep(detach=True)`` starts).

Each point is an execution handed to a supervisor, as ``shipyard run -d`` does: in a process
without threads that is a fork of this one (no interpreter to start, the modules already
imported), which is what keeps a point's cost well under a separate ``shipyard run``'s
(docs/performance.md, bench/sweep.py). The loop waits on the supervisors' pidfds, so a point
that ends is seen at once without polling the store; the store is read once per wake-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shipyard.errors import ShipyardError
from shipyard.sweeppoints import cancel_pending, failed_points, record_end

if TYPE_CHECKING:
    from shipyard.api import StopReport
    from shipyard.models import ExecutionStatus
    from shipyard.operations.clock import Clock
    from shipyard.store.base import Store
    from shipyard.sweep import SweepSettings
    from shipyard.workspace import Workspace

#: The longest the loop sleeps between looks at the store (a stop request, a timeout).
TICK = 0.25
#: How often the sweep process says it is alive.
HEARTBEAT_EVERY = 1.0
#: How long the starter waits for a detached sweep process to record its pid.
START_WAIT = 30.0


class SweepHost(Protocol):
    """What the sweep needs of LocalOperations."""

    workspace: Workspace
    clock: Clock

    @property
    def store(self) -> Store: ...

    def _has_state(self) -> bool: ...

    def status(self, execution_id: str | None = None) -> ExecutionStatus: ...

    def run(
        self,
        spec: str | Path,
        params: Mapping[str, Any] | None = None,
        *,
        spec_text: str | None = None,
        detach: bool = False,
        hold: bool = False,
    ) -> ExecutionStatus: ...

    def stop(
        self,
        execution_id: str,
        *,
        force: bool = False,
        grace: float = 30.0,
        wait: bool = True,
        reason: str = ...,
    ) -> StopReport: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class _Running:
    point: dict[str, Any]
    execution_id: str
    started: float  # monotonic
    pidfd: int | None
    timed_out: bool = False


@dataclass(slots=True)
class _Loop:
    sweep_id: str
    settings: SweepSettings
    spec: str
    spec_text: str | None
    secrets: Mapping[str, str]
    pending: deque[dict[str, Any]]
    total: int
    failed: int
    running: dict[str, _Running] = field(default_factory=dict)
    stopped_early: str | None = None  # the reason, once the threshold was passed
    cancelled: bool = False
    beat: float = 0.0


def _loop_of(host: SweepHost, sweep_id: str, secrets: Mapping[str, str]) -> _Loop:
    from shipyard.sweep import settings_from_json

    row = host.store.sweep_row(sweep_id)
    if row is None:
        raise ShipyardError(f"there is no sweep '{sweep_id}'")
    points = host.store.sweep_point_rows(sweep_id)
    by_name = row["pipeline"] is not None
    return _Loop(
        sweep_id=sweep_id,
        settings=settings_from_json(row["settings"]),
        # A registered pipeline runs by its name (recorded as such, its stored defaults); a
        # file or a template runs the text the sweep was started with, the same at each point.
        spec=row["pipeline"] if by_name else row["spec_path"],
        spec_text=None if by_name else row["spec_text"],
        secrets=secrets,
        pending=deque(p for p in points if p["state"] == "pending"),
        total=len(points),
        failed=sum(p["state"] == "failed" for p in points),
    )


def drive_sweep(host: SweepHost, sweep_id: str, secrets: Mapping[str, str]) -> None:
    """Run the sweep's pending points to the end: up to ``max_parallel_runs`` at once, none
    started once the failure threshold is passed or a stop was asked for. A sweep asked to
    be a Slurm job array runs as one (:mod:`shipyard.slurmarray`)."""
    loop = _loop_of(host, sweep_id, secrets)
    if loop.settings.slurm_array:
        from shipyard.slurmarray.sweepside import drive_array

        drive_array(host, sweep_id)
        return
    _warm()
    try:
        while loop.pending or loop.running:
            _turn(host, loop)
    except BaseException:
        # Ctrl-C (or anything unexpected): no point is left running behind a sweep that ends.
        _stop_running(host, loop, "the sweep was interrupted")
        cancel_pending(host, sweep_id, "the sweep was interrupted")
        host.store.end_sweep(sweep_id, "cancelled", reason="interrupted", at=_now(host))
        raise
    state, reason = _final(host, loop)
    host.store.end_sweep(sweep_id, state, reason=reason, at=_now(host))


#: What a supervisor imports to drive an execution (measured: the modules a run adds to a
#: process that planned already). Imported once here, before the points' supervisors are forked
#: from this process, they are inherited: else each point's supervisor imports them again
#: before it records its pid, and the sweep waits for that at every start (docs/performance.md).
_ENGINE_MODULES = (
    "shipyard.engine.executor",
    "shipyard.engine.runners.local",
    "shipyard.engine.containment",
    "shipyard.engine.sampler",
    "shipyard.engine.wiring",
    "shipyard.operations.resuming",
)


def _warm() -> None:
    import importlib

    for name in _ENGINE_MODULES:
        importlib.import_module(name)


def _turn(host: SweepHost, loop: _Loop) -> None:
    if not loop.cancelled and host.store.sweep_stop_requested(loop.sweep_id):
        loop.cancelled = True
        loop.pending.clear()
        cancel_pending(host, loop.sweep_id, "the sweep was stopped")
        _stop_running(host, loop, "the sweep was stopped")
    while loop.pending and len(loop.running) < loop.settings.max_parallel_runs:
        _start(host, loop, loop.pending.popleft())
        _check_threshold(host, loop)  # a point that could not start counts as failed
    _wait(loop)
    for execution_id in list(loop.running):
        _follow(host, loop, execution_id)
    _check_threshold(host, loop)
    _enforce_timeouts(host, loop)
    now = time.monotonic()
    if now - loop.beat >= HEARTBEAT_EVERY:
        loop.beat = now
        host.store.sweep_heartbeat(loop.sweep_id, at=_now(host))


def _start(host: SweepHost, loop: _Loop, point: dict[str, Any]) -> None:
    key = (loop.sweep_id, point["point_hash"], point["repeat"])
    params = {**point["parameters"], **loop.secrets}
    started = _now(host)
    try:
        status = host.run(loop.spec, params, spec_text=loop.spec_text, detach=True)
    except ShipyardError as error:
        loop.failed += 1
        host.store.update_sweep_point(*key, state="failed", reason=error.message)
        return
    pid, _ = host.store.supervisor(status.id)
    host.store.update_sweep_point(*key, state="running", execution_id=status.id, started_at=started)
    loop.running[status.id] = _Running(point, status.id, time.monotonic(), _pidfd(pid))


def _pidfd(pid: int | None) -> int | None:
    """A descriptor that becomes readable when the supervisor exits; None: poll the store."""
    if pid is None:
        return None
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):  # gone already, or a kernel without pidfds
        return None


def _wait(loop: _Loop) -> None:
    """Until a supervisor exits, or the next look at the store is due (a point's timeout
    included)."""
    fds = [r.pidfd for r in loop.running.values() if r.pidfd is not None]
    # Points without a pidfd are seen by reading the store: look again soon.
    timeout = 0.02 if len(fds) < len(loop.running) else TICK
    limit = loop.settings.timeout_per_run
    starts = [r.started for r in loop.running.values() if not r.timed_out]
    if limit is not None and starts:
        timeout = max(0.0, min(timeout, min(starts) + limit - time.monotonic()))
    if fds:
        select.select(fds, [], [], timeout)
    else:
        time.sleep(timeout)


def _follow(host: SweepHost, loop: _Loop, execution_id: str) -> None:
    running = loop.running[execution_id]
    if running.pidfd is not None:
        readable, _, _ = select.select([running.pidfd], [], [], 0)
        if not readable:
            return  # its supervisor runs: the execution is not over
    state = host.store.execution_state(execution_id)
    if state is None or not state.finished:
        if running.pidfd is None:
            return
        # Its supervisor exited without an end state: status says lost (and why).
        status = host.status(execution_id)
        if not status.state.finished:
            return
    if running.pidfd is not None:
        os.close(running.pidfd)
    del loop.running[execution_id]
    status = host.status(execution_id)
    if record_end(host, loop.sweep_id, running.point, status, timed_out=running.timed_out):
        loop.failed += 1


def _check_threshold(host: SweepHost, loop: _Loop) -> None:
    from shipyard.plan.sweepmatrix import past_threshold

    threshold = loop.settings.failure_threshold
    if loop.stopped_early or not loop.pending:
        return
    if past_threshold(loop.failed, loop.total, threshold):
        left = len(loop.pending)
        loop.stopped_early = (
            f"{failed_points(loop.failed, loop.total)} ({loop.failed / loop.total:.0%}), "
            f"past the failure threshold of {threshold:.0%}: {left} not started"
        )
        for point in loop.pending:
            host.store.update_sweep_point(
                loop.sweep_id,
                point["point_hash"],
                point["repeat"],
                state="skipped",
                reason="not started: the failure threshold was passed",
            )
        loop.pending.clear()


def _enforce_timeouts(host: SweepHost, loop: _Loop) -> None:
    from shipyard.spec.quantities import format_duration

    limit = loop.settings.timeout_per_run
    if limit is None:
        return
    now = time.monotonic()
    for running in loop.running.values():
        if not running.timed_out and now - running.started > limit:
            running.timed_out = True
            with contextlib.suppress(ShipyardError):  # it ended meanwhile
                host.stop(
                    running.execution_id,
                    force=True,
                    wait=False,
                    reason=f"timed out: ran longer than the sweep's timeout_per_run "
                    f"({format_duration(limit)})",
                )


def _stop_running(host: SweepHost, loop: _Loop, reason: str) -> None:
    for running in loop.running.values():
        with contextlib.suppress(ShipyardError):
            host.stop(running.execution_id, grace=0.0, wait=False, reason=reason)


def stop_points(host: SweepHost, sweep_id: str) -> None:
    """Stop every running point of a sweep whose loop is gone, and record how they ended."""
    for point in host.store.sweep_point_rows(sweep_id):
        # A pending point with an execution is an array task still queued: stopped too.
        if point["state"] not in ("running", "pending") or not point["execution_id"]:
            continue
        with contextlib.suppress(ShipyardError):
            host.stop(point["execution_id"], grace=0.0, reason="the sweep was stopped")
        record_end(host, sweep_id, point, host.status(point["execution_id"]), timed_out=False)


def _final(host: SweepHost, loop: _Loop) -> tuple[str, str | None]:
    points = host.store.sweep_point_rows(loop.sweep_id)
    failed = sum(p["state"] == "failed" for p in points)
    if loop.cancelled:
        return "cancelled", "stopped by shipyard sweep stop"
    if loop.stopped_early:
        return "stopped_early", loop.stopped_early
    if failed:
        return "failed", failed_points(failed, len(points))
    return "succeeded", None


def _now(host: SweepHost) -> float:
    return host.clock.now()


# -- the sweep process (detach) ----------------------------------------------------------------


def log_path(workspace: Workspace, sweep_id: str) -> Path:
    return workspace.home / "sweeps" / f"{sweep_id}.log"


def start_detached(host: SweepHost, sweep_id: str, secrets: Mapping[str, str]) -> None:
    """Start ``python -m shipyard.sweepprocess`` for the sweep and return once it runs (its pid is
    recorded). A fresh interpreter, not a fork: the caller may have threads (an MCP server).
    The secrets go through a pipe, never a file or the command line."""
    import subprocess

    from shipyard.workspace import open_private

    log = log_path(host.workspace, sweep_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "shipyard.sweepprocess", str(host.workspace.home), sweep_id]
    with open(open_private(log), "ab") as out:
        code = subprocess.run(
            command,
            input=json.dumps(dict(secrets)).encode(),
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    deadline = time.monotonic() + START_WAIT
    while code == 0 and time.monotonic() < deadline:
        row = host.store.sweep_row(sweep_id)
        if row is None or row["supervisor_pid"] is not None or row["state"] != "pending":
            return
        time.sleep(0.01)
    host.store.end_sweep(sweep_id, "failed", reason="its process did not start", at=_now(host))
    raise ShipyardError(
        f"the process of sweep {sweep_id} did not start",
        hint=f"its output ({log}):\n{log.read_text(errors='replace')[-1500:]}",
    )
