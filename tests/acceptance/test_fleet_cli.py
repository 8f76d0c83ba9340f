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


def test_up_in_the_foreground_shows_events_and_output_and_ctrl_c_brings_it_down(
    write_spec,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    import subprocess

    from tests.acceptance.conftest import shipyard_executable

    spec = write_spec(
        f"""
        name: fg
        services:
          web:
            run: 'echo hello from web; exec {sys.executable} -m http.server --bind 127.0.0.1 $PORT'
            shell: true
            port: auto
            health: {{tcp: true, interval: 0.1s}}
        """
    )
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    process = subprocess.Popen(
        [shipyard_executable(), "up", str(spec)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while not any("web | hello from web" in line for line in seen):
        assert time.monotonic() < deadline, seen
        seen.append(process.stdout.readline())
    while not any("healthy web" in " ".join(line.split()) for line in seen):
        assert time.monotonic() < deadline, seen
        seen.append(process.stdout.readline())
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    assert "stopped web" in " ".join(rest.split())
    assert "Traceback" not in rest
