"""`shipyard agents list|deploy|status|restart|undeploy FOLDER NAME` through the installed
command, with real agent processes (and through a server with SHIPYARD_SERVER_CHECK=1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from shipyard.engine.liveness import pid_alive
from tests.acceptance.conftest import Shipyard

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES / "agents", tmp_path / "fleet" / "agents")
    shutil.copytree(EXAMPLES / "agent-folder", tmp_path / "fleet" / "agent-folder")
    return tmp_path / "fleet" / "agent-folder"


def _json(shipyard: Shipyard, *args: str) -> object:
    done = shipyard(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_agents_by_name_through_the_cli(shipyard: Shipyard, folder: Path) -> None:
    where = str(folder)
    listed = _json(shipyard, "agents", "list", where)
    assert isinstance(listed, list)
    assert {a["name"]: a["state"] for a in listed} == {
        "broken": "invalid",
        "maps": "discovered",
        "weather": "discovered",
    }

    deployed = shipyard("agents", "deploy", where, "weather", "--max-agents", "1")
    assert deployed.returncode == 0, deployed.stderr
    assert deployed.stdout.startswith("weather") and "deployed" in deployed.stdout
    assert "healthy" in deployed.stdout
    weather = _json(shipyard, "agents", "status", where, "weather")
    assert isinstance(weather, dict) and pid_alive(weather["pid"])

    refused = shipyard("agents", "deploy", where, "maps", "--max-agents", "1")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "max_agents is 1 and 1 agent of" in refused.stderr and "weather" in refused.stderr

    maps = _json(shipyard, "agents", "deploy", where, "maps")
    assert isinstance(maps, dict) and maps["health"] == "healthy"
    restarted = _json(shipyard, "agents", "restart", where, "maps")
    assert isinstance(restarted, dict) and restarted["pid"] != maps["pid"]
    assert restarted["restarts"] == 1

    detail = shipyard("agents", "status", where, "weather")
    assert detail.returncode == 0 and f"pid:          {weather['pid']}" in detail.stdout

    gone = shipyard("agents", "undeploy", where, "maps")
    assert gone.returncode == 0 and "discovered" in gone.stdout
    assert not pid_alive(restarted["pid"])
    assert pid_alive(weather["pid"])  # the other agent kept running throughout
    shipyard("agents", "undeploy", where, "weather")
    assert not pid_alive(weather["pid"])


def test_bad_names_through_the_cli(shipyard: Shipyard, folder: Path) -> None:
    where = str(folder)
    unknown = shipyard("agents", "deploy", where, "nope")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert "no agent named 'nope'" in unknown.stderr
    assert "broken, maps, weather" in unknown.stderr  # the hint lists the names
    invalid = shipyard("agents", "deploy", where, "broken")
    assert invalid.returncode == 2 and "'broken' cannot be deployed" in invalid.stderr
    assert "port should be a number" in invalid.stderr
    idle = shipyard("agents", "restart", where, "maps")
    assert idle.returncode == 2 and "'maps' of" in idle.stderr and "not deployed" in idle.stderr
    missing = shipyard("agents", "list", str(folder / "nowhere"))
    assert missing.returncode == 2 and "is not a folder" in missing.stderr
    hostile = shipyard("agents", "status", where, "../../etc/passwd")
    assert hostile.returncode == 2 and "no agent named" in hostile.stderr
    assert "Traceback" not in hostile.stderr


@pytest.mark.local_only("starts a server of its own with bad settings")
def test_serve_refuses_bad_agents_settings(shipyard: Shipyard, tmp_path: Path) -> None:
    zero = shipyard("serve", "--port", "0", "--max-agents", "0")
    assert zero.returncode == 2 and "max_agents 0 is below 1" in zero.stderr
    nowhere = shipyard("serve", "--port", "0", "--agents-dir", str(tmp_path / "nowhere"))
    assert nowhere.returncode == 2 and "is not a folder" in nowhere.stderr
    assert "Traceback" not in zero.stderr + nowhere.stderr
