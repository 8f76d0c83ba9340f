"""The Slurm runner against a real single-node Slurm (tests/slurm.py): steps as sbatch jobs,
their exit codes, a stop that cancels the job in Slurm, Shipyard's own timeout, the node seen
by the runner, allocation mode with srun steps, and recovery cancelling a lost run's jobs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.models import ExecutionState, UnitState
from tests import slurm
from tests.conftest import SpecWriter
from tests.slurm import SlurmCluster

# slow as a file: jobs of a real single-node Slurm, waited for (make test-slow and CI run it)
pytestmark = pytest.mark.slow

# The fixtures of tests/slurm.py: a session's Slurm, with SLURM_CONF set for the engine.
slurm_cluster = slurm.slurm_cluster
slurm_env = slurm.slurm_env


def job_ids(ops: Operations, execution_id: str, unit: str) -> list[str]:
    """The Slurm job ids the runner noted for ``unit`` (slurm/jobs under the run folder)."""
    jobs = ops.workspace.run_dir(execution_id).root / "slurm" / "jobs"
    ids = []
    for line in jobs.read_text(encoding="utf-8").splitlines():
        job_id, name, _ = line.split(" ", 2)
        if name.endswith(f".{unit}"):
            ids.append(job_id)
    return ids


def log_of(ops: Operations, execution_id: str, unit: str) -> str:
    return ops.workspace.run_dir(execution_id).log_for(unit).read_text(encoding="utf-8")


def test_a_step_runs_as_a_slurm_job(
    ops: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    spec = write_spec(
        f"""
        name: one
        env: {{GREETING: "a, b and \\"c\\"  d"}}
        slurm: {{partition: {slurm_env.partition}, time: "5"}}
        steps:
          hello:
            runner: slurm
            run: [sh, -c, 'echo "$GREETING" in $(pwd) as $SLURM_JOB_ID; echo "$1"', x, "it's $HOME"]
        """
    )
    status = ops.run(spec)
    unit = status.unit("hello")
    assert status.state == ExecutionState.SUCCEEDED, unit.reason
    [job_id] = job_ids(ops, status.id, "hello")
    job = slurm_env.job(job_id)
    assert job["JobState"] == "COMPLETED", job
    assert job["Partition"] == slurm_env.partition
    assert job["TimeLimit"] == "00:05:00", "the settings' time reached sbatch"
    assert job["NodeList"] == slurm_env.node
    log = log_of(ops, status.id, "hello")
    # The environment, the workdir and an argv word with a quote arrive whole, from Slurm.
    assert f'a, b and "c"  d in {tmp_path} as {job_id}' in log, log
    assert "it's $HOME" in log, "an argv word must not be expanded by a shell"
    assert f"Slurm job {job_id} submitted" in log
    assert unit.pid is None or unit.pid == 0, "a job id is never recorded as a local pid"


def test_a_chain_runs_in_order(
    ops: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    trail = tmp_path / "trail"
    spec = write_spec(
        f"""
        name: chain
        steps:
          a: {{runner: slurm, run: 'echo a >> {trail}', shell: true}}
          b: {{runner: slurm, run: 'echo b >> {trail}', shell: true, needs: [a]}}
          c: {{runner: slurm, run: 'echo c >> {trail}', shell: true, needs: [b]}}
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED, [u.reason for u in status.units]
    assert trail.read_text().split() == ["a", "b", "c"]
    ids = [job_ids(ops, status.id, unit)[0] for unit in "abc"]
    assert len(set(ids)) == 3, f"one job per step: {ids}"


def test_a_failing_step_shows_slurms_exit_code(
    ops: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster
) -> None:
    spec = write_spec(
        """
        name: failing
        steps:
          bad: {runner: slurm, run: [sh, -c, 'echo about to fail; exit 3']}
          after: {runner: slurm, run: [true], needs: [bad]}
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.FAILED
    bad = status.unit("bad")
    [job_id] = job_ids(ops, status.id, "bad")
    assert bad.state == UnitState.FAILED
    assert bad.exit_code == 3, bad
    assert bad.reason == f"Slurm job {job_id} FAILED on {slurm_env.node}: exit code 3; " + (
        "reason NonZeroExitCode"
    ), bad.reason
    assert status.unit("after").state != UnitState.SUCCEEDED
    assert slurm_env.job(job_id)["ExitCode"] == "3:0"


def _stop_when_running(ops: Operations, execution_id: str, marker: Path) -> None:
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    ops.stop(execution_id, grace=0.5)  # the step does not finish by itself: stopped


def test_stop_cancels_the_job_in_slurm(
    ops: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    spec = write_spec(
        f"""
        name: stopped
        steps:
          long:
            runner: slurm
            run: "trap 'echo got TERM; exit 0' TERM; touch {marker}; while :; do sleep 0.1; done"
            shell: true
            stop: {{timeout: 20s}}
        """
    )
    started = ops.run(spec, detach=True)
    _stop_when_running(ops, started.id, marker)
    status = ops.status(started.id)
    deadline = time.monotonic() + 60
    while not status.state.finished:
        assert time.monotonic() < deadline, "the stopped run did not end"
        time.sleep(0.2)
        status = ops.status(started.id)
    assert status.state == ExecutionState.CANCELLED, status.state
    [job_id] = job_ids(ops, started.id, "long")
    job = slurm_env.job(job_id)
    assert job["JobState"] == "CANCELLED", job
    assert status.unit("long").state == UnitState.CANCELLED
    log = log_of(ops, started.id, "long")
    assert "got TERM" in log, f"the job is stopped with SIGTERM first, not killed: {log}"
    assert f"Slurm job {job_id} CANCELLED" in log


def test_shipyards_timeout_ends_the_job(
    ops: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster
) -> None:
    spec = write_spec(
        """
        name: slow
        steps:
          slow: {runner: slurm, run: [sleep, '300'], timeout: 2s, stop: {timeout: 1s}}
        """
    )
    status = ops.run(spec)
    unit = status.unit("slow")
    assert unit.state == UnitState.FAILED
    assert unit.reason is not None and unit.reason.startswith("timed out after"), unit.reason
    [job_id] = job_ids(ops, status.id, "slow")
    assert slurm_env.job(job_id)["JobState"] == "CANCELLED", "Shipyard's timeout cancels the job"


def test_the_node_and_state_are_logged(
    ops: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster
) -> None:
    spec = write_spec(
        """
        name: node
        steps:
          where: {runner: slurm, run: [sh, -c, 'sleep 1; echo on $SLURMD_NODENAME']}
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED
    [job_id] = job_ids(ops, status.id, "where")
    log = log_of(ops, status.id, "where")
    assert f"on {slurm_env.node}" in log
    assert f"Slurm job {job_id} RUNNING on {slurm_env.node}" in log, log
    assert f"Slurm job {job_id} COMPLETED on {slurm_env.node}: exit code 0" in log, log
    assert slurm_env.node_state() == "idle", "the node is free again"


def test_allocation_mode_runs_steps_with_srun_in_one_allocation(
    ops: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster
) -> None:
    spec = write_spec(
        """
        name: alloc
        slurm: {mode: allocation, ntasks: 1}
        steps:
          first: {runner: slurm, run: [sh, -c, 'echo job $SLURM_JOB_ID step $SLURM_STEP_ID']}
          second:
            runner: slurm
            run: [sh, -c, 'echo job $SLURM_JOB_ID step $SLURM_STEP_ID; exit 4']
            needs: [first]
        """
    )
    status = ops.run(spec)
    assert status.unit("first").state == UnitState.SUCCEEDED, status.unit("first").reason
    assert status.unit("second").exit_code == 4, "srun carries the step's exit code"
    [allocation] = job_ids(ops, status.id, "allocation")
    first = log_of(ops, status.id, "first")
    second = log_of(ops, status.id, "second")
    assert f"job {allocation} step 0" in first, first
    assert f"job {allocation} step 1" in second, second
    # The run's end released its allocation.
    deadline = time.monotonic() + 30
    while slurm_env.job(allocation)["JobState"] not in ("COMPLETED", "CANCELLED"):
        assert time.monotonic() < deadline, slurm_env.job(allocation)
        time.sleep(0.2)


def test_recovery_cancels_a_lost_runs_jobs(
    ops: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    from shipyard.engine.runners.slurm import cancel_recorded_jobs

    run_root = tmp_path / "lost-run"
    (run_root / "slurm").mkdir(parents=True)
    job_id = slurm_env.run(
        "sbatch", "--parsable", "--job-name=shipyard.lost-run.orphan", "--output=/dev/null",
        "--wrap", "sleep 300",
    ).strip()  # fmt: skip
    other = slurm_env.run(
        "sbatch", "--parsable", "--job-name=someone-else", "--output=/dev/null",
        "--wrap", "sleep 300",
    ).strip()  # fmt: skip
    try:
        (run_root / "slurm" / "jobs").write_text(
            f"{job_id} shipyard.lost-run.orphan {slurm_env.conf}\n"
            f"{other} shipyard.lost-run.reused {slurm_env.conf}\n"
        )
        assert cancel_recorded_jobs(run_root) == [job_id]
        assert slurm_env.job(job_id)["JobState"] == "CANCELLED"
        assert slurm_env.job(other)["JobState"] in ("RUNNING", "PENDING"), (
            "a job id whose name is not the run's is not cancelled"
        )
    finally:
        slurm_env.run("scancel", job_id, other)


def test_missing_sbatch_is_a_clear_error(
    ops: Operations, write_spec: SpecWriter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    spec = write_spec("name: none\nsteps:\n  s: {runner: slurm, run: [/bin/true]}\n")
    status = ops.run(spec)
    reason = status.unit("s").reason or ""
    assert "sbatch is not on PATH" in reason, reason
    assert "apt-get install slurm-wlm munge" in reason, reason


def test_a_lost_runs_job_is_cancelled_by_its_watchdog(
    ops: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    """kill -9 of the process running the execution: its watchdog cancels the job in Slurm.
    The job's own processes go without SHIPYARD_EXECUTION_ID (as on a node of a real cluster,
    where no local cleanup can find them): only scancel can end it."""
    import os
    import signal

    marker = tmp_path / "running"
    spec = write_spec(
        f"""
        name: orphaned
        steps:
          long:
            runner: slurm
            run: 'touch {marker}; exec env -u SHIPYARD_EXECUTION_ID sleep 300'
            shell: true
        """
    )
    execution_id = ops.run(spec, detach=True).id
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline, "the job never ran"
        time.sleep(0.05)
    supervisor = ops.store.supervisor(execution_id)[0]
    assert supervisor is not None
    [job_id] = job_ids(ops, execution_id, "long")
    assert slurm_env.job(job_id)["JobState"] == "RUNNING"
    os.kill(supervisor, signal.SIGKILL)
    while slurm_env.job(job_id)["JobState"] in ("RUNNING", "COMPLETING"):
        assert time.monotonic() < deadline + 30, "the lost run's job is still running"
        time.sleep(0.2)
    assert slurm_env.job(job_id)["JobState"] == "CANCELLED", slurm_env.job(job_id)
    assert ops.status(execution_id).state == ExecutionState.LOST


def test_a_refused_allocation_fails_the_steps_with_slurms_words(
    ops: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster
) -> None:
    spec = write_spec(
        """
        name: refused
        slurm: {mode: allocation, partition: nosuch}
        steps:
          a: {runner: slurm, run: [echo, a]}
          b: {runner: slurm, run: [echo, b]}
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.FAILED
    failed = [unit for unit in status.units if unit.state == UnitState.FAILED]
    assert failed, status.units
    # Both waited on the one salloc; the first refusal ends the run (the other may be
    # cancelled by it): each that failed says why, in Slurm's words.
    for unit in failed:
        reason = unit.reason or ""
        assert reason.startswith("salloc failed: "), reason
        assert "invalid partition" in reason.lower(), f"Slurm's own words: {reason}"


def test_a_step_waiting_for_its_allocation_is_stopped_and_the_request_cancelled(
    ops: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster
) -> None:
    """Five nodes of a one-node cluster: salloc waits. The engine does not (its heartbeat and
    control socket go on); a stop ends the waiting step and cancels the pending allocation."""
    spec = write_spec(
        """
        name: waiting
        slurm: {mode: allocation, nodes: 5}
        steps:
          big: {runner: slurm, run: [echo, never]}
        """
    )
    started = ops.run(spec, detach=True)
    jobs = ops.workspace.run_dir(started.id).root / "slurm" / "jobs"
    deadline = time.monotonic() + 30
    while not jobs.exists():
        assert time.monotonic() < deadline, "salloc never named its pending job"
        time.sleep(0.05)
    [allocation] = job_ids(ops, started.id, "allocation")
    assert slurm_env.job(allocation)["JobState"] == "PENDING"
    assert ops.status(started.id).state == ExecutionState.RUNNING, "the engine is not held up"
    ops.stop(started.id, grace=0.1)
    status = ops.status(started.id)
    while not status.state.finished:
        assert time.monotonic() < deadline + 30, "the stopped run did not end"
        time.sleep(0.1)
        status = ops.status(started.id)
    assert status.unit("big").state == UnitState.CANCELLED, status.unit("big")
    assert "waited for its Slurm allocation" in log_of(ops, started.id, "big")
    assert slurm_env.job(allocation)["JobState"] == "CANCELLED", "the pending request is gone"


def test_no_munge_is_a_clear_error(
    ops: Operations,
    write_spec: SpecWriter,
    slurm_env: SlurmCluster,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The cluster's configuration with a munge socket where no munged listens."""
    conf = tmp_path / "slurm.conf"
    lines = slurm_env.conf.read_text().splitlines()
    conf.write_text(
        "\n".join(
            "AuthInfo=socket=/nonexistent/munge.socket" if line.startswith("AuthInfo=") else line
            for line in lines
        )
    )
    monkeypatch.setenv("SLURM_CONF", str(conf))
    spec = write_spec("name: nomunge\nsteps:\n  s: {runner: slurm, run: [/bin/true]}\n")
    status = ops.run(spec)
    reason = status.unit("s").reason or ""
    assert reason.startswith("sbatch failed: "), reason
    assert "Munge encode failed" in reason, reason
    assert "is munged running" in reason and "apt-get install slurm-wlm munge" in reason, reason


def test_each_retry_is_a_new_job(
    ops: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    spec = write_spec(
        f"""
        name: flaky
        steps:
          flaky:
            runner: slurm
            run: 'echo x >> {counter}; test $(wc -l < {counter}) -ge 2'
            shell: true
            retries: {{count: 2, backoff: 10ms}}
        """
    )
    status = ops.run(spec)
    unit = status.unit("flaky")
    assert unit.state == UnitState.SUCCEEDED, unit.reason
    assert unit.attempts == 2
    first, second = job_ids(ops, status.id, "flaky")
    assert slurm_env.job(first)["JobState"] == "FAILED"
    assert slurm_env.job(second)["JobState"] == "COMPLETED"
    attempts = ops.store.attempts(status.id)
    assert [a.exit_code for a in attempts] == [1, 0], attempts


def test_a_forced_stop_kills_the_job(
    ops: Operations, write_spec: SpecWriter, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    marker = tmp_path / "running"
    spec = write_spec(
        f"""
        name: forced
        steps:
          stubborn:
            runner: slurm
            run: "trap '' TERM; touch {marker}; while :; do sleep 0.1; done"
            shell: true
            stop: {{timeout: 60s}}
        """
    )
    started = ops.run(spec, detach=True)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline, "the job never ran"
        time.sleep(0.05)
    ops.stop(started.id, force=True)
    status = ops.status(started.id)
    while not status.state.finished:
        assert time.monotonic() < deadline + 30, "the killed run did not end"
        time.sleep(0.1)
        status = ops.status(started.id)
    assert status.unit("stubborn").state == UnitState.CANCELLED
    [job_id] = job_ids(ops, started.id, "stubborn")
    assert slurm_env.job(job_id)["JobState"] == "CANCELLED", slurm_env.job(job_id)


def test_a_polls_nodes_are_written_at_once(tmp_path: Path) -> None:
    """record_nodes: one replace of nodes.json for all of a poll's changes, over what is there;
    nothing written when nothing changed."""
    from shipyard.nodes import NODES_FILE, read_nodes, record_node, record_nodes

    record_node(tmp_path, "other", "c01")
    record_nodes(tmp_path, {"a": "job 1 on c02", "b": "job 2 PENDING (Resources)"})
    assert read_nodes(tmp_path) == {
        "other": "c01",
        "a": "job 1 on c02",
        "b": "job 2 PENDING (Resources)",
    }
    before = (tmp_path / NODES_FILE).stat().st_ino
    record_nodes(tmp_path, {"a": "job 1 on c02"})
    assert (tmp_path / NODES_FILE).stat().st_ino == before, "nothing changed: not rewritten"


def test_a_broken_poll_ends_its_jobs_instead_of_hanging(tmp_path: Path) -> None:
    """squeue that cannot be run (found, not executable): the poll's error ends every job it
    watched, saying so, rather than leaving the run waiting for ever."""
    import asyncio

    from shipyard.engine.runners.slurm import SlurmHandle, SlurmRunner

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "squeue").write_text("#!/bin/sh\n")
    (bin_dir / "squeue").chmod(0o644)

    async def watch() -> str:
        runner = SlurmRunner(None, tmp_path, env={"PATH": str(bin_dir)}, poll_interval=0.01)  # type: ignore[arg-type]
        handle = SlurmHandle(runner, "41", "s", "TERM", str(tmp_path / "s.log"))
        runner._track(handle)
        status = await asyncio.wait_for(handle.exited, 10)
        return status.describe()

    described = asyncio.run(watch())
    assert described.startswith("Slurm job 41 UNKNOWN: ended, its exit status unknown"), described
    assert "the Slurm poll failed" in described, described
