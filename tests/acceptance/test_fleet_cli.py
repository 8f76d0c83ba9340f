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
from tests.conftest import SpecWriter

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


#: A fleet without steps whose prepare hook fails: its service must never start.
PREPARE_FAILS = """
name: prepfails
hooks:
  prepare: [sh, -c, 'echo prep-said; exit 4']
  cleanup: [sh, -c, 'echo cleanup-said']
services:
  a: {run: [sh, -c, 'touch started; exec sleep 60']}
"""
PREPARE_REASON = "the prepare hook `sh -c 'echo prep-said; exit 4'` exited with code 4"


def _hinted_logs(shipyard: Shipyard, stderr: str) -> list[str]:
    """What the command the error's hint names prints (``shipyard logs EXEC _prepare``)."""
    hint = next(line for line in stderr.splitlines() if line.strip().startswith("hint:"))
    command = hint.split("hint: shipyard ", 1)[1].split(" shows ")[0].split()
    assert command[0] == "logs" and command[-1] == "_prepare", hint
    shown = shipyard(*command)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    return shown.stdout.split()


def test_up_d_of_services_only_fails_on_its_prepare_hook_and_starts_nothing(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    up = shipyard("up", "-d", str(write_spec(PREPARE_FAILS)))
    assert up.returncode != 0, up.stdout
    said = " ".join(up.stderr.split())
    assert f"did not come up: {PREPARE_REASON}" in said, up.stderr
    assert _hinted_logs(shipyard, up.stderr) == ["prep-said"]
    assert not (tmp_path / "started").exists()
    status = json.loads(shipyard("status", "--json").stdout)
    assert (status["state"], status["reason"]) == ("failed", PREPARE_REASON)
    assert [(u["name"], u["state"]) for u in status["units"]] == [("a", "skipped")]
    assert [(h["name"], h["state"], h["exit_code"]) for h in status["hooks"]] == [
        ("_prepare", "failed", 4),
        ("_cleanup", "succeeded", 0),
    ]


def test_up_in_the_foreground_of_services_only_fails_on_its_prepare_hook(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    up = shipyard("up", str(write_spec(PREPARE_FAILS)), timeout=30)
    assert up.returncode != 0, up.stdout
    assert PREPARE_REASON in " ".join(up.stderr.split()), up.stderr
    # Each hook command's start and end is shown as it happens, as `run` shows them.
    shown = [" ".join(line.split()) for line in up.stdout.splitlines()]
    assert "running _prepare `sh -c 'echo prep-said; exit 4'`" in shown, up.stdout
    assert any(
        line.startswith("failed _prepare `sh -c 'echo prep-said; exit 4'` in ")
        and line.endswith("— exited with code 4")
        for line in shown
    ), up.stdout
    assert any(
        line.startswith("succeeded _cleanup `sh -c 'echo cleanup-said'` in ") for line in shown
    ), up.stdout
    assert _hinted_logs(shipyard, up.stderr) == ["prep-said"]
    assert not (tmp_path / "started").exists()


def test_the_hooks_of_services_only_run_at_up_and_at_down(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(
        PREPARE_FAILS.replace("exit 4", "touch prepared").replace(
            "echo cleanup-said", "echo cleanup-said; touch cleaned"
        )
    )
    up = shipyard("up", "-d", str(spec), "--json")
    assert up.returncode == 0, up.stdout + up.stderr
    execution_id = json.loads(up.stdout)["id"]
    assert (tmp_path / "prepared").exists() and not (tmp_path / "cleaned").exists()
    prepare = shipyard("logs", execution_id, "_prepare")
    assert prepare.stdout.split() == ["prep-said"], prepare.stdout + prepare.stderr
    down = shipyard("down", execution_id)
    assert down.returncode == 0 and "stopped" in down.stdout, down.stdout + down.stderr
    assert (tmp_path / "cleaned").exists()
    assert shipyard("logs", execution_id, "_cleanup").stdout.split() == ["cleanup-said"]
