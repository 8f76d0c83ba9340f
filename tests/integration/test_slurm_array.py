"""Sweeps as Slurm job arrays (issue 16 §3) against a real single-node Slurm (tests/slurm.py):
every point a real execution with its record, run as one task of ONE array job, at most
``max_parallel_runs`` at once; a stop cancelling the array; what cannot be an array refused."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState
from shipyard.sweep import SweepSettings
from tests import slurm
from tests.conftest import SpecWriter
from tests.slurm import SlurmCluster

# slow as a file: job arrays of a real single-node Slurm, waited for (make test-slow and CI run
# it)
pytestmark = pytest.mark.slow

slurm_cluster = slurm.slurm_cluster
slurm_env = slurm.slurm_env

# Each point notes when it starts and ends in TRAIL (one line each: appends of a line are
# atomic), reports score = n * 10, and says which array task ran it. A signal that kills its
# sleep fails it (set -e), as it would a real step's work.
ARRAY_SPEC = """
name: arrayed
parameters:
  n: {{type: int, default: 1}}
  hold: {{type: float, default: 0.5}}
slurm: {{partition: {partition}, time: "5"}}
steps:
  score:
    runner: slurm
    run: |
      set -e
      echo "start $SHIPYARD_PARAM_N" >> {trail}
      echo "task $SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID on $SLURMD_NODENAME"
      sleep "$SHIPYARD_PARAM_HOLD"
      score=$((SHIPYARD_PARAM_N * 10))
      echo "{{\\"name\\": \\"score\\", \\"value\\": $score}}" >> "$SHIPYARD_METRICS"
      echo "end $SHIPYARD_PARAM_N" >> {trail}
    shell: true
"""


@pytest.fixture
def sweeps(ops: Operations) -> Iterator[Operations]:
    """The operations; a sweep a failed test left running is stopped (its array cancelled)."""
    yield ops
    with contextlib.suppress(ShipyardError):
        for report in ops.sweep_list():
            if report.state in ("pending", "running"):
                with contextlib.suppress(ShipyardError):
                    ops.sweep_stop(report.id)


def most_at_once(trail: Path) -> int:
    """The most points running at the same time, from their start and end lines."""
    running = most = 0
    for line in trail.read_text(encoding="utf-8").splitlines():
        running += 1 if line.startswith("start") else -1
        most = max(most, running)
    return most


def test_a_four_point_sweep_runs_as_one_throttled_array(
    sweeps: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    trail = tmp_path / "trail"
    spec = write_spec(ARRAY_SPEC.format(partition=slurm_env.partition, trail=trail))
    settings = SweepSettings(
        matrix={"n": ["1", "2", "3", "4"]}, max_parallel_runs=2, slurm_array=True
    )
    report = sweeps.sweep(spec, settings)
    assert report.state == "succeeded", report
    jobs = [point.slurm_job for point in report.points]
    assert all(jobs), f"every point names its array task: {jobs}"
    arrays = {job.split("_")[0] for job in jobs if job}
    assert len(arrays) == 1, f"ONE array job for the sweep, not one per point: {jobs}"
    [array_id] = arrays
    assert sorted(jobs) == [f"{array_id}_{index}" for index in range(4)], jobs
    for point in report.points:
        assert point.execution_id is not None
        status = sweeps.status(point.execution_id)
        assert status.state == ExecutionState.SUCCEEDED, status
        assert point.metrics == {"score": point.parameters["n"] * 10}  # type: ignore[operator]
        log = sweeps.workspace.run_dir(point.execution_id).log_for("score").read_text()
        task = point.slurm_job.split("_")[1] if point.slurm_job else "?"
        assert f"task {array_id} {task} on {slurm_env.node}" in log, log
        # Slurm's own record of the task: part of the array, throttled, ended well.
        job = slurm_env.job(point.slurm_job or "")
        assert (job["ArrayJobId"], job["ArrayTaskId"]) == (array_id, task), job
        assert job["JobState"] == "COMPLETED", job
        assert job["Partition"] == slurm_env.partition, "the spec's slurm: reached the array"
        assert job["TimeLimit"] == "00:05:00", job
        assert job.get("ArrayTaskThrottle") == "2", f"--max-parallel-runs 2 throttles: {job}"
    assert most_at_once(trail) <= 2, trail.read_text()
    shown = sweeps.sweep_status(report.id)
    assert [p.slurm_job for p in shown.points] == jobs, "sweep status shows the tasks"


def test_sweep_stop_cancels_the_array(
    sweeps: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    trail = tmp_path / "trail"
    spec = write_spec(ARRAY_SPEC.format(partition=slurm_env.partition, trail=trail))
    settings = SweepSettings(
        matrix={"n": ["1", "2", "3"], "hold": ["300"]}, max_parallel_runs=1, slurm_array=True
    )
    started = sweeps.sweep(spec, settings, detach=True)
    deadline = time.monotonic() + 90
    while not (trail.exists() and "start" in trail.read_text()):
        assert time.monotonic() < deadline, "no task ran"
        time.sleep(0.1)
    stopped = sweeps.sweep_stop(started.id)
    assert stopped.state == "cancelled", stopped
    jobs = [point.slurm_job or "" for point in stopped.points]
    for point in stopped.points:
        assert point.state == "cancelled", point
        assert point.execution_id is not None
        status = sweeps.status(point.execution_id)
        assert status.state == ExecutionState.CANCELLED, status
    # The running task's supervisor stopped its point (the step cancelled) and the task ended;
    # the two that never left the queue were cancelled (Slurm lists them as the array's
    # cancelled remainder, one row): nothing of the array is left in the queue.
    [ran] = [p for p in stopped.points if p.parameters["n"] == 1]
    never = [p for p in stopped.points if p.parameters["n"] != 1]
    assert slurm_env.job(ran.slurm_job or "")["JobState"] == "COMPLETED"
    array_id = jobs[0].split("_")[0]
    rows = slurm_env.run(
        "squeue", "-h", "-r", "-t", "all", "-j", array_id, "-O", "JobArrayID:|,State:|"
    )
    states = dict(line.split("|")[:2] for line in rows.split())
    assert set(states.values()) == {"COMPLETED", "CANCELLED"}, states
    assert ran.execution_id is not None
    assert sweeps.status(ran.execution_id).unit("score").state.value == "cancelled"
    for point in never:
        assert point.reason is not None and "CANCELLED" in point.reason, point
        assert point.execution_id is not None
        unit = sweeps.status(point.execution_id).unit("score")
        assert unit.state.value == "skipped", unit
    assert "end" not in trail.read_text(), "no point ran to its end"
    deadline = time.monotonic() + 30
    while slurm_env.node_state() != "idle":
        assert time.monotonic() < deadline, f"the node is still {slurm_env.node_state()}"
        time.sleep(0.2)


SERVICE_SPEC = """
name: served
parameters: {n: {type: int, default: 1}}
services:
  web: {run: [sleep, "60"]}
"""

SECRET_SPEC = """
name: secretive
parameters:
  n: {type: int, default: 1}
  token: {type: str, secret: true}
steps:
  a: {run: [true]}
"""

STEP_SPEC = """
name: plain
parameters: {n: {type: int, default: 1}}
steps:
  a: {run: [true]}
"""


@pytest.mark.parametrize(
    ("text", "extra", "path", "expected"),
    [
        (STEP_SPEC, {}, "/nonexistent", "sbatch is not on PATH"),
        (SERVICE_SPEC, {}, None, "spec.yaml:4:3: service 'web' cannot run in a Slurm job array"),
        (SECRET_SPEC, {"token": "s3"}, None, "spec.yaml:4:3: parameter 'token' is secret"),
        (STEP_SPEC, {"timeout_per_run": 30.0}, None, "timeout_per_run (--timeout-per-run)"),
        (STEP_SPEC, {"failure_threshold": 0.5}, None, "failure_threshold (--failure-threshold)"),
    ],
    ids=["no-sbatch", "services", "secret", "timeout", "threshold"],
)
def test_what_cannot_be_an_array_is_refused(
    sweeps: Operations,
    write_spec: SpecWriter,
    slurm_env: SlurmCluster,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    extra: dict[str, object],
    path: str | None,
    expected: str,
) -> None:
    if path is not None:
        monkeypatch.setenv("PATH", path)
    spec = write_spec(text)
    params = {k: v for k, v in extra.items() if k == "token"}  # a secret given with -p
    limits = {k: v for k, v in extra.items() if k != "token"}
    settings = SweepSettings(matrix={"n": ["1", "2"]}, slurm_array=True, **limits)  # type: ignore[arg-type]
    with pytest.raises(ShipyardError) as refused:
        sweeps.sweep(spec, settings, params)
    assert expected in refused.value.message, refused.value.message
    assert refused.value.hint, "a refusal says what to do"
    assert sweeps.sweep_list() == [], "nothing was recorded, no job submitted"


def test_a_task_that_dies_fails_its_point_with_slurms_reason(
    sweeps: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    """The point's supervisor is killed inside its task (as a node's OOM killer or a crash
    would): the execution never finishes, the sweep ends it with Slurm's end of the task."""
    trail = tmp_path / "trail"
    spec = write_spec(ARRAY_SPEC.format(partition=slurm_env.partition, trail=trail))
    settings = SweepSettings(matrix={"n": ["1"], "hold": ["300"]}, slurm_array=True)
    started = sweeps.sweep(spec, settings, detach=True)
    deadline = time.monotonic() + 90
    while not (trail.exists() and "start" in trail.read_text()):
        assert time.monotonic() < deadline, "no task ran"
        time.sleep(0.1)
    [point] = sweeps.sweep_status(started.id).points
    assert point.execution_id is not None and point.slurm_job is not None
    pid, _ = sweeps.store.supervisor(point.execution_id)  # type: ignore[attr-defined]
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    report = sweeps.sweep_status(started.id)
    while report.state in ("pending", "running"):
        assert time.monotonic() < deadline, report
        time.sleep(0.2)
        report = sweeps.sweep_status(started.id)
    assert report.state == "failed", report
    [point] = report.points
    assert point.state == "failed", point
    expected = f"Slurm job {point.slurm_job} FAILED on {slurm_env.node}: killed by signal KILL"
    assert point.reason is not None and expected in point.reason, point.reason
    status = sweeps.status(point.execution_id or "")
    assert status.state == ExecutionState.FAILED, status
    assert status.reason is not None and expected in status.reason, status.reason
    assert status.unit("score").state.value == "cancelled", "its running step ended with it"
    assert slurm_env.job(point.slurm_job or "")["JobState"] == "FAILED"


@pytest.mark.slow
def test_a_task_past_its_time_limit_fails_its_point_as_timeout(
    sweeps: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    """Slurm ends a task at its time limit (lowered to 0 on the running task, as an admin does:
    slurmctld ends it TIMEOUT at its next check, within 30 s; see test_slurm_faults.py): the
    point fails with Slurm's TIMEOUT in the runner's words, not as a user's stop."""
    trail = tmp_path / "trail"
    spec = write_spec(ARRAY_SPEC.format(partition=slurm_env.partition, trail=trail))
    settings = SweepSettings(matrix={"n": ["1"], "hold": ["300"]}, slurm_array=True)
    started = sweeps.sweep(spec, settings, detach=True)
    deadline = time.monotonic() + 90
    while not (trail.exists() and "start" in trail.read_text()):
        assert time.monotonic() < deadline, "no task ran"
        time.sleep(0.1)
    [point] = sweeps.sweep_status(started.id).points
    assert point.slurm_job is not None
    slurm_env.run("scontrol", "update", f"JobId={point.slurm_job}", "TimeLimit=0")
    deadline = time.monotonic() + 90
    report = sweeps.sweep_status(started.id)
    while report.state in ("pending", "running"):
        assert time.monotonic() < deadline, report
        time.sleep(0.5)
        report = sweeps.sweep_status(started.id)
    [point] = report.points
    assert report.state == "failed", report
    assert point.state == "failed", point
    expected = (
        f"Slurm job {point.slurm_job} TIMEOUT on {slurm_env.node}: reached its Slurm time limit"
    )
    assert point.reason is not None and point.reason.startswith(expected), point.reason
    assert slurm_env.job(point.slurm_job or "")["JobState"] == "TIMEOUT"
    status = sweeps.status(point.execution_id or "")
    # Slurm's SIGTERM reached the supervisor (which stops the run) and the step alike.
    assert status.state.finished and status.state != ExecutionState.SUCCEEDED, status


# Point n=1 holds its task (and, throttled to one, the array) until GATE exists.
GATED_SPEC = """
name: gated
parameters:
  n: {{type: int, default: 1}}
slurm: {{partition: {partition}, time: "5"}}
steps:
  score:
    run: |
      set -e
      echo "start $SHIPYARD_PARAM_N" >> {trail}
      if [ "$SHIPYARD_PARAM_N" = 1 ]; then
        while [ ! -e {gate} ]; do sleep 0.1; done
      else
        sleep 300
      fi
    shell: true
"""


def wait_for_start(trail: Path, what: str = "start") -> None:
    deadline = time.monotonic() + 90
    while not (trail.exists() and what in trail.read_text()):
        assert time.monotonic() < deadline, f"no task ran: {what!r} not in the trail"
        time.sleep(0.1)


def test_a_task_on_another_host_fails_its_point_without_opening_the_store(
    sweeps: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    """The host recorded at submit is made another one while point 2's task is queued: that
    task, on this machine's node, ends at once without touching the SQLite store (shared
    from several hosts it corrupts), and the sweep fails the point with the task's reason."""
    trail, gate = tmp_path / "trail", tmp_path / "gate"
    spec = write_spec(GATED_SPEC.format(partition=slurm_env.partition, trail=trail, gate=gate))
    settings = SweepSettings(matrix={"n": ["1", "2"]}, max_parallel_runs=1, slurm_array=True)
    started = sweeps.sweep(spec, settings, detach=True)
    wait_for_start(trail)
    folder = sweeps.workspace.home / "sweeps" / started.id / "array"  # type: ignore[attr-defined]
    import socket

    assert (folder / "host").read_text().strip() == socket.gethostname(), "recorded at submit"
    (folder / "host").write_text("login-elsewhere\n")
    gate.touch()
    deadline = time.monotonic() + 90
    report = sweeps.sweep_status(started.id)
    while report.state in ("pending", "running"):
        assert time.monotonic() < deadline, report
        time.sleep(0.2)
        report = sweeps.sweep_status(started.id)
    first, second = sorted(report.points, key=lambda p: p.parameters["n"])
    assert first.state == "succeeded", first
    expected = (
        f"array tasks run on this machine's nodes only: node {socket.gethostname()} is not "
        "login-elsewhere, where the sweep's SQLite home lives"
    )
    assert second.state == "failed", second
    assert second.reason is not None and expected in second.reason, second.reason
    assert second.execution_id is not None
    status = sweeps.status(second.execution_id)
    assert status.state == ExecutionState.FAILED, status
    assert status.unit("score").state.value == "skipped", "its step never ran"
    assert "2" not in trail.read_text().replace("start 1", ""), "point 2 never started"
    log = (folder / f"task-{(second.slurm_job or '_').split('_')[1]}.log").read_text()
    assert expected in log, f"the task's output file says why: {log!r}"
    pid, _ = sweeps.store.supervisor(second.execution_id)  # type: ignore[attr-defined]
    assert pid is None, "no supervisor ran for it"


def test_stop_of_a_queued_point_cancels_its_task_at_once(
    sweeps: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    """Throttled to one, points 2 and 3 wait in Slurm's queue: they read pending (not
    running), and `shipyard stop` of point 3 cancels its task and ends it cancelled now, not
    after waiting for a supervisor that does not exist; the others run on."""
    trail, gate = tmp_path / "trail", tmp_path / "gate"
    spec = write_spec(GATED_SPEC.format(partition=slurm_env.partition, trail=trail, gate=gate))
    settings = SweepSettings(matrix={"n": ["1", "2", "3"]}, max_parallel_runs=1, slurm_array=True)
    started = sweeps.sweep(spec, settings, detach=True)
    wait_for_start(trail)
    points = sorted(sweeps.sweep_status(started.id).points, key=lambda p: p.parameters["n"])
    assert [p.state for p in points] == ["running", "pending", "pending"], points
    third = points[2]
    assert third.execution_id is not None and third.slurm_job is not None
    stopped = sweeps.stop(third.execution_id, grace=0.0, wait=False)
    assert stopped.state == ExecutionState.CANCELLED, stopped
    status = sweeps.status(third.execution_id)
    assert status.reason is not None and third.slurm_job in status.reason, status.reason
    assert status.unit("score").state.value == "skipped", status
    deadline = time.monotonic() + 60  # the sweep's poll sees the task gone from the queue
    point = third
    while point.state != "cancelled":
        assert time.monotonic() < deadline, f"the sweep still shows {point}"
        time.sleep(0.2)
        point = next(p for p in sweeps.sweep_status(started.id).points if p.parameters["n"] == 3)
    rows = slurm_env.run("squeue", "-h", "-r", "-O", "JobArrayID:|,State:|")
    assert third.slurm_job not in rows, f"its task left the queue: {rows}"
    others = sorted(sweeps.sweep_status(started.id).points, key=lambda p: p.parameters["n"])
    assert [p.state for p in others[:2]] == ["running", "pending"], others
    assert "start 3" not in trail.read_text()
    gate.touch()
    deadline = time.monotonic() + 90
    while "start 2" not in trail.read_text():  # point 2's task starts once point 1 ends
        assert time.monotonic() < deadline, trail.read_text()
        time.sleep(0.2)


def test_a_lost_points_journal_is_read_back_before_it_is_ended(
    ops: Operations, write_spec: SpecWriter
) -> None:
    """A step that succeeded just before its task died (the store never heard: its journal
    did) stays succeeded, as reconcile keeps it, so resume does not run it again."""
    from shipyard.models import UnitState
    from shipyard.slurmarray.points import end_unstarted

    spec = write_spec('name: one\nsteps:\n  a: {run: ["true"]}\n')
    done = ops.run(spec)
    assert done.state == ExecutionState.SUCCEEDED, done
    store = ops.store  # type: ignore[attr-defined]
    # What the store holds when its supervisor died before recording the step's end.
    store.update_unit(done.id, "a", state=UnitState.RUNNING, ended_at=None)
    store.update_execution(done.id, state=ExecutionState.RUNNING, ended_at=None, reason=None)
    end_unstarted(
        store,
        ops.workspace.run_dir(done.id),  # type: ignore[attr-defined]
        done.id,
        ExecutionState.FAILED,
        "Slurm job 1_0 FAILED",
        ops.clock,  # type: ignore[attr-defined]
    )
    status = ops.status(done.id)
    assert status.unit("a").state == UnitState.SUCCEEDED, status.unit("a")
    assert status.state == ExecutionState.SUCCEEDED, status
