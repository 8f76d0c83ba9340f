"""`shipyard ps --all` and a fleet whose folder was deleted (issue 11, item 5), through the
installed command: every live supervisor of this user is found from any folder, and a
supervisor whose run folder is deleted stops its execution instead of running on unreachable
(its control socket, logs and state went with the folder)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from shipyard.engine.liveness import pid_alive
from tests.acceptance.conftest import Shipyard, shipyard_executable

FLEET = """\
name: web
services:
  web:
    run: exec python3 -m http.server --bind 127.0.0.1 $PORT
    shell: true
    port: auto
    health: {tcp: true, interval: 0.2s}
"""


def _supervisors(shipyard: Shipyard) -> list[dict[str, Any]]:
    done = shipyard("ps", "--all", "--json")
    assert done.returncode == 0, done.stderr
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def _up(shipyard: Shipyard, tmp_path: Path) -> dict[str, Any]:
    spec = tmp_path / "fleet.yaml"
    spec.write_text(FLEET, encoding="utf-8")
    done = shipyard("up", "-d", str(spec), "--json")
    assert done.returncode == 0, done.stderr
    status: dict[str, Any] = json.loads(done.stdout)
    return status


def _wait_dead(pids: list[int], why: str) -> None:
    for _ in range(300):
        if not any(pid_alive(pid) for pid in pids):
            return
        time.sleep(0.1)
    alive = [pid for pid in pids if pid_alive(pid)]
    pytest.fail(f"{why}: still running after 30 s: {alive}")


def test_ps_all_finds_a_fleet_from_any_folder(shipyard: Shipyard, tmp_path: Path) -> None:
    assert _supervisors(shipyard) == []
    status = _up(shipyard, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [shipyard_executable(), "ps", "--all"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env={**os.environ, "NO_COLOR": "1"},  # no SHIPYARD_HOME: another folder's home
        check=False,
        timeout=60,
    )
    assert status["id"] in done.stdout and str(tmp_path / "home") in done.stdout, done
    (entry,) = _supervisors(shipyard)
    assert entry["execution_id"] == status["id"] and entry["folder_exists"] is True
    assert entry["pid"] == status["supervisor_pid"]
    assert shipyard("down", status["id"]).returncode == 0
    _wait_dead([entry["pid"]], "the supervisor after down")
    assert _supervisors(shipyard) == []  # its entry went with it


@pytest.mark.local_only("deletes the home a server would be serving")
def test_a_fleet_whose_folder_is_deleted_stops(shipyard: Shipyard, tmp_path: Path) -> None:
    status = _up(shipyard, tmp_path)
    pids = [status["supervisor_pid"], *(unit["pid"] for unit in status["units"])]
    assert all(pid_alive(pid) for pid in pids), status
    shutil.rmtree(tmp_path / "home")
    _wait_dead(pids, "a fleet whose folder was deleted")
    assert _supervisors(shipyard) == []


def test_ps_all_takes_no_execution_id(shipyard: Shipyard) -> None:
    done = shipyard("ps", "--all", "exec_x")
    assert done.returncode != 0 and "takes no execution id" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
