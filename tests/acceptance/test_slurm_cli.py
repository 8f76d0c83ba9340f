"""Slurm steps through the installed CLI (issue 16 §3), against a real single-node Slurm
(tests/slurm.py): `shipyard run` of a spec with `runner: slurm` (a chain, a failing step whose
Slurm exit code and job are shown by `status`), and `shipyard stop` cancelling the job in
Slurm. Skipped without Slurm on a developer's machine; failed in CI (apt-get install -y
slurm-wlm munge)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests import slurm
from tests.acceptance.conftest import Shipyard
from tests.conftest import SpecWriter
from tests.slurm import SlurmCluster

slurm_cluster = slurm.slurm_cluster
slurm_env = slurm.slurm_env

pytestmark = pytest.mark.local_only(
    "the cluster's SLURM_CONF reaches the engine through the test's environment, set after "
    "a server would have started"
)


def test_run_a_slurm_chain_and_see_its_failure(
    shipyard: Shipyard, write_spec: SpecWriter, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    spec = write_spec(
        """
        name: hpc
        slurm: {partition: shipyard}
        steps:
          prepare: {runner: slurm, run: [sh, -c, 'echo prepared on $SLURMD_NODENAME']}
          compute:
            runner: slurm
            run: [sh, -c, 'echo computing; exit 5']
            needs: [prepare]
        """
    )
    done = shipyard("run", str(spec), timeout=120)
    assert done.returncode != 0, done.stdout + done.stderr
    listed = shipyard("status", "--json")
    status = json.loads(listed.stdout)
    units = {unit["name"]: unit for unit in status["units"]}
    assert units["prepare"]["state"] == "succeeded", units["prepare"]
    compute = units["compute"]
    assert compute["state"] == "failed"
    assert compute["exit_code"] == 5, compute
    assert compute["reason"].startswith("Slurm job "), compute["reason"]
    assert f"FAILED on {slurm_env.node}: exit code 5" in compute["reason"], compute["reason"]
    job_id = compute["reason"].split()[2]
    assert slurm_env.job(job_id)["ExitCode"] == "5:0", "the same job in Slurm's own records"
    logs = shipyard("logs", status["id"], "prepare")
    assert f"prepared on {slurm_env.node}" in logs.stdout, logs.stdout + logs.stderr
    shown = shipyard("status", status["id"])
    assert f"job {job_id} on {slurm_env.node}" in shown.stdout, shown.stdout


def test_stop_cancels_the_slurm_job(
    shipyard: Shipyard, write_spec: SpecWriter, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    marker = tmp_path / "running"
    spec = write_spec(
        f"""
        name: long
        steps:
          long: {{runner: slurm, run: 'touch {marker}; exec sleep 300', shell: true}}
        """
    )
    started = shipyard("run", "-d", str(spec))
    assert started.returncode == 0, started.stderr
    execution_id = started.stdout.split()[0]
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, "the job never ran"
        time.sleep(0.1)
    stopped = shipyard("stop", "--yes", "--grace", "1s", execution_id, timeout=120)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    status = json.loads(shipyard("status", "--json", execution_id).stdout)
    assert status["state"] == "cancelled", status
    jobs = (Path(status["run_dir"]) / "slurm" / "jobs").read_text().split()
    job = slurm_env.job(jobs[0])
    assert job["JobState"] == "CANCELLED", job
    assert slurm_env.node_state() == "idle", "the node is free again"
