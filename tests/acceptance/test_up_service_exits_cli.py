"""`shipyard up -d` when a service exits just after starting, under a restart policy that keeps
it down (issue 11, item 1): the wait ends at once with the exit code and the service's last
lines (it waited 300 s), the fleet does not stay "running" with nothing up, and `down` keeps how
the service ended (it wrote "brought down" and a null exit code over it)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.conftest import Shipyard

BYE = """\
name: bye
services:
  bye:
    run: [sh, -c, "echo hello; echo bye; exit 0"]
    restart: {policy: on-failure}
"""
PROBED = BYE + "    health: {tcp: true, interval: 0.2s}\n"
BESIDE = """\
name: beside
services:
  web:
    run: exec python3 -m http.server --bind 127.0.0.1 $PORT
    shell: true
    port: auto
    health: {tcp: true, interval: 0.2s}
  bye:
    run: [sh, -c, "sleep 0.5; echo bye; exit 0"]
    restart: {policy: on-failure}
    depends_on: {web: healthy}
"""


def _up(shipyard: Shipyard, spec: Path) -> subprocess.CompletedProcess[str]:
    """`up -d`, failing (not hanging) when it is still waiting long after the service exited."""
    try:
        return shipyard("up", "-d", str(spec), timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("up -d still waits 60 s after its only service exited")


def _execution(shipyard: Shipyard) -> dict[str, Any]:
    listed = json.loads(shipyard("list", "--json").stdout)
    assert len(listed) == 1, listed
    row: dict[str, Any] = listed[0]
    return row


def _ended(shipyard: Shipyard, execution_id: str) -> dict[str, Any]:
    """The execution once it has ended (it ends by itself: nothing of it is left up)."""
    for _ in range(300):
        status: dict[str, Any] = json.loads(shipyard("status", execution_id, "--json").stdout)
        if status["state"] not in ("pending", "running"):
            return status
        time.sleep(0.1)
    pytest.fail(f"{execution_id} still {status['state']} with its only service exited: {status}")


@pytest.mark.parametrize("probed", [False, True], ids=["no-probe", "tcp-probe"])
def test_up_ends_its_wait_when_the_service_exits(
    shipyard: Shipyard, tmp_path: Path, probed: bool
) -> None:
    spec = tmp_path / "bye.yaml"
    spec.write_text(PROBED if probed else BYE, encoding="utf-8")
    done = _up(shipyard, spec)
    # Without a probe a service is healthy once started: up may have seen that before the
    # exit (on a slow machine); with one, it cannot be healthy before its exit is seen.
    if probed or done.returncode != 0:
        assert done.returncode != 0, done.stdout
        assert "'bye' exited with code 0" in done.stderr, done.stderr
        assert "bye | bye" in done.stderr and "Traceback" not in done.stderr, done.stderr
    status = _ended(shipyard, _execution(shipyard)["id"])
    unit = next(u for u in status["units"] if u["name"] == "bye")
    assert unit["exit_code"] == 0 and "exited with code 0" in unit["reason"], unit


def test_down_keeps_how_an_exited_service_ended(shipyard: Shipyard, tmp_path: Path) -> None:
    spec = tmp_path / "beside.yaml"
    spec.write_text(BESIDE, encoding="utf-8")
    # bye is healthy at once (no probe), and exits half a second later: up may have returned
    # by then, or have seen it exit (on a slow machine); either way the fleet runs on.
    up = _up(shipyard, spec)
    execution_id = _execution(shipyard)["id"]
    for _ in range(300):
        ps = json.loads(shipyard("ps", execution_id, "--json").stdout)
        bye = next(u for u in ps if u["name"] == "bye")
        if bye["state"] != "running":
            break
        time.sleep(0.1)
    assert bye["state"] == "stopped" and bye["exit_code"] == 0, (bye, up.stderr)
    assert _execution(shipyard)["state"] == "running"  # web is still up: the fleet goes on
    down = shipyard("down", execution_id)
    assert down.returncode == 0, down.stderr
    after = json.loads(shipyard("ps", execution_id, "--json").stdout)
    bye = next(u for u in after if u["name"] == "bye")
    assert bye["exit_code"] == 0, bye
    assert "exited with code 0" in bye["reason"], bye  # not "brought down"
    web = next(u for u in after if u["name"] == "web")
    assert web["state"] == "stopped" and web["reason"] != bye["reason"]


CRASH = """\
name: crash
services:
  bad:
    run: [sh, -c, "echo oops; exit 3"]
    restart: {policy: "no"}
  good:
    run: [sh, -c, "echo fine; exit 0"]
    restart: {policy: "no"}
"""


def test_a_fleet_whose_services_all_exited_one_failing_ends_failed(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    """Every service has exited and one of them failed: the fleet failed (it said 'stopped',
    as if brought down), and up -d's error still gives the failing exit code and last lines."""
    spec = tmp_path / "crash.yaml"
    spec.write_text(CRASH, encoding="utf-8")
    done = _up(shipyard, spec)
    assert done.returncode != 0, done.stdout
    status = _ended(shipyard, _execution(shipyard)["id"])
    assert status["state"] == "failed", f"a fleet whose service failed ended {status['state']}"
    assert "every service has exited" in (status["reason"] or ""), status["reason"]
    assert "'bad' exited with code 3" in done.stderr, done.stderr
    assert "bad | oops" in done.stderr and "Traceback" not in done.stderr, done.stderr
