"""A fleet's state is true through the installed CLI (issue 10 §4): once a service's process is
gone — its supervisor killed, the fleet brought down, the service stopped, or crashed with its
restarts used up — no view calls it healthy, nor shows the pid of a process that has died as its
own."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard.engine.liveness import pid_alive
from tests.acceptance.conftest import Shipyard

# No probe: a service is healthy once started, so the fleet is up at once.
FLEET = """
name: truthful
services:
  web: {run: [sleep, '60']}
  db: {run: [sleep, '60']}
"""


def up(shipyard: Shipyard, spec: Path) -> str:
    started = shipyard("up", "-d", str(spec), "--json")
    assert started.returncode == 0, started.stdout + started.stderr
    return str(json.loads(started.stdout)["id"])


def views(shipyard: Shipyard, execution_id: str) -> dict[str, list[dict[str, Any]]]:
    """Each service's record as `status --json` and as `ps --json` show it."""
    status = shipyard("status", execution_id, "--json")
    ps = shipyard("ps", execution_id, "--json")
    assert status.returncode == 0 and ps.returncode == 0, status.stderr + ps.stderr
    in_status = [u for u in json.loads(status.stdout)["units"] if u["kind"] == "service"]
    return {"status": in_status, "ps": json.loads(ps.stdout)}


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not {what} in {timeout:g}s"
        time.sleep(0.1)


def assert_nothing_claimed_alive(seen: dict[str, list[dict[str, Any]]]) -> None:
    for view, units in seen.items():
        for unit in units:
            assert unit["health"] != "healthy", (view, unit)
            assert unit["pid"] is None or not pid_alive(unit["pid"]), (view, unit)


def test_a_fleet_whose_supervisor_was_killed_shows_no_healthy_service_and_no_pid(
    shipyard: Shipyard, write_spec: Callable[[str], Path]
) -> None:
    execution_id = up(shipyard, write_spec(FLEET))
    before = views(shipyard, execution_id)
    assert {u["health"] for u in before["ps"]} == {"healthy"}
    pids = [u["pid"] for u in before["ps"]]
    status = json.loads(shipyard("status", execution_id, "--json").stdout)
    os.kill(status["supervisor_pid"], signal.SIGKILL)
    # The watchdog takes the services down by itself.
    wait_until(lambda: not any(pid_alive(pid) for pid in pids), "all services gone")
    after = views(shipyard, execution_id)
    assert json.loads(shipyard("status", execution_id, "--json").stdout)["state"] == "lost"
    for view, units in after.items():
        assert {(u["state"], u["health"], u["pid"]) for u in units} == {
            ("cancelled", "unknown", None)
        }, view


def test_down_leaves_every_service_down(
    shipyard: Shipyard, write_spec: Callable[[str], Path]
) -> None:
    execution_id = up(shipyard, write_spec(FLEET))
    pids = [u["pid"] for u in views(shipyard, execution_id)["ps"]]
    down = shipyard("down", execution_id)
    assert down.returncode == 0, down.stdout + down.stderr
    after = views(shipyard, execution_id)
    assert_nothing_claimed_alive(after)
    assert not any(pid_alive(pid) for pid in pids)
    for view, units in after.items():
        # A stopped service shows no pid: its number may be anyone's by now (issue 11 §10).
        assert {(u["state"], u["health"], u["pid"]) for u in units} == {
            ("stopped", "down", None)
        }, view


def test_a_stopped_service_is_down_while_the_rest_stays_healthy(
    shipyard: Shipyard, write_spec: Callable[[str], Path]
) -> None:
    execution_id = up(shipyard, write_spec(FLEET))
    old = next(u["pid"] for u in views(shipyard, execution_id)["ps"] if u["name"] == "web")
    stopped = shipyard("service", "stop", execution_id, "web")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not pid_alive(old)
    after = views(shipyard, execution_id)
    for view, units in after.items():
        by_name = {u["name"]: u for u in units}
        web = (by_name["web"]["state"], by_name["web"]["health"], by_name["web"]["pid"])
        assert web == ("stopped", "down", None), view
        assert by_name["db"]["health"] == "healthy" and pid_alive(by_name["db"]["pid"]), view
    shipyard("down", execution_id)


def test_a_service_that_used_up_its_restarts_has_no_health_and_no_pid(
    shipyard: Shipyard, write_spec: Callable[[str], Path]
) -> None:
    spec = write_spec(
        FLEET
        + "  crashy:\n"
        + "    run: [sh, -c, 'sleep 0.2; exit 3']\n"
        + "    restart: {policy: on-failure, max_restarts: 1, backoff: 0.1s}\n"
    )
    execution_id = up(shipyard, spec)

    def crashy() -> dict[str, Any]:
        return next(u for u in views(shipyard, execution_id)["ps"] if u["name"] == "crashy")

    wait_until(lambda: crashy()["state"] == "failed", "crashy failed")
    for view, units in views(shipyard, execution_id).items():
        unit = next(u for u in units if u["name"] == "crashy")
        assert (unit["health"], unit["pid"], unit["restarts"]) == ("unknown", None, 1), view
    shipyard("down", execution_id)
