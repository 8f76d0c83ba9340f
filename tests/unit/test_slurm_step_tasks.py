"""How a step of a run's Slurm allocation is sized (``srun`` options): a command that starts
its own ranks (mpirun) runs once, on one node; any other command gets the settings' nodes and
tasks."""

from __future__ import annotations

import pytest

from shipyard.engine.process import SpawnError
from shipyard.engine.runners.slurm import step_tasks
from shipyard.plan.model import SlurmSettings

ALLOCATION = "allocation"


@pytest.mark.parametrize(
    ("nodes", "ntasks", "starts_ranks", "options"),
    [
        (None, None, False, []),
        (None, 2, False, ["--ntasks=2"]),
        (2, 4, False, ["--nodes=2", "--ntasks=4"]),
        (None, 2, True, ["--ntasks=1"]),  # mpirun once: it starts the two ranks
        (1, 4, True, ["--ntasks=1"]),
        (None, None, True, ["--ntasks=1"]),
    ],
)
def test_step_options(
    nodes: int | None, ntasks: int | None, starts_ranks: bool, options: list[str]
) -> None:
    settings = SlurmSettings(mode=ALLOCATION, nodes=nodes, ntasks=ntasks)
    assert step_tasks(settings, starts_ranks=starts_ranks) == options


def test_mpirun_across_nodes_of_an_allocation_is_refused_with_the_way_out() -> None:
    with pytest.raises(SpawnError, match=r"nodes: 3.*mode: job"):
        step_tasks(SlurmSettings(mode=ALLOCATION, nodes=3, ntasks=6), starts_ranks=True)
