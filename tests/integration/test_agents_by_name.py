"""Agents by name (issue 13, ATOLL's deployment server): discovered without running, deploy,
status, restart and undeploy by name with real agent processes, max_agents, unknown names."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from shipyard.agents import folder_fleet_name
from shipyard.api import Operations
from shipyard.engine.liveness import pid_alive
from shipyard.errors import ShipyardError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of examples/agent-folder (weather, maps, broken) beside the agent program."""
    shutil.copytree(EXAMPLES / "agents", tmp_path / "fleet" / "agents")
    shutil.copytree(EXAMPLES / "agent-folder", tmp_path / "fleet" / "agent-folder")
    return tmp_path / "fleet" / "agent-folder"


def _asks(port: int | None) -> str:
    """What the agent on ``port`` answers (proves the process behind the port is it)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
        return str(response.status)


def test_list_discovers_without_running(ops: Operations, folder: Path) -> None:
    listed = {agent.name: agent for agent in ops.agents_list(folder)}
    assert {name: agent.state for name, agent in listed.items()} == {
        "broken": "invalid",
        "maps": "discovered",
        "weather": "discovered",
    }
    assert listed["broken"].problem == "port should be a number or 'auto', not 'eighty'"
    assert all(agent.pid is None and agent.execution_id is None for agent in listed.values())
    assert ops.list_executions() == []  # nothing was started


def test_deploy_by_name_keeps_the_others_running(ops: Operations, folder: Path) -> None:
    weather = ops.agent_deploy(folder, "weather")
    assert (weather.state, weather.health) == ("deployed", "healthy")
    assert weather.pid and pid_alive(weather.pid) and _asks(weather.port) == "200"
    assert ops.agent_status(folder, "maps").state == "discovered"

    maps = ops.agent_deploy(folder, "maps")
    assert (maps.state, maps.health) == ("deployed", "healthy")
    assert maps.port != weather.port and maps.execution_id != weather.execution_id
    still = ops.agent_status(folder, "weather")
    assert still.pid == weather.pid and still.restarts == 0  # not restarted by the second

    restarted = ops.agent_restart(folder, "maps")
    assert restarted.pid != maps.pid and restarted.health == "healthy"
    assert restarted.restarts == 1 and not pid_alive(maps.pid or 0)
    assert ops.agent_status(folder, "weather").pid == weather.pid

    gone = ops.agent_undeploy(folder, "maps", grace=5)
    assert gone.state == "discovered" and gone.pid is None
    assert not pid_alive(restarted.pid or 0)
    assert ops.agent_status(folder, "weather").pid == weather.pid
    states = {agent.name: agent.state for agent in ops.agents_list(folder)}
    assert states == {"broken": "invalid", "maps": "discovered", "weather": "deployed"}


def test_max_agents_and_a_second_deploy_are_refused(ops: Operations, folder: Path) -> None:
    first = ops.agent_deploy(folder, "weather", max_agents=1)
    refused = r"max_agents is 1 and 1 agent of .* runs already: weather"
    with pytest.raises(ShipyardError, match=refused) as err:
        ops.agent_deploy(folder, "maps", max_agents=1)
    assert "undeploy one first" in (err.value.hint or "")
    assert ops.agent_status(folder, "maps").state == "discovered"
    with pytest.raises(ShipyardError, match=r"'weather' is already deployed \(pid \d+"):
        ops.agent_deploy(folder, "weather")
    assert ops.agent_status(folder, "weather").pid == first.pid


def test_unknown_and_invalid_names(ops: Operations, folder: Path) -> None:
    for call in (ops.agent_status, ops.agent_deploy, ops.agent_restart, ops.agent_undeploy):
        with pytest.raises(ShipyardError, match="no agent named 'nope'") as err:
            call(folder, "nope")
        assert err.value.hint and "broken, maps, weather" in err.value.hint
    with pytest.raises(ShipyardError, match=r"'broken' cannot be deployed: .*agent.yaml: port"):
        ops.agent_deploy(folder, "broken")
    with pytest.raises(ShipyardError, match=r"'maps' of .* is not deployed") as err:
        ops.agent_undeploy(folder, "maps")
    assert "shipyard agents deploy" in (err.value.hint or "")
    with pytest.raises(ShipyardError, match="is not a folder"):
        ops.agents_list(folder / "weather" / "agent.toml")
    hostile = "../" * 40 + "\x00" + "x" * 5000
    with pytest.raises(ShipyardError, match="no agent named") as err:
        ops.agent_status(folder, hostile)
    assert len(str(err.value)) < 400


def test_by_name_sees_the_whole_folder_fleet(ops: Operations, folder: Path) -> None:
    """Agents deployed with the whole folder are the same agents by name: undeploy stops that
    fleet's service only, deploy starts it again in that fleet."""
    fleet = ops.agents_deploy(folder)
    maps_pid = fleet.unit("maps").pid
    listed = {agent.name: agent for agent in ops.agents_list(folder)}
    assert listed["weather"].state == "deployed" and listed["weather"].execution_id == fleet.id
    assert ops.agent_undeploy(folder, "weather").state == "discovered"
    assert ops.agent_status(folder, "maps").pid == maps_pid
    back = ops.agent_deploy(folder, "weather")
    assert back.state == "deployed" and back.execution_id == fleet.id
    assert json.dumps(back.port) and ops.agent_status(folder, "maps").pid == maps_pid


def test_an_agent_that_dies_is_failed_with_why(ops: Operations, folder: Path) -> None:
    crashing = folder / "crashing"
    crashing.mkdir()
    (crashing / "agent.json").write_text(
        json.dumps(
            {
                "command": ["python3", "-c", "import sys; sys.exit(3)"],
                "health": {"tcp": True, "interval": "0.2s"},  # without one, started = healthy
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(ShipyardError, match="'crashing' did not become healthy") as err:
        ops.agent_deploy(folder, "crashing")
    assert "shipyard logs" in (err.value.hint or "")
    failed = ops.agent_status(folder, "crashing")
    assert failed.state == "failed" and failed.pid is None and failed.execution_id
    assert failed.problem, failed
    assert ops.agent_status(folder, "weather").state == "discovered"


def test_the_whole_folder_is_refused_while_one_runs_by_name(ops: Operations, folder: Path) -> None:
    weather = ops.agent_deploy(folder, "weather")
    with pytest.raises(ShipyardError, match=r"run already, deployed by name: weather \(exec"):
        ops.agents_deploy(folder)
    assert ops.agent_status(folder, "weather").pid == weather.pid
    folder_fleet = folder_fleet_name(folder.resolve())
    assert ops.list_executions(name=folder_fleet) == []  # no second weather


def test_two_folders_of_one_name_stay_apart(ops: Operations, folder: Path) -> None:
    twin = folder.parent / "elsewhere" / folder.name  # another agent-folder, same name
    shutil.copytree(folder, twin)
    weather = ops.agent_deploy(folder, "weather")
    assert ops.agent_status(twin, "weather").state == "discovered"
    assert ops.agent_status(folder, "weather").pid == weather.pid
    with pytest.raises(ShipyardError, match="not deployed"):
        ops.agent_undeploy(twin, "weather")
    assert pid_alive(weather.pid or 0)
