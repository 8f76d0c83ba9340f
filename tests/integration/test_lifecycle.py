"""Detached runs, stop, and executions whose process died — real supervisor processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.engine.liveness import pid_alive
from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState, UnitState
from tests.conftest import SpecWriter


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def two_slow_steps(write_spec: SpecWriter, tmp_path: Path) -> Path:
    return write_spec(
        f"""
        name: slow
        execution: {{max_parallel: 2}}
        steps:
          quick: {{run: 'echo quick-1; sleep 0.3; echo quick-2', shell: true}}
          long:
            run: 'echo $$ > {tmp_path}/long.pid; for i in $(seq 9); do echo tick $i; sleep 1; done'
            shell: true
          after: {{run: [echo, after], needs: [quick, long]}}
        """
    )


def test_detached_run_finishes_on_its_own(ops: Operations, write_spec: SpecWriter) -> None:
    spec = write_spec("name: bg\nsteps:\n  a: {run: [sh, -c, 'sleep 0.5; echo done']}\n")
    status = ops.run(spec, detach=True)
    assert status.state == ExecutionState.RUNNING
    supervisor, _ = ops.store.supervisor(status.id)
    assert supervisor is not None and supervisor != os.getpid()
    wait_for(lambda: ops.status(status.id).state.finished)
    final = ops.status(status.id)
    assert final.state == ExecutionState.SUCCEEDED
    assert [line.text for line in ops.logs(status.id, "a")] == ["done"]
    wait_for(lambda: not pid_alive(supervisor))


def test_follow_prints_lines_as_they_come_until_the_end(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        "name: chat\nsteps:\n"
        "  a: {run: 'for i in 1 2 3; do echo line $i; sleep 0.2; done', shell: true}\n"
    )
    status = ops.run(spec, detach=True)
    followed = [line.text for line in ops.logs(status.id, "a", follow=True)]
    already = [line.text for line in ops.logs(status.id, "a")]
    assert already == ["line 1", "line 2", "line 3"]
    assert followed == already  # the backlog and what came after, each line once
    assert ops.status(status.id).state.finished


def test_graceful_stop_lets_nothing_new_start(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    status = ops.run(two_slow_steps(write_spec, tmp_path), detach=True)
    wait_for(lambda: (tmp_path / "long.pid").exists())
    # The step can write its pid file a moment before its spawn is journaled (the journal line
    # needs the pid that spawn returns): the impact names it running from then on.
    wait_for(lambda: "long" in ops.stop_impact(status.id).running, timeout=5)
    impact = ops.stop_impact(status.id)
    assert "long" in impact.running and impact.never_start == ["after"]
    report = ops.stop(status.id, grace=0.5)
    assert report.state == ExecutionState.CANCELLED
    final = ops.status(status.id)
    states = {unit.name: unit.state for unit in final.units}
    assert states["long"] == UnitState.CANCELLED
    assert states["after"] == UnitState.SKIPPED
    assert final.reason == "stopped by `shipyard stop`"
    assert not pid_alive(int((tmp_path / "long.pid").read_text()))
    assert any(line.text == "tick 1" for line in ops.logs(status.id, "long"))  # logs kept


def test_graceful_stop_lets_a_step_that_ends_in_time_succeed(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(
        f"name: g\nsteps:\n  a: {{run: 'touch {tmp_path}/go; sleep 0.5', shell: true}}\n"
        "  b: {run: [true], needs: [a]}\n"
    )
    status = ops.run(spec, detach=True)
    wait_for(lambda: (tmp_path / "go").exists())
    ops.stop(status.id, grace=10)
    final = ops.status(status.id)
    assert final.unit("a").state == UnitState.SUCCEEDED
    assert final.unit("b").state == UnitState.SKIPPED
    assert final.state == ExecutionState.CANCELLED


def test_force_stop_kills_at_once(ops: Operations, write_spec: SpecWriter, tmp_path: Path) -> None:
    spec = write_spec(
        f"""
        name: stubborn
        steps:
          s:
            run: 'trap "" TERM; echo $$ > {tmp_path}/s.pid; sleep 60'
            shell: true
            stop: {{timeout: 60s}}
        """
    )
    status = ops.run(spec, detach=True)
    wait_for(lambda: (tmp_path / "s.pid").exists())
    started = time.monotonic()
    report = ops.stop(status.id, force=True)
    assert report.state == ExecutionState.CANCELLED
    assert time.monotonic() - started < 30  # not the 60 s grace
    assert not pid_alive(int((tmp_path / "s.pid").read_text()))


def test_a_killed_supervisor_is_detected_and_its_units_stopped(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    status = ops.run(two_slow_steps(write_spec, tmp_path), detach=True)
    wait_for(lambda: (tmp_path / "long.pid").exists())
    supervisor, _ = ops.store.supervisor(status.id)
    assert supervisor is not None
    os.kill(supervisor, signal.SIGKILL)
    wait_for(lambda: not pid_alive(supervisor))
    # The watchdog kills the running step by itself, before anyone asks for a status.
    wait_for(lambda: not pid_alive(int((tmp_path / "long.pid").read_text())), timeout=10)
    lost = ops.status(status.id)
    assert lost.state == ExecutionState.LOST
    assert f"pid {supervisor}" in (lost.reason or "")
    assert lost.unit("long").state == UnitState.CANCELLED
    assert lost.unit("after").state == UnitState.PENDING  # never ran: a resume would run it
    wait_for(lambda: not pid_alive(int((tmp_path / "long.pid").read_text())))


def test_stopping_a_finished_execution_is_a_clear_error(
    ops: Operations, write_spec: SpecWriter
) -> None:
    status = ops.run(write_spec("name: done\nsteps:\n  a: {run: [true]}\n"))
    with pytest.raises(ShipyardError, match="already finished"):
        ops.stop(status.id)


def test_status_of_a_running_execution_shows_measured_use_and_an_honest_estimate(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(
        f"""
        name: eta
        execution: {{sample_interval: 0.1s}}
        steps:
          work: {{run: 'touch {tmp_path}/go; sleep 1', shell: true}}
        """
    )
    first = ops.run(spec, detach=True)
    wait_for(lambda: (tmp_path / "go").exists())
    no_history = ops.status(first.id)
    assert no_history.estimated_end is None
    assert no_history.estimate_basis == "no earlier successful run of work to estimate from"
    wait_for(lambda: ops.status(first.id).unit("work").resources.samples > 0)
    live = ops.status(first.id).unit("work")
    assert live.state == UnitState.RUNNING and live.resources.rss_peak_bytes
    wait_for(lambda: ops.status(first.id).state.finished)

    (tmp_path / "go").unlink()
    second = ops.run(spec, detach=True)
    wait_for(lambda: (tmp_path / "go").exists())
    estimated = ops.status(second.id)
    assert estimated.estimated_end is not None
    assert "earlier successful runs" in (estimated.estimate_basis or "")
    wait_for(lambda: ops.status(second.id).state.finished)
