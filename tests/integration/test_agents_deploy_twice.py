"""Deploying an agent folder (issue 11, items 2 and 3): a second deploy of a deployed folder is
refused instead of starting every agent twice, and two folders of one base name are two folders
(their own generated spec, their own fleet), told apart by their resolved paths."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.engine.liveness import pid_alive
from shipyard.errors import ShipyardError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """examples/agent-folder with the agent program its commands name (../../agents)."""
    shutil.copytree(EXAMPLES / "agents", tmp_path / "fleet" / "agents")
    shutil.copytree(EXAMPLES / "agent-folder", tmp_path / "fleet" / "agent-folder")
    return tmp_path / "fleet" / "agent-folder"


@pytest.fixture
def twin(folder: Path) -> Path:
    """A copy of ``folder`` elsewhere: another folder of the same base name."""
    other = folder.parent.parent / "other"
    shutil.copytree(folder.parent, other)
    return other / folder.name


def test_a_second_deploy_of_a_deployed_folder_is_refused(ops: Operations, folder: Path) -> None:
    first = ops.agents_deploy(folder)
    pids = {unit.name: unit.pid for unit in first.units}
    with pytest.raises(ShipyardError, match="already deployed, in " + first.id) as err:
        ops.agents_deploy(folder)
    assert "agents undeploy" in (err.value.hint or "")
    running = ops.list_executions(active_only=True)
    assert [summary.id for summary in running] == [first.id], "a second fleet was started"
    assert {unit.name: unit.pid for unit in ops.status(first.id).units} == pids
    ops.stop(ops.agents_fleet(folder), grace=0)
    again = ops.agents_deploy(folder)  # once undeployed, it deploys again
    assert again.id != first.id and all(unit.health == "healthy" for unit in again.units)


def test_two_folders_of_one_base_name_keep_apart(ops: Operations, folder: Path, twin: Path) -> None:
    fleet = ops.agents_deploy(folder)
    with pytest.raises(ShipyardError, match="no agents of"):
        ops.agents_fleet(twin)  # status and undeploy of the twin must not find folder's fleet
    other = ops.agents_deploy(twin)  # not refused as "already deployed" either
    assert other.id != fleet.id
    specs = sorted(path.name for path in (ops.workspace.home / "agents").glob("*.yaml"))
    assert len(specs) == 2, f"the two folders share a generated spec: {specs}"
    assert ops.agents_fleet(twin) == other.id and ops.agents_fleet(folder) == fleet.id
    pids = [unit.pid for unit in ops.status(other.id).units]
    ops.stop(ops.agents_fleet(twin), grace=0)
    assert not any(pid_alive(pid) for pid in pids if pid)
    assert all(unit.health == "healthy" for unit in ops.status(fleet.id).units)
