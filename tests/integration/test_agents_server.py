"""Agents by name through a real ``shipyard serve`` (127.0.0.1): the readable routes with the
server's ``--agents-dir`` and ``--max-agents``, and RemoteOperations over the same protocol."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import shipyard
from shipyard.engine.liveness import pid_alive
from shipyard.errors import ShipyardError
from tests.serving import Served, served

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES / "agents", tmp_path / "fleet" / "agents")
    shutil.copytree(EXAMPLES / "agent-folder", tmp_path / "fleet" / "agent-folder")
    return tmp_path / "fleet" / "agent-folder"


@pytest.fixture
def server(tmp_path: Path, folder: Path) -> Iterator[Served]:
    args = ("--agents-dir", str(folder), "--max-agents", "1")
    with served(tmp_path / "home", args=args) as running:
        yield running
        scraped = httpx.get(f"{running.url}/metrics").text
        failed = re.findall(r'shipyard_http_requests_total\{[^}]*status="5\d\d"[^}]*\}', scraped)
        assert failed == [], f"routes answered 5xx: {failed}\n{running.log.read_text()}"
        leftovers = shipyard.connect(running.home)
        for summary in leftovers.list_executions(active_only=True):
            with contextlib.suppress(Exception):
                leftovers.stop(summary.id, force=True)
        leftovers.close()


def test_agents_by_name_over_http(server: Served, folder: Path) -> None:
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=120) as api:
        _walk(api, folder)


def _walk(api: httpx.Client, folder: Path) -> None:
    listed = api.get("/agents")  # the server's agents_dir: no folder in the request
    assert listed.status_code == 200, listed.text
    assert {a["name"]: a["state"] for a in listed.json()} == {
        "broken": "invalid",
        "maps": "discovered",
        "weather": "discovered",
    }
    deployed = api.post("/agents/weather/deploy")
    assert deployed.status_code == 200, deployed.text
    weather = deployed.json()
    assert weather["state"] == "deployed" and weather["health"] == "healthy"
    assert pid_alive(weather["pid"])

    # The server's --max-agents 1 holds even when the request asks for more.
    over = api.post("/agents/maps/deploy", params={"max_agents": 5})
    assert over.status_code == 409 and "max_agents is 1" in over.json()["msg"]
    again = api.post("/agents/weather/deploy")
    assert again.status_code == 409 and "already deployed" in again.json()["msg"]
    unknown = api.get("/agents/nope")
    assert unknown.status_code == 404 and "weather" in unknown.json()["hint"]
    invalid = api.post("/agents/broken/deploy")
    assert invalid.status_code == 400 and "cannot be deployed" in invalid.json()["msg"]

    restarted = api.post("/agents/weather/restart").json()
    assert restarted["pid"] != weather["pid"] and restarted["health"] == "healthy"
    status = api.get("/agents/weather").json()
    assert status["pid"] == restarted["pid"]
    gone = api.post("/agents/weather/undeploy", params={"grace": 5})
    assert gone.status_code == 200 and gone.json()["state"] == "discovered"
    assert not pid_alive(restarted["pid"])
    elsewhere = api.get("/agents", params={"folder": str(folder / "nowhere")})
    assert elsewhere.status_code == 400 and "is not a folder" in elsewhere.json()["msg"]


def test_agents_by_name_through_remote_operations(server: Served, folder: Path) -> None:
    remote = shipyard.connect(url=server.url, token=server.token)
    try:
        maps = remote.agent_deploy(folder, "maps")
        assert maps.state == "deployed" and maps.health == "healthy" and maps.pid
        with pytest.raises(ShipyardError, match="max_agents is 1"):
            remote.agent_deploy(folder, "weather")  # no limit asked: the server's holds
        states = {agent.name: agent.state for agent in remote.agents_list(folder)}
        assert states == {"broken": "invalid", "maps": "deployed", "weather": "discovered"}
        assert remote.agent_undeploy(folder, "maps").state == "discovered"
        assert not pid_alive(maps.pid)
    finally:
        remote.close()


def test_no_agents_folder_is_a_clear_400(tmp_path: Path) -> None:
    with served(tmp_path / "bare") as running:
        answer = httpx.get(
            f"{running.url}/api/v1/agents/weather",
            headers={"Authorization": f"Bearer {running.token}"},
        )
    assert answer.status_code == 400
    assert "no agents folder" in answer.json()["msg"] and "--agents-dir" in answer.json()["hint"]
