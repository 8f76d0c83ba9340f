"""Slurm's own failures, end to end: a step past its Slurm time limit (``TIMEOUT``), a step
whose node an admin sets DOWN under it (``NODE_FAIL``), a step over its ``--mem``
(``OUT_OF_MEMORY``), each run with the installed ``shipyard`` against a real single-node Slurm
and read back from ``shipyard status --json``: the step's state, exit code, reason (the job,
Slurm's end state mapped by the runner, its node and Slurm's reason field) and node column.

Each uses a cluster of this module's own (tests/slurm.py ``throwaway_slurm``), never the
session's shared one: a node set DOWN, memory enforcement and an admin's change of a job's
limit are no business of the other tests. Measured on Slurm 22.05 (what the OS packages give):
``--time=0:05`` is rounded up to a whole minute (``TimeLimit=00:01:00``), and slurmctld checks
time limits every 30 s (``PERIODIC_TIMEOUT``, not configurable): a limit ends a job 60-90 s
after its start. The TIMEOUT test so lowers the running job's limit to 0 the way an admin does
(``scontrol update JobId=… TimeLimit=0``): the job then ends ``TIMEOUT`` at slurmctld's next
check, within 30 s, by the same code path as a limit reached by itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import slurm
from tests.acceptance.conftest import shipyard_executable
from tests.conftest import SpecWriter, missing_component
from tests.slurm import SlurmCluster

#: The memory cgroups (v1) that Slurm's task/cgroup constrains a job with
MEMORY_CGROUPS = Path("/sys/fs/cgroup/memory")
#: Slurm reads cgroup.conf beside slurm.conf: memory limits from cgroups, nothing else
CGROUP_CONF = "\n".join(
    [
        "CgroupPlugin=cgroup/v1",
        f"CgroupMountpoint={MEMORY_CGROUPS.parent}",
        "ConstrainRAMSpace=yes",
        "ConstrainSwapSpace=yes",
        "ConstrainCores=no",
        "ConstrainDevices=no",
        "",
    ]
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[SlurmCluster]:
    with slurm.throwaway_slurm() as own:
        yield own


@pytest.fixture(scope="module")
def memory_cluster() -> Iterator[SlurmCluster]:
    """A cluster that enforces ``--mem``: memory a consumable resource (``CR_Core_Memory``)
    and each job in a memory cgroup of its own (``task/cgroup``), whose OOM kill Slurm reports
    as ``OUT_OF_MEMORY``. (``jobacct_gather/linux`` with ``OverMemoryKill`` kills too, but
    Slurm 22.05 records that job as ``FAILED``, reason ``JobLaunchFailure``, signal 9: measured.)"""
    if not (MEMORY_CGROUPS / "cgroup.procs").exists() or not os.access(MEMORY_CGROUPS, os.W_OK):
        missing_component(
            f"no writable cgroup v1 memory controller at {MEMORY_CGROUPS}: Slurm's task/cgroup "
            "cannot confine a job's memory here"
        )
    settings = {
        "SelectTypeParameters": "CR_Core_Memory",
        "DefMemPerCPU": "100",
        "TaskPlugin": "task/cgroup",
    }
    with slurm.throwaway_slurm(settings, files={"cgroup.conf": CGROUP_CONF}) as own:
        try:
            yield own
        finally:
            # slurmd leaves its (empty) root cgroup behind: gone with the cluster
            with contextlib.suppress(OSError):
                (MEMORY_CGROUPS / f"slurm_{own.node}").rmdir()


class Cli:
    """The installed ``shipyard`` with its home in the test's folder and ``SLURM_CONF`` of a
    cluster (the engine passes its environment to the Slurm clients)."""

    def __init__(self, home: Path, cluster: SlurmCluster) -> None:
        self.cwd = home.parent
        self.env = {
            **os.environ,
            **cluster.env,
            "SHIPYARD_HOME": str(home),
            "NO_COLOR": "1",
        }
        self.executable = shipyard_executable()

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.executable, *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.cwd,
            timeout=60,
            check=False,
        )

    def start(self, spec: Path) -> subprocess.Popen[str]:
        """``shipyard run SPEC`` in the foreground, as a user runs it, in the background."""
        return subprocess.Popen(
            [self.executable, "run", str(spec)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            cwd=self.cwd,
        )

    def status(self) -> dict[str, Any]:
        done = self("status", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        shown: dict[str, Any] = json.loads(done.stdout)
        return shown


def _finished(run: subprocess.Popen[str], cluster: SlurmCluster, job_id: str) -> str:
    """The output of ``shipyard run`` once it ends (90 s at most: Slurm's checks are every
    30 s), or a failure saying what Slurm made of the job."""
    try:
        output, _ = run.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        run.kill()
        output, _ = run.communicate()
        job = cluster.job(job_id)
        raise AssertionError(
            f"`shipyard run` did not end within 90 s; Slurm's job {job_id}: "
            f"{job.get('JobState')} (reason {job.get('Reason')}, restarts {job.get('Restarts')})"
            f"; output: {output}"
        ) from None
    return output


def _running_job(cli: Cli, marker: Path, unit: str) -> str:
    """The job id of ``unit`` once its command runs (``marker`` made), from the run folder's
    slurm/jobs as ``status --json`` names it."""
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, "the job never ran"
        time.sleep(0.1)
    jobs = Path(cli.status()["run_dir"]) / "slurm" / "jobs"
    [job_id] = [
        line.split()[0] for line in jobs.read_text().splitlines() if line.split()[1].endswith(unit)
    ]
    return job_id


def _unit(status: dict[str, Any], name: str) -> dict[str, Any]:
    units = {unit["name"]: unit for unit in status["units"]}
    found: dict[str, Any] = units[name]
    return found


@pytest.mark.slow
def test_a_step_past_its_slurm_time_limit_ends_as_timeout(
    cluster: SlurmCluster, write_spec: SpecWriter, tmp_path: Path
) -> None:
    marker = tmp_path / "running"
    spec = write_spec(
        f"""
        name: overtime
        slurm: {{partition: {cluster.partition}, time: "0:05"}}
        steps:
          overtime: {{runner: slurm, run: 'touch {marker}; exec sleep 300', shell: true}}
        """
    )
    cli = Cli(tmp_path / "home", cluster)
    run = cli.start(spec)
    try:
        job_id = _running_job(cli, marker, "overtime")
        job = cluster.job(job_id)
        assert job["TimeLimit"] == "00:01:00", f"Slurm's limits are whole minutes: {job}"
        # An admin lowers the running job's limit: it is past it, slurmctld ends it TIMEOUT
        cluster.run("scontrol", "update", f"JobId={job_id}", "TimeLimit=0")
        output = _finished(run, cluster, job_id)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode != 0, output
    status = cli.status()
    assert status["state"] == "failed", status
    unit = _unit(status, "overtime")
    assert unit["state"] == "failed", unit
    assert unit["exit_code"] == 124, f"TIMEOUT is exit code 124, as a timeout elsewhere: {unit}"
    assert unit["reason"] == (
        f"Slurm job {job_id} TIMEOUT on {cluster.node}: reached its Slurm time limit "
        "(exit code 124); reason TimeLimit"
    ), unit["reason"]
    assert unit["node"] == f"job {job_id} on {cluster.node}", unit
    assert cluster.job(job_id)["JobState"] == "TIMEOUT", "the same end in Slurm's records"


def test_a_step_whose_node_goes_down_ends_as_node_fail(
    cluster: SlurmCluster, write_spec: SpecWriter, tmp_path: Path
) -> None:
    marker = tmp_path / "running"
    spec = write_spec(
        f"""
        name: downed
        steps:
          downed: {{runner: slurm, run: 'touch {marker}; exec sleep 300', shell: true}}
        """
    )
    cli = Cli(tmp_path / "home", cluster)
    run = cli.start(spec)
    try:
        job_id = _running_job(cli, marker, "downed")
        cluster.run(
            "scontrol", "update", f"NodeName={cluster.node}", "State=DOWN", "Reason=shipyard-test"
        )
        output = _finished(run, cluster, job_id)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        _resume(cluster)
    assert run.returncode != 0, output
    status = cli.status()
    unit = _unit(status, "downed")
    assert unit["state"] == "failed", json.dumps(unit)
    # slurmctld kills a DOWN node's jobs: the batch script (`exec sleep`) gets SIGTERM, and
    # the job's exit is that signal — when slurmd reported it before the node was marked
    # down. On a loaded machine it may not have: the job then ends with no status of its own,
    # which Shipyard records as unknown (255, the shell's convention) and says nothing more
    # of (both seen in CI). Either way the job is NODE_FAIL, and the reason says so.
    ends = {143: " (killed by signal TERM)", 255: ""}
    assert unit["exit_code"] in ends, json.dumps(unit)
    assert unit["reason"] == (
        f"Slurm job {job_id} NODE_FAIL on {cluster.node}: its node failed"
        f"{ends[unit['exit_code']]}; reason NodeDown"
    ), unit["reason"]
    assert unit["node"] == f"job {job_id} on {cluster.node}", unit
    job = cluster.job(job_id)
    assert job["JobState"] == "NODE_FAIL", job
    assert (job["Requeue"], job["Restarts"]) == ("0", "0"), (
        f"submitted with --no-requeue: Slurm does not run it again behind Shipyard's back: {job}"
    )


def _resume(cluster: SlurmCluster) -> None:
    """The node back in service, idle, for the next test (ReturnToService may have done it
    already: then RESUME is refused, harmlessly)."""
    with contextlib.suppress(RuntimeError):
        cluster.run("scontrol", "update", f"NodeName={cluster.node}", "State=RESUME")
    deadline = time.monotonic() + 60
    while cluster.node_state() != "idle":
        assert time.monotonic() < deadline, f"the node did not come back: {cluster.node_state()}"
        time.sleep(0.2)


def test_a_step_over_its_memory_ends_as_out_of_memory(
    memory_cluster: SlurmCluster, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(
        """
        name: hungry
        steps:
          hungry:
            runner: slurm
            slurm: {extra: [--mem=50M]}
            run: [python3, -c, "data = b'x' * (400 * 2**20); print('allocated', len(data))"]
        """
    )
    cli = Cli(tmp_path / "home", memory_cluster)
    done = cli("run", str(spec))
    assert done.returncode != 0, done.stdout + done.stderr
    status = cli.status()
    unit = _unit(status, "hungry")
    job_id = unit["reason"].split()[2]
    assert unit["state"] == "failed", unit
    assert unit["exit_code"] == 137, f"OUT_OF_MEMORY is a SIGKILL: {unit}"
    assert unit["reason"] == (
        f"Slurm job {job_id} OUT_OF_MEMORY on {memory_cluster.node}: ran out of memory "
        "(killed by Slurm) (killed by signal KILL); reason OutOfMemory"
    ), unit["reason"]
    assert unit["node"] == f"job {job_id} on {memory_cluster.node}", unit
    job = memory_cluster.job(job_id)
    assert job["JobState"] == "OUT_OF_MEMORY", job
    logs = cli("logs", status["id"], "hungry").stdout
    assert "allocated" not in logs, f"the step was killed before it had its memory: {logs}"
