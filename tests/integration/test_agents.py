"""Agent folders: discovery with a malformed file, deploy with max_agents, restart, undeploy."""

from __future__ import annotations

import shutil
from itertools import pairwise
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.engine.liveness import pid_alive
from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of examples/agent-folder next to a copy of the agent program it runs."""
    shutil.copytree(EXAMPLES / "agents", tmp_path / "agents")
    shutil.copytree(EXAMPLES / "agent-folder", tmp_path / "fleet" / "agent-folder")
    shutil.move(tmp_path / "agents", tmp_path / "fleet" / "agents")
    return tmp_path / "fleet" / "agent-folder"


def test_discover_reports_the_malformed_file_and_loads_the_others(
    ops: Operations, folder: Path
) -> None:
    found = {agent.name: agent for agent in ops.agents_discover(folder)}
    assert found["weather"].state == "discovered" and found["maps"].state == "discovered"
    broken = found["broken"]
    assert broken.state == "invalid"
    assert broken.file.endswith("broken/agent.yaml")
    assert broken.problem == "port should be a number or 'auto', not 'eighty'"


def test_deploy_restart_undeploy(ops: Operations, folder: Path) -> None:
    with pytest.raises(ShipyardError, match=r"2 agents, more than max_agents \(1\)"):
        ops.agents_deploy(folder, max_agents=1)
    status = ops.agents_deploy(folder)
    assert status.state == ExecutionState.RUNNING
    assert {u.name: u.health for u in status.units} == {"maps": "healthy", "weather": "healthy"}
    old = status.unit("maps").pid
    restarted = ops.restart_service(ops.agents_fleet(folder), "maps")
    assert restarted.pid != old and restarted.restarts == 1
    pids = [u.pid for u in ops.status(status.id).units]
    report = ops.stop(ops.agents_fleet(folder), grace=0)
    assert report.state == ExecutionState.STOPPED
    assert not any(pid_alive(pid) for pid in pids if pid)
    with pytest.raises(ShipyardError, match="no agents of"):
        ops.agents_fleet(folder)


def test_hostile_agent_files_are_reported_not_raised(ops: Operations, folder: Path) -> None:
    """Each parser recursed once per nesting level (RecursionError out of `agents discover`);
    an agent file is read like a spec: bounded depth and alias expansion, a sane size."""
    hostile = {
        "deep-json/agent.json": "[" * 3000 + "]" * 3000,
        "deep-toml/agent.toml": 'command = ["sleep"]\na = ' + "[" * 5000 + "1" + "]" * 5000,
        "deep-yaml/agent.yaml": "command: " + "[" * 5000 + "]" * 5000,
        "bomb/agent.yaml": "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n" for a, b in pairwise("abcdefghi"))
        + "command: [sleep, '1']\n",
        "huge/agent.json": '{"command": ["sleep"], "x": "' + "y" * (5 * 1024 * 1024) + '"}',
    }
    for relative, text in hostile.items():
        (folder / relative).parent.mkdir()
        (folder / relative).write_text(text, encoding="utf-8")
    found = {agent.name: agent for agent in ops.agents_discover(folder)}
    assert found["weather"].state == "discovered" and found["maps"].state == "discovered"
    problems = {name: found[name].problem or "" for name in ("deep-json", "deep-toml", "deep-yaml")}
    assert all("nested" in problem for problem in problems.values()), problems
    assert "aliases" in (found["bomb"].problem or ""), found["bomb"].problem
    assert "larger than 4 MiB" in (found["huge"].problem or ""), found["huge"].problem
    assert all(found[relative.split("/")[0]].state == "invalid" for relative in hostile)
