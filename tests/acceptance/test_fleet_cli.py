"""examples/fleet.yaml through the installed CLI, as the issue checks it."""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
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
    # Lines are read on a thread, so a silent or stuck `up` fails this test with what it had
    # printed instead of blocking it in readline().
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout])
    reader.start()
    seen: list[str] = []
    deadline = time.monotonic() + 30
    try:
        while not (
            any("web | hello from web" in line for line in seen)
            and any("healthy web" in " ".join(line.split()) for line in seen)
        ):
            try:
                seen.append(lines.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"no 'hello' and 'healthy' lines in 30 s: {seen}") from None
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        reader.join(timeout=10)
        process.stdout.close()
    rest = "".join(lines.queue)
    assert process.returncode == 0, rest
    assert "stopped web" in " ".join(rest.split())
    assert "Traceback" not in rest


LOAD_TEST = Path(__file__).resolve().parents[2] / "examples" / "load-test.yaml"


def test_load_test_example_runs_its_steps_against_the_server_then_brings_it_down(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    ran = shipyard("run", str(LOAD_TEST), "--mode", "test", "-p", f"python={sys.executable}")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    status = json.loads(shipyard("status", "--json").stdout)
    units = {u["name"]: u for u in status["units"]}
    assert status["state"] == "succeeded"
    # A stopped service shows no pid (issue 11 §10); the one it ran as is in the events.
    assert units["web"]["state"] == "stopped" and units["web"]["pid"] is None
    events = Path(status["run_dir"], "events.jsonl").read_text().splitlines()
    started = [json.loads(line) for line in events if '"service_started"' in line]
    assert started and not any(pid_alive(event["pid"]) for event in started)
    figures = json.loads(Path(status["run_dir"], "artifacts", "load-test.json").read_text())
    assert figures["requests"] == 20 and figures["failures"] == 0  # the test: value
    assert figures["url"] == f"http://127.0.0.1:{units['web']['port']}/data.json"
    assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]


def test_up_keeps_the_server_of_a_spec_with_steps_until_down(shipyard: Shipyard) -> None:
    started = shipyard("up", "-d", str(LOAD_TEST), "-p", f"python={sys.executable}", "--json")
    assert started.returncode == 0, started.stdout + started.stderr
    execution_id = json.loads(started.stdout)["id"]
    deadline = time.monotonic() + 30
    while True:
        units = {u["name"]: u for u in json.loads(shipyard("ps", "--json").stdout)}
        if units["report"]["state"] == "succeeded":
            break
        assert time.monotonic() < deadline, units
        time.sleep(0.1)
    assert units["web"]["state"] == "running" and pid_alive(units["web"]["pid"])
    down = shipyard("down", execution_id)
    assert down.returncode == 0 and "stopped" in down.stdout, down.stdout + down.stderr
    assert not pid_alive(units["web"]["pid"])
