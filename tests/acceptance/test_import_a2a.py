"""A2A job files (tests/fixtures/a2a, written in agentic-deployment-engine's format: upstream's
examples have no licence) through the installed CLI: each validates and plans as it is,
`shipyard import` writes a spec that validates and names what it could not map, a broken file is
reported at its own line and column with its own key names, and a job of tiny agents comes up
(`up -d`), shows in `ps` wired as its topology says, and comes down."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard

FIXTURES = Path(__file__).parents[1] / "fixtures" / "a2a"
#: file → (services, topology type, a key its import must name as not mapped or approximate)
FILES = {
    "pipeline.yaml": (4, "pipeline", "job.version"),
    "dag.yaml": (4, "dag", "topology.connections[2].type"),
    "mesh.yaml": (3, "mesh", "job.version"),
    "hierarchical.yaml": (6, "hierarchical", "job.version"),
    "hierarchical-tree.yaml": (5, "hierarchical", "deployment.strategy"),
    "ssh-hosts.yaml": (3, "hub-spoke", "agents[2].deployment.password"),
    "agents/job.yaml": (3, "hub-spoke", "job.version"),
}


@pytest.mark.parametrize("name", FILES)
def test_validates_and_plans_as_it_is(shipyard: Shipyard, name: str) -> None:
    file = FIXTURES / name
    count, _, _ = FILES[name]
    checked = shipyard("validate", str(file), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["valid"] and report["services"] == count, report
    assert f"note: {file} is an A2A job" in checked.stderr, checked.stderr
    plan = shipyard("plan", str(file), "--json")
    assert plan.returncode == 0, plan.stderr
    services = {s["name"] for s in json.loads(plan.stdout)["services"]}
    assert len(services) == count, plan.stdout


@pytest.mark.parametrize("name", FILES)
def test_import_writes_a_spec_that_validates(shipyard: Shipyard, name: str, tmp_path: Path) -> None:
    count, topology, named = FILES[name]
    out = tmp_path / "out" / "spec.yaml"
    out.parent.mkdir()
    done = shipyard("import", str(FIXTURES / name), "-o", str(out), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["format"] == "a2a"
    text = out.read_text()
    assert text == result["spec"]
    assert "# module: the deployer starts `python -m <module>`" in text, "mappings are commented"
    assert f"type: {topology}  # topology.type" in text, text
    checked = shipyard("validate", str(out), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["services"] == count
    keys = [w["key"] for w in result["warnings"]]
    assert named in keys, f"{named} is not named in {keys}"
    assert all(w["line"] for w in result["warnings"]), "each warning has its line"


def test_the_ssh_file_runs_its_remote_agents_through_the_ssh_runner(shipyard: Shipyard) -> None:
    plan = shipyard("plan", str(FIXTURES / "ssh-hosts.yaml"), "--json")
    assert plan.returncode == 0, plan.stderr
    services = {s["name"]: s for s in json.loads(plan.stdout)["services"]}
    runners = {name: (s["runner"], s["host"]) for name, s in services.items()}
    assert runners == {
        "local-hub": ("local", ""),
        "remote-a": ("ssh:127.0.0.1", "127.0.0.1"),
        "remote-b": ("ssh:127.0.0.2", "127.0.0.2"),
    }, runners
    assert services["remote-a"]["workdir"] == "/srv/agents", "deployment.workdir, on the host"
    assert services["remote-a"]["command"]["argv"][0] == "/usr/bin/python3", "its python"


BROKEN = """job:
  name: broken
  description: a job with mistakes
agents:
  - id: weather
    module: agents.weather
    config: {name: Weather}
  - id: maps
    module: agents.maps
    config: {port: 9002}
    deployment: {target: kubernetes}
topology:
  type: hub-spoke
  hub: maps
  spokes: [wether]
"""


def test_a_broken_file_is_reported_at_its_own_lines(shipyard: Shipyard, tmp_path: Path) -> None:
    file = tmp_path / "job.yaml"
    file.write_text(BROKEN)
    checked = shipyard("validate", str(file))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    for expected in (
        "job.yaml:7:5: agent 'weather' has no config.port",
        "job.yaml:11:18: deployment target 'kubernetes' has no runner",
        "job.yaml:15:12: 'wether' is not an agent id",
        "did you mean 'weather'?",
    ):
        assert expected in checked.stdout, f"{expected!r} not in:\n{checked.stdout}"
    assert "Traceback" not in checked.stdout + checked.stderr
    for command in ("import", "plan"):
        refused = shipyard(command, str(file))
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "job.yaml:15:12: 'wether' is not an agent id" in refused.stderr, refused.stderr


def _card(port: int) -> dict[str, object]:
    url = f"http://127.0.0.1:{port}/.well-known/agent-configuration"
    with urllib.request.urlopen(url, timeout=5) as answer:
        card: dict[str, object] = json.load(answer)
    return card


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def test_a_job_of_tiny_agents_comes_up_and_down(shipyard: Shipyard, tmp_path: Path) -> None:
    folder = tmp_path / "job"
    shutil.copytree(FIXTURES / "agents", folder)
    up = shipyard("up", "-d", str(folder / "job.yaml"), "--json", timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    execution = json.loads(up.stdout)["id"]
    try:
        ps = shipyard("ps", execution, "--json")
        assert ps.returncode == 0, ps.stderr
        units = {u["name"]: u for u in json.loads(ps.stdout)}
        assert set(units) == {"weather", "maps", "controller"}, units
        for unit in units.values():
            assert unit["health"] == "healthy", unit
            assert unit["probe"] == "HTTP 200 from /.well-known/agent-configuration", unit
        controller = _card(units["controller"]["port"])
        assert controller["name"] == "Controller", "config.name reached it as AGENT_NAME"
        assert controller["agent_id"] == "controller" and controller["job_id"] == "tiny-agents"
        assert controller["greeting"] == "hello", "the job's environment reached it"
        spokes = {f"http://127.0.0.1:{units[n]['port']}" for n in ("weather", "maps")}
        connected = controller["connected"]
        assert isinstance(connected, list) and set(connected) == spokes, (
            "the hub talks to its spokes"
        )
        assert _card(units["weather"]["port"])["connected"] == [], "a spoke talks to no one"
    finally:
        down = shipyard("down", execution, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    for unit in units.values():
        assert not _alive(unit["pid"]), f"{unit['name']} (pid {unit['pid']}) is still running"


def test_the_imported_spec_written_elsewhere_runs_the_agents(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    folder = tmp_path / "job"
    shutil.copytree(FIXTURES / "agents", folder)
    out = tmp_path / "elsewhere" / "spec.yaml"
    out.parent.mkdir()
    done = shipyard("import", str(folder / "job.yaml"), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert 'workdir: "../job"' in out.read_text(), "the agents run in the job file's folder"
    up = shipyard("up", "-d", str(out), "--json", timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    execution = json.loads(up.stdout)["id"]
    try:
        ps = shipyard("ps", execution, "--json")
        states = {u["name"]: u["health"] for u in json.loads(ps.stdout)}
        assert states == dict.fromkeys(("weather", "maps", "controller"), "healthy"), states
    finally:
        down = shipyard("down", execution, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
