"""An MPI step on Slurm (issue 16 §2, §3), against a real single-node Slurm: `mpi: {nprocs: 2}`
with `slurm: {ntasks: 2}` starts exactly two ranks, both as a job of its own and as a step of the
run's allocation. ntasks sizes what Slurm grants; mpirun starts the ranks in it, so the step runs
mpirun once (in allocation mode srun ran it once per task: four ranks)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests import slurm
from tests.acceptance.conftest import Shipyard
from tests.conftest import SpecWriter, missing_component
from tests.slurm import SlurmCluster

slurm_cluster = slurm.slurm_cluster
slurm_env = slurm.slurm_env

pytestmark = pytest.mark.local_only(
    "the cluster's SLURM_CONF reaches the engine through the test's environment, set after "
    "a server would have started"
)


@pytest.mark.parametrize("mode", ["job", "allocation"])
def test_an_mpi_step_on_slurm_runs_its_ranks_once(
    shipyard: Shipyard, write_spec: SpecWriter, slurm_env: SlurmCluster, mode: str
) -> None:
    if shutil.which("mpirun") is None:
        missing_component("mpirun is not installed (apt-get install openmpi-bin)")
    spec = write_spec(
        f"""
        name: ranks
        slurm: {{partition: shipyard, mode: {mode}, ntasks: 2}}
        steps:
          hello:
            runner: slurm
            mpi: {{nprocs: 2}}
            run: [sh, -c, 'echo "rank $OMPI_COMM_WORLD_RANK of $OMPI_COMM_WORLD_SIZE"']
        """
    )
    done = shipyard("run", str(spec), timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    status = json.loads(shipyard("status", "--json").stdout)
    logs = shipyard("logs", status["id"], "hello").stdout
    ranks = sorted(line[5:] for line in logs.splitlines() if line.startswith("rank "))
    assert ranks == ["0 of 2", "1 of 2"], f"{mode}: expected two ranks, the log says:\n{logs}"
