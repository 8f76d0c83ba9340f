"""`shipyard stop --grace` through the installed CLI (issue 9 item 8): the grace a user types is
the one the engine keeps to."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.acceptance.conftest import Shipyard, shipyard_executable
from tests.conftest import SpecWriter


def wait_until_finished(shipyard: Shipyard, execution_id: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        status = json.loads(shipyard("status", execution_id, "--json").stdout)
        if status["state"] not in ("pending", "running"):
            return status
        assert time.monotonic() < deadline, f"still {status['state']} after {timeout:g}s"
        time.sleep(0.1)


def wait_for_file(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} not written within {timeout:g}s"
        time.sleep(0.05)


def wait_for_text(path: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and text in path.read_text(encoding="utf-8", errors="replace")):
        assert time.monotonic() < deadline, f"no {text!r} in {path} within {timeout:g}s"
        time.sleep(0.05)


def test_a_step_that_ends_within_the_grace_succeeds(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(
        f"""
        name: grace
        steps:
          a: {{run: 'touch {tmp_path}/go; while [ ! -e {tmp_path}/release ]; do sleep 0.05; done',
              shell: true}}
          b: {{run: [echo, b], needs: [a]}}
        """
    )
    started = shipyard("run", str(spec), "-d", "--json")
    assert started.returncode == 0, started.stderr
    execution_id = json.loads(started.stdout)["id"]
    wait_for_file(tmp_path / "go")
    # stop waits for the end; a ends once the engine has recorded the stop (inside the grace,
    # however loaded the machine: a step of fixed length could end before the stop arrived)
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    command = [shipyard_executable(), "stop", execution_id, "--yes", "--grace", "30s"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as stopping:
        try:
            wait_for_text(
                tmp_path / "home" / "runs" / execution_id / "events.jsonl", "stop_requested"
            )
        finally:
            (tmp_path / "release").touch()
        out, _ = stopping.communicate(timeout=60)
    assert stopping.returncode == 0, out
    assert "stopped if not done within 30s" in out
    status = wait_until_finished(shipyard, execution_id)
    units = {unit["name"]: unit["state"] for unit in status["units"]}
    assert units == {"a": "succeeded", "b": "skipped"}, (
        f"{units}: a ends within the 30 s grace, so it must succeed and b never start"
    )
    assert status["state"] == "cancelled"


def test_a_step_still_running_when_the_grace_ends_is_cancelled(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(
        f"""
        name: grace
        steps:
          a: {{run: 'touch {tmp_path}/go; sleep 60', shell: true}}
        """
    )
    started = shipyard("run", str(spec), "-d", "--json")
    assert started.returncode == 0, started.stderr
    execution_id = json.loads(started.stdout)["id"]
    wait_for_file(tmp_path / "go")
    stopped = shipyard("stop", execution_id, "--yes", "--grace", "0.5s", "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["grace"] == 0.5
    status = wait_until_finished(shipyard, execution_id)
    assert status["units"][0]["state"] == "cancelled", status["units"]
