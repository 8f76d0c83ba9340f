"""examples/fleet.yaml through the installed CLI, as the issue checks it."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from shipyard.engine.liveness import pid_alive
from tests.acceptance.conftest import Shipyard

FLEET = Path(__file__).resolve().parents[2] / "examples" / "fleet.yaml"


def test_up_ps_kill_a_spoke_down_and_no_survivors(shipyard: Shipyard) -> None:
    started = shipyard("up", "-d", str(FLEET), "-p", f"python={sys.executable}", "--json")
    assert started.returncode == 0, started.stdout + started.stderr
    execution_id = json.loads(started.stdout)["id"]
    units = {u["name"]: u for u in json.loads(shipyard("ps", "--json").stdout)}
    assert {name: u["health"] for name, u in units.items()} == {
        "weather": "healthy",
        "maps": "healthy",
        "controller": "healthy",
    }
    old = units["maps"]["pid"]
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        maps = {u["name"]: u for u in json.loads(shipyard("ps", "--json").stdout)}["maps"]
        if maps["pid"] != old and maps["health"] == "healthy":
            break
        assert time.monotonic() < deadline, maps
        time.sleep(0.1)
    assert maps["restarts"] == 1
    talk = shipyard("logs", execution_id, "controller").stdout
    assert "asked weather" in talk and "asked maps" in talk  # through CONNECTED_AGENTS
    pids = [u["pid"] for u in json.loads(shipyard("ps", "--json").stdout)]
    down = shipyard("down")
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not any(pid_alive(pid) for pid in pids)
