"""Through the installed CLI, fields that went stale (issue 11 §6, §10, §11): `ps` after a
`restart` shows an uptime that is not negative and no end, a healthy fleet is counted healthy in
`list`, and a fleet brought down shows no pid and nothing healthy."""

from __future__ import annotations

import json
from pathlib import Path

from shipyard.engine.liveness import pid_alive
from tests.acceptance.conftest import Shipyard

# No probe: a service is healthy once started.
FLEET = """
name: uptime
services:
  web: {run: [sleep, '60']}
  db: {run: [sleep, '60']}
"""


def ps(shipyard: Shipyard, execution_id: str) -> dict[str, dict[str, object]]:
    shown = shipyard("ps", execution_id, "--json")
    assert shown.returncode == 0, shown.stderr
    return {unit["name"]: unit for unit in json.loads(shown.stdout)}


def listed_progress(shipyard: Shipyard) -> dict[str, object]:
    listed = shipyard("list", "--json")
    assert listed.returncode == 0, listed.stderr
    return dict(json.loads(listed.stdout)[0]["progress"])


def test_restart_then_down_through_the_cli(shipyard: Shipyard, tmp_path: Path) -> None:
    spec = tmp_path / "fleet.yaml"
    spec.write_text(FLEET, encoding="utf-8")
    started = shipyard("up", "-d", str(spec), "--json")
    assert started.returncode == 0, started.stdout + started.stderr
    execution_id = str(json.loads(started.stdout)["id"])
    assert listed_progress(shipyard)["done"] == 2  # two healthy services: 2/2, not 0/2

    restarted = shipyard("restart", execution_id, "web")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    web = ps(shipyard, execution_id)["web"]
    assert (web["state"], web["ended_at"], web["duration_seconds"], web["reason"]) == (
        "running",
        None,
        None,
        None,
    ), web
    table = shipyard("ps", execution_id)
    row = next(line for line in table.stdout.splitlines() if " web " in line)
    assert "-" not in row.split("│")[8], row  # the uptime column: "-1ms" before

    pids = [unit["pid"] for unit in ps(shipyard, execution_id).values()]
    down = shipyard("down", execution_id)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any(pid_alive(int(str(pid))) for pid in pids)
    after = ps(shipyard, execution_id)
    assert {(u["state"], u["pid"]) for u in after.values()} == {("stopped", None)}, after
    assert listed_progress(shipyard)["done"] == 0
