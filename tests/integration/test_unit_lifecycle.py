"""Issue 17 §4 with real processes: success exit codes, log-line readiness, a separate liveness
check, a stop command."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from shipyard.api import Operations
from shipyard.engine.liveness import pid_alive
from shipyard.models import ExecutionState, UnitState
from tests.conftest import SpecWriter
from tests.integration.test_lifecycle import wait_for


def within(seconds: float, predicate: Callable[[], bool]) -> bool:
    """Does ``predicate`` come true within ``seconds``? (The caller says what it means.)"""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_step_exiting_130_listed_as_success_succeeds(
    ops: Operations, write_spec: SpecWriter
) -> None:
    """Exit 130 (a shell's Ctrl-C) is a success when listed, so the step after it runs; the
    same exit unlisted fails the step."""
    spec = write_spec(
        """
        name: codes
        steps:
          interrupted: {run: [sh, -c, "echo bye; exit 130"], success_exit_codes: [0, 130]}
          after: {run: [echo, ran], needs: [interrupted]}
          unlisted: {run: [sh, -c, "exit 130"]}
        execution: {failure_strategy: continue}
        """
    )
    status = ops.run(spec)
    interrupted = status.unit("interrupted")
    assert interrupted.state == UnitState.SUCCEEDED, (interrupted.state, interrupted.reason)
    assert interrupted.exit_code == 130
    assert status.unit("after").state == UnitState.SUCCEEDED
    unlisted = status.unit("unlisted")
    assert unlisted.state == UnitState.FAILED and unlisted.exit_code == 130
    assert status.state == ExecutionState.FAILED  # because of 'unlisted' alone


def test_a_service_exiting_with_a_listed_code_is_not_restarted_on_failure(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """restart: on-failure takes a listed code as a success: the service stays down, stopped;
    the same code unlisted restarts it."""
    spec = write_spec(
        f"""
        name: codes
        services:
          done:
            run: [sh, -c, "echo start >> {tmp_path}/done.txt; sleep 0.3; exit 42"]
            success_exit_codes: [0, 42]
            restart: {{policy: on-failure, backoff: 50ms}}
          crash:
            run: [sh, -c, "echo start >> {tmp_path}/crash.txt; sleep 0.3; exit 42"]
            restart: {{policy: on-failure, backoff: 50ms, max_restarts: 1}}
        """
    )
    status = ops.run(spec, detach=True)
    wait_for(lambda: ops.status(status.id).unit("crash").state == UnitState.FAILED)
    ended = (UnitState.STOPPED, UnitState.FAILED)
    wait_for(lambda: ops.status(status.id).unit("done").state in ended)
    done = ops.status(status.id).unit("done")
    assert done.state == UnitState.STOPPED, f"exit 42 listed as success, yet: {done.reason}"
    assert done.restarts == 0 and done.exit_code == 42, (done.restarts, done.reason)
    assert "not restarted" in (done.reason or ""), done.reason
    assert (tmp_path / "done.txt").read_text().count("start") == 1
    assert (tmp_path / "crash.txt").read_text().count("start") == 2  # restarted once
    ops.stop(status.id, grace=0)


def test_a_service_is_ready_once_its_log_line_appears(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """health: {log_line: …}: the service is healthy once the line is in its log, not at its
    start; its dependant starts only then (it sees what the service did just before)."""
    spec = write_spec(
        f"""
        name: logready
        services:
          app:
            run: >-
              echo booting; sleep 1; echo warm > {tmp_path}/phase;
              echo "ready to serve"; exec sleep 60
            shell: true
            health: {{log_line: ready to serve, interval: 0.1s}}
          client:
            run: >-
              cat {tmp_path}/phase > {tmp_path}/tmp 2>&1; mv {tmp_path}/tmp {tmp_path}/seen;
              exec sleep 60
            shell: true
            depends_on: {{app: healthy}}
        """
    )
    status = ops.run(spec, detach=True)
    healthy = ops.wait_healthy(status.id, timeout=60)
    assert healthy.state == ExecutionState.RUNNING, healthy.reason
    wait_for(lambda: (tmp_path / "seen").exists())
    seen = (tmp_path / "seen").read_text()
    assert seen.strip() == "warm", f"the client started before app's log line: it saw {seen!r}"
    app = ops.status(status.id).unit("app")
    assert app.health == "healthy" and "ready to serve" in (app.probe or ""), app
    ops.stop(status.id, grace=0)


def test_liveness_restarts_a_ready_service_and_does_not_gate_readiness(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """health (a log line) gates readiness; liveness is checked only once the service is
    ready. Its liveness check fails from the start (a 'hang' file), yet the fleet comes up;
    then the failing liveness check restarts the service, which comes back with a new PID
    once the file is gone."""
    hang = tmp_path / "hang"
    hang.write_text("stuck\n")
    spec = write_spec(
        f"""
        name: live
        services:
          app:
            run: 'echo up; exec sleep 60'
            shell: true
            health: {{log_line: up, interval: 0.1s}}
            liveness: {{exec: [sh, -c, 'test ! -e {hang}'], interval: 0.1s, failure_threshold: 2}}
            restart: {{policy: on-failure, backoff: 50ms, max_restarts: 100}}
            stop: {{timeout: 2s}}
        """
    )
    status = ops.run(spec, detach=True)
    healthy = ops.wait_healthy(status.id, timeout=60)
    assert healthy.state == ExecutionState.RUNNING, f"liveness gated readiness: {healthy.reason}"
    app = healthy.unit("app")
    assert app.health == "healthy", f"liveness gated readiness: {app.health}, {app.probe}"
    first = app.pid
    restarted = within(20.0, lambda: ops.status(status.id).unit("app").restarts >= 1)
    assert restarted, "a ready service failing its liveness check was never restarted"
    hang.unlink()
    wait_for(
        lambda: (u := ops.status(status.id).unit("app")).health == "healthy" and u.pid != first
    )
    events = [e for _, e in ops.store.events(status.id) if e.action == "service_exited"]
    assert events, "the service was never stopped by its liveness check"
    assert "failed liveness probes" in str(events[0].data), events[0]
    ops.stop(status.id, grace=0)


# A unit whose TERM trap writes down whether the stop command had run before the signal came.
TRAPPED = (
    "trap 'if [ -e {dir}/{name}.cmd ]; then echo command-first; else echo signal-only; fi"
    " > {dir}/{name}.seen; exit 0' TERM; echo up; while true; do sleep 0.05; done"
)


def test_a_service_stop_command_runs_before_its_signal(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """down: the stop command runs (with the service's environment and its PID), its effect is
    there when the stop signal arrives, and its output is in the service's log."""
    spec = write_spec(
        f"""
        name: stops
        services:
          app:
            run: "{TRAPPED.format(dir=tmp_path, name="app")}"
            shell: true
            env: {{GREETING: bye}}
            stop:
              command: 'echo "$GREETING $SHIPYARD_UNIT_PID" > {tmp_path}/app.cmd; echo stopping'
              shell: true
              timeout: 5s
        """
    )
    status = ops.run(spec, detach=True)
    assert ops.wait_healthy(status.id, timeout=60).state == ExecutionState.RUNNING
    pid = ops.status(status.id).unit("app").pid
    ops.stop(status.id)
    seen = (tmp_path / "app.seen").read_text().strip()
    assert seen == "command-first", f"the service got its signal with no stop command run: {seen}"
    assert (tmp_path / "app.cmd").read_text().strip() == f"bye {pid}"
    log = [line.text for line in ops.logs(status.id, "app")]
    assert "stopping" in log, log
    app = ops.status(status.id).unit("app")
    assert app.state == UnitState.STOPPED, (app.state, app.reason)


def test_a_step_stop_command_runs_when_it_times_out(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(
        f"""
        name: stops
        steps:
          slow:
            run: "{TRAPPED.format(dir=tmp_path, name="slow")}"
            shell: true
            timeout: 0.5s
            stop: {{command: [touch, {tmp_path}/slow.cmd], timeout: 5s}}
        """
    )
    status = ops.run(spec)
    slow = status.unit("slow")
    assert slow.state == UnitState.FAILED and "timed out" in (slow.reason or ""), slow.reason
    seen = (tmp_path / "slow.seen").read_text().strip()
    assert seen == "command-first", f"the step got its signal with no stop command run: {seen}"


def test_a_stop_command_that_hangs_is_killed_at_the_timeout(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """The command and the signal share the stop's timeout: a hanging command is killed (with
    what it started), then the service gets its signal and SIGKILL, and down still ends."""
    spec = write_spec(
        f"""
        name: stops
        services:
          app:
            run: [sleep, "60"]
            stop: {{command: [sh, -c, 'echo $$ > {tmp_path}/cmd.pid; exec sleep 60'], timeout: 1s}}
        """
    )
    status = ops.run(spec, detach=True)
    assert ops.wait_healthy(status.id, timeout=60).state == ExecutionState.RUNNING
    ops.stop(status.id)
    app = ops.status(status.id).unit("app")
    assert app.state == UnitState.STOPPED, (app.state, app.reason)
    log = [line.text for line in ops.logs(status.id, "app")]
    assert any("the stop command was still running after 1s: killed" in line for line in log), log
    command_pid = int((tmp_path / "cmd.pid").read_text())
    assert not pid_alive(command_pid), "the hanging stop command outlived the stop"


def test_a_force_stop_skips_the_stop_command(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(
        f"""
        name: stops
        services:
          app:
            run: [sleep, "60"]
            stop: {{command: [touch, {tmp_path}/ran], timeout: 5s}}
        """
    )
    status = ops.run(spec, detach=True)
    assert ops.wait_healthy(status.id, timeout=60).state == ExecutionState.RUNNING
    ops.stop(status.id, force=True)
    assert ops.status(status.id).state.finished
    assert not (tmp_path / "ran").exists(), "a force stop ran the stop command"


def test_a_force_stop_during_a_stop_command_ends_the_unit_and_the_command(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """The step's timeout starts its stop, whose command hangs (its own timeout is 60 s); a force
    stop meanwhile means now: the unit is killed and the command with it, not 60 s later."""
    spec = write_spec(
        f"""
        name: stops
        steps:
          slow:
            run: [sleep, "60"]
            timeout: 1s
            stop: {{command: [sh, -c, 'echo $$ > {tmp_path}/cmd.pid; exec sleep 60'], timeout: 60s}}
        """
    )
    status = ops.run(spec, detach=True)
    started = within(30, lambda: (tmp_path / "cmd.pid").exists())
    assert started, "the step's timeout did not start its stop command"
    ops.stop(status.id, force=True)
    ended = within(20, lambda: ops.status(status.id).state.finished)
    assert ended, "a force stop waited for the running stop command (its timeout is 60 s)"
    command_pid = int((tmp_path / "cmd.pid").read_text())
    assert within(5, lambda: not pid_alive(command_pid)), "the stop command outlived the stop"
    log = [line.text for line in ops.logs(status.id, "slow")]
    ended_early = any("the unit ended before its stop command" in line for line in log)
    assert ended_early, f"the stop did not end its command when the unit ended: {log}"
