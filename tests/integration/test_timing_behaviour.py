"""Timing behaviour that used to break without any test noticing (issue 9 item 8).

Each test watches a public seam — the store's attempts and events, ``status`` — so it survives
the engine's decisions moving into pure functions. Every wait is bounded and fails with what it
saw, never by hanging into the per-test timeout. Lower bounds on measured gaps only: a loaded
machine makes waits longer, never shorter. (reset_after's wiring is test_restart_count.py's: it
fails as soon as a service that was up reset_after is given up on.)
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import TypeVar

import pytest

from shipyard.api import Operations
from shipyard.engine.liveness import pid_alive
from shipyard.models import Event, ExecutionState, ExecutionStatus, UnitState
from tests.conftest import SpecWriter

PY = sys.executable
T = TypeVar("T")

#: Timestamps go through SQLite as floats and datetimes: allow this much rounding, no more.
CLOCK_SLACK = 0.005


def wait_until(what: str, check: Callable[[], T | None], timeout: float = 30.0) -> T:
    """``check()``'s first truthy value; an assertion naming ``what`` once ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"still waiting after {timeout:g}s for {what}")
        time.sleep(0.05)


def events(ops: Operations, execution_id: str, *actions: str) -> list[Event]:
    return [event for _, event in ops.store.events(execution_id) if event.action in actions]


def finished(ops: Operations, execution_id: str) -> ExecutionStatus | None:
    status = ops.status(execution_id)
    return status if status.state.finished else None


# -- retries and restarts ---------------------------------------------------------------------


def test_retries_wait_their_backoff_and_it_doubles(ops: Operations, write_spec: SpecWriter) -> None:
    spec = write_spec(
        """
        name: retrying
        steps:
          flaky: {run: [sh, -c, 'exit 1'], retries: {count: 2, backoff: 1s, jitter: false}}
        """
    )
    final = ops.run(spec)
    assert final.unit("flaky").state == UnitState.FAILED
    attempts = sorted(ops.store.attempts(final.id, "flaky"), key=lambda a: a.number)
    assert [a.number for a in attempts] == [1, 2, 3], attempts
    waits = []
    for earlier, later in pairwise(attempts):
        assert earlier.ended_at is not None and later.started_at is not None
        waits.append((later.started_at - earlier.ended_at).total_seconds())
    assert waits[0] >= 1.0 - CLOCK_SLACK and waits[1] >= 2.0 - CLOCK_SLACK, (
        f"waits between attempts {waits}: expected at least 1 s, then 2 s (backoff 1s, doubling)"
    )
    announced = [e.data["delay"] for e in events(ops, final.id, "unit_retrying")]
    assert announced == [1.0, 2.0], f"announced retry delays {announced}"


def watch_restarts(ops: Operations, execution_id: str, service: str, limit: int) -> None:
    """Wait until ``service`` is failed, and fail at once if it starts more than ``limit``
    times (its max_restarts + 1) or is not failed within 30 s."""
    deadline = time.monotonic() + 30
    while True:
        starts = len(events(ops, execution_id, "service_started"))
        assert starts <= limit, f"'{service}' started {starts} times: max_restarts ignored"
        unit = ops.status(execution_id).unit(service)
        if unit.state == UnitState.FAILED:
            return
        assert time.monotonic() < deadline, (
            f"'{service}' not failed after 30 s ({starts} starts, {unit.state.value}: "
            f"{unit.reason})"
        )
        time.sleep(0.05)


def test_a_crashing_service_waits_its_backoff_then_gives_up_after_max_restarts(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        """
        name: crashing
        services:
          bad: {run: [sh, -c, 'exit 3'], restart: {max_restarts: 2, backoff: 1s}}
        """
    )
    status = ops.run(spec, detach=True)
    try:
        watch_restarts(ops, status.id, "bad", limit=3)
        bad = ops.status(status.id).unit("bad")
        assert bad.restarts == 2 and "2 restarts used up" in (bad.reason or ""), bad
        exits = [e.ts for e in events(ops, status.id, "service_exited")]
        starts = [e.ts for e in events(ops, status.id, "service_started")]
        assert len(starts) == 3 and len(exits) == 3, (starts, exits)
        waits = [start - exit for exit, start in zip(exits, starts[1:], strict=False)]
        # backoff 1s, then 2 s ±25% jitter — never below the backoff itself.
        assert waits[0] >= 1.0 - CLOCK_SLACK and waits[1] >= 1.5 - CLOCK_SLACK, (
            f"waits before the restarts {waits}: expected at least 1 s, then 1.5 s"
        )
    finally:
        ops.stop(status.id, grace=0)


# -- health -----------------------------------------------------------------------------------

PROBE = """\
echo probe >> probes.log
if [ -e fail-once ]; then rm -f fail-once; echo failed >> probes.log; exit 1; fi
"""


def test_one_failed_probe_under_a_threshold_of_three_restarts_nothing(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    (tmp_path / "probe.sh").write_text(PROBE, encoding="utf-8")
    spec = write_spec(
        """
        name: steady
        services:
          web:
            run: [sleep, '60']
            health: {exec: [sh, probe.sh], interval: 0.1s, failure_threshold: 3}
            restart: {backoff: 0.1s}
        """
    )
    status = ops.run(spec, detach=True)
    try:
        assert ops.wait_healthy(status.id, timeout=30).state == ExecutionState.RUNNING
        log = tmp_path / "probes.log"
        (tmp_path / "fail-once").touch()

        def probes_after_the_failure() -> int:
            lines = log.read_text(encoding="utf-8").split()
            return len(lines) - lines.index("failed") - 1 if "failed" in lines else 0

        # Three good probes after the bad one: a threshold of 1 or 2 would have acted by now.
        wait_until("3 probes after the failed one", lambda: probes_after_the_failure() >= 3)
        web = ops.status(status.id).unit("web")
        unhealthy = events(ops, status.id, "service_unhealthy")
        assert not unhealthy and web.restarts == 0, (
            f"one failed probe under failure_threshold 3: {unhealthy}, restarts {web.restarts}"
        )
        assert web.health == "healthy" and web.state == UnitState.RUNNING, web
    finally:
        ops.stop(status.id, grace=0)


# -- stop signals -----------------------------------------------------------------------------


def stubborn(signal_name: str, folder: Path) -> str:
    """A shell command that notes each ``signal_name`` it gets in ``marker`` and goes on: it
    dies of other signals, and of the SIGKILL that must follow after its stop timeout."""
    return (
        f"trap 'echo {signal_name} >> {folder}/marker' {signal_name}; echo $$ > {folder}/pid; "
        "while :; do sleep 0.05; done"
    )


def marker(folder: Path) -> list[str]:
    path = folder / "marker"
    return path.read_text(encoding="utf-8").split() if path.exists() else []


@pytest.mark.parametrize("signal_name", ["TERM", "INT"])
@pytest.mark.parametrize("ending", ["stop", "timeout"])
def test_a_step_gets_its_stop_signal_then_sigkill(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path, signal_name: str, ending: str
) -> None:
    limit = "timeout: 0.5s" if ending == "timeout" else ""
    spec = write_spec(
        f"""
        name: stubborn
        steps:
          s:
            run: "{stubborn(signal_name, tmp_path)}"
            shell: true
            stop: {{signal: {signal_name}, timeout: 0.3s}}
            {limit}
        """
    )
    status = ops.run(spec, detach=True)
    try:
        wait_until("the step to start", lambda: (tmp_path / "pid").exists())
        if ending == "stop":
            ops.stop(status.id, grace=0, wait=False)
        final = wait_until(
            f"the step to end after its {signal_name} and the SIGKILL {ending}",
            lambda: finished(ops, status.id),
            timeout=15,
        )
    finally:
        if not ops.status(status.id).state.finished:
            ops.stop(status.id, force=True)
    # Once or twice (to its group, and to each process of the unit): never another signal.
    assert set(marker(tmp_path)) == {signal_name}, f"signals the step trapped: {marker(tmp_path)}"
    (attempt,) = ops.store.attempts(final.id, "s")
    assert attempt.signal == "KILL", f"ended by {attempt.signal or attempt.exit_code}, not SIGKILL"
    if ending == "timeout":
        assert "timed out after" in (attempt.reason or ""), attempt.reason
    else:
        assert attempt.state == UnitState.CANCELLED, attempt
    assert not pid_alive(int((tmp_path / "pid").read_text()))


@pytest.mark.parametrize("signal_name", ["TERM", "INT"])
def test_a_service_gets_its_stop_signal_then_sigkill(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path, signal_name: str
) -> None:
    spec = write_spec(
        f"""
        name: stubborn
        services:
          s:
            run: "{stubborn(signal_name, tmp_path)}"
            shell: true
            stop: {{signal: {signal_name}, timeout: 0.3s}}
        """
    )
    status = ops.run(spec, detach=True)
    try:
        wait_until("the service to start", lambda: (tmp_path / "pid").exists())
        ops.stop(status.id, grace=0, wait=False)
        wait_until("the fleet to come down", lambda: finished(ops, status.id), timeout=15)
    finally:
        if not ops.status(status.id).state.finished:
            ops.stop(status.id, force=True)
    assert set(marker(tmp_path)) == {signal_name}, (
        f"signals the service trapped: {marker(tmp_path)}"
    )
    assert ops.status(status.id).unit("s").state == UnitState.STOPPED
    assert not pid_alive(int((tmp_path / "pid").read_text()))


# -- the estimate -----------------------------------------------------------------------------


def second_step_started(ops: Operations, execution_id: str) -> datetime | None:
    return ops.status(execution_id).unit("work").started_at


def test_the_second_runs_estimate_is_its_start_plus_the_first_runs_duration(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(
        """
        name: eta
        steps:
          work: {run: [sleep, '2']}
        """
    )
    first = ops.run(spec)
    assert first.state == ExecutionState.SUCCEEDED
    work = first.unit("work")
    assert work.started_at is not None and work.ended_at is not None
    measured = (work.ended_at - work.started_at).total_seconds()

    second = ops.run(spec, detach=True)
    try:
        # Half a second into the step (its start is in the store a flush after it began), so
        # an estimate that forgot what has run already is further off than the tolerance.
        started = wait_until("the second run's step", lambda: second_step_started(ops, second.id))
        wait_until("half a second of it", lambda: time.time() - started.timestamp() >= 0.5)
        asked = time.time()
        status = ops.status(second.id)
        assert status.estimated_end is not None, status.estimate_basis
        assert status.unit("work").state == UnitState.RUNNING, status.unit("work")
        # The step is partly done: what is left of it is the mean minus what it has run.
        expected = started + timedelta(seconds=measured)
        off = abs((status.estimated_end - expected).total_seconds())
        assert off < 0.1, (
            f"estimated end {status.estimated_end:%T.%f}, expected {expected:%T.%f} (the step's "
            f"start + the first run's {measured:.3f}s): {off:.3f}s off"
        )
        left = status.estimated_end.timestamp() - asked
        assert 0 < left <= measured, f"{left:.3f}s left of a {measured:.3f}s step"
        wait_until("the second run to end", lambda: finished(ops, second.id))
    finally:
        if not ops.status(second.id).state.finished:
            ops.stop(second.id, force=True)


# -- ports ------------------------------------------------------------------------------------


def test_a_taken_explicit_port_fails_the_fleet_before_anything_starts(
    ops: Operations, write_spec: SpecWriter
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        spec = write_spec(
            f"name: clash\nservices:\n  a: {{run: [sleep, '60'], port: {port}}}\n"
            "  b: {run: [sleep, '60']}\n"
        )
        status = ops.run(spec, detach=True)

        def refused() -> ExecutionStatus | None:
            started = events(ops, status.id, "service_started")
            assert not started, f"{[e.unit for e in started]} started: port {port} was taken"
            return finished(ops, status.id)

        final = wait_until("the fleet to be refused", refused, timeout=15)
    assert final.state == ExecutionState.FAILED, final
    assert f"port {port} of service 'a' is already in use" in (final.reason or "")


def test_an_auto_port_skips_one_that_is_taken(ops: Operations, write_spec: SpecWriter) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        spec = write_spec(
            f"name: skip\nexecution: {{base_port: {taken}}}\n"
            "services:\n  a: {run: [sleep, '60'], port: auto}\n"
        )
        status = ops.run(spec, detach=True)
        try:
            port = wait_until("a port for 'a'", lambda: ops.status(status.id).unit("a").port)
            assert port != taken, f"'a' was given port {taken}, which another socket holds"
        finally:
            ops.stop(status.id, grace=0)
