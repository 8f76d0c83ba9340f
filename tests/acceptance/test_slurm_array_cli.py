"""`shipyard sweep --slurm-array` through the installed CLI (issue 16 §3), against a real
single-node Slurm (tests/slurm.py): the sweep process submits one job array, every point runs
as one of its tasks, and `sweep status` shows each point's task (``<array>_<i>``)."""

from __future__ import annotations

import json
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


def test_a_sweep_as_a_job_array_from_the_cli(
    shipyard: Shipyard, write_spec: SpecWriter, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    spec = write_spec(
        f"""
        name: arrayed
        parameters: {{n: {{type: int, default: 1}}}}
        slurm: {{partition: {slurm_env.partition}}}
        steps:
          where:
            runner: slurm
            run: [sh, -c, 'echo "point $SHIPYARD_PARAM_N task $SLURM_ARRAY_TASK_ID"']
        """
    )
    done = shipyard(
        "sweep", str(spec), "-m", "n=1,2,3", "--max-parallel-runs", "2", "--slurm-array",
        timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "slurm job" in done.stdout, done.stdout
    shown = json.loads(shipyard("sweep", "status", "--json").stdout)
    assert shown["settings"]["slurm_array"] is True
    jobs = [point["slurm_job"] for point in shown["points"]]
    array_id = jobs[0].split("_")[0]
    assert jobs == [f"{array_id}_{index}" for index in range(3)], jobs
    for index, point in enumerate(shown["points"]):
        assert point["state"] == "succeeded", point
        logs = shipyard("logs", point["execution_id"], "where")
        assert f"point {index + 1} task {index}" in logs.stdout, logs.stdout + logs.stderr
        assert jobs[index] in done.stdout, "the table shows each point's task"
    job = slurm_env.job(jobs[0])
    assert job["ArrayJobId"] == array_id and job["JobState"] == "COMPLETED", job


def test_slurm_array_needs_the_swept_parameters(shipyard: Shipyard, write_spec: SpecWriter) -> None:
    spec = write_spec("name: s\nsteps:\n  a: {run: [true]}\n")
    done = shipyard("sweep", str(spec), "--slurm-array")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--slurm-array goes with -m" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
