"""Where units run (issue 16), through the installed CLI: ``status`` and ``ps`` get a ``node``
column once some unit runs off this machine (and only then), ``--json`` has ``node`` always,
``logs`` names each line's unit and node, ``plan`` says where each unit would run.

The units of ``runner: ssh`` are placed on hosts at a loopback port nothing listens on (port
1): the real ssh client fails at once, and its failure is the unit's log line — enough to see
where each unit ran without an sshd (tests/integration/test_ssh_runner.py has the real one)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard
from tests.conftest import missing_component

HOSTS = """\
hosts:
  - {name: n1, address: 127.0.0.1, port: 1}
  - {name: n2, address: 127.0.0.1, port: 1}
ssh: {connect_timeout: 1s, options: [ConnectTimeout=1, BatchMode=yes]}
"""

PLACED = f"""\
name: placed
{HOSTS}execution: {{failure_strategy: continue}}
steps:
  here:
    run: [echo, from-here]
  there:
    run: [echo, from-there]
    runner: ssh
    host: n2
  turn:
    run: [echo, turn]
    runner: ssh
"""

FLEET = f"""\
name: fleet
{HOSTS}services:
  api:
    run: [sleep, "60"]
    runner: ssh
    host: n1
    restart: {{policy: "no"}}
    # Never passes: `up` is still waiting when the ssh client fails (a service without a probe
    # counts as healthy once started, and up could return before or after the failure).
    health: {{exec: ["false"], interval: 0.05s}}
  web:
    run: [sleep, "60"]
    restart: {{policy: "no"}}
"""

LOCAL = "name: here\nsteps:\n  a:\n    run: [echo, a]\n  b:\n    run: [echo, b]\n"


@pytest.fixture(autouse=True)
def ssh_client() -> None:
    if shutil.which("ssh") is None:
        missing_component("no ssh client on PATH (apt-get install -y openssh-client)")


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def header(table: str) -> list[str]:
    """The column titles of the table in ``table`` (Rich's box, NO_COLOR)."""
    line = next(line for line in table.splitlines() if line.startswith("┃"))
    return [cell.strip() for cell in line.strip("┃").split("┃")]


def all_rows(table: str) -> list[list[str]]:
    """The cells of each row of the table in ``table``."""
    return [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in table.splitlines()
        if line.startswith("│")
    ]


def rows(table: str) -> dict[str, list[str]]:
    """Each row of the table in ``table`` by its first cell."""
    return {cells[0]: cells for cells in all_rows(table)}


def test_status_and_logs_say_where_each_unit_ran(shipyard: Shipyard, tmp_path: Path) -> None:
    ran = shipyard("run", write(tmp_path, "placed.yaml", PLACED), "--json")
    assert ran.returncode == 1, ran.stdout + ran.stderr  # the ssh units could not connect
    execution = json.loads(ran.stdout)
    nodes = {unit["name"]: unit["node"] for unit in execution["units"]}
    assert nodes == {"here": None, "there": "n2", "turn": "n1"}, "run --json's nodes"
    shown = json.loads(shipyard("status", execution["id"], "--json").stdout)
    assert {unit["name"]: unit["node"] for unit in shown["units"]} == nodes

    table = shipyard("status", execution["id"]).stdout
    assert header(table)[:3] == ["unit", "node", "state"], table
    placed = {name: cells[1] for name, cells in rows(table).items()}
    assert placed == {"here": "local", "there": "n2", "turn": "n1"}, table

    merged = shipyard("logs", execution["id"], "--all").stdout.splitlines()
    assert "here     | from-here" in merged, merged
    there = [line for line in merged if line.startswith("there@n2 | ")]
    assert there and "127.0.0.1 port 1" in there[0], f"no line of 'there' on n2: {merged}"
    assert any(line.startswith("turn@n1  | ") for line in merged), merged
    each = shipyard("logs", execution["id"]).stdout.splitlines()
    assert any(line.startswith("there@n2 | ") for line in each), each


def test_a_run_all_here_has_no_node_column_and_null_nodes(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    ran = shipyard("run", write(tmp_path, "here.yaml", LOCAL), "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    execution = json.loads(ran.stdout)
    assert [unit["node"] for unit in execution["units"]] == [None, None]
    assert "node" not in header(shipyard("status", execution["id"]).stdout)
    assert shipyard("logs", execution["id"], "--all").stdout.splitlines() == ["a | a", "b | b"]


def test_ps_shows_the_node_of_a_service_on_a_host(shipyard: Shipyard, tmp_path: Path) -> None:
    up = shipyard("up", "-d", write(tmp_path, "fleet.yaml", FLEET), "--json")
    try:
        # "is not up" or "did not come up", as the fleet is still failing or has failed.
        assert up.returncode != 0 and "ssh to host 'n1'" in up.stderr, up.stdout + up.stderr
        listed = json.loads(shipyard("ps", "--json").stdout)
        assert {unit["name"]: unit["node"] for unit in listed} == {"api": "n1", "web": None}
        table = shipyard("ps").stdout
        assert header(table)[:3] == ["service", "node", "state"], table
        assert {name: cells[1] for name, cells in rows(table).items()} == {
            "api": "n1",
            "web": "local",
        }, table
    finally:  # a fleet that did not come up is brought down by up itself
        down = shipyard("down")
        assert down.returncode == 0 or "no fleet is running" in down.stderr, down.stderr


def test_plan_says_where_each_unit_would_run(shipyard: Shipyard, tmp_path: Path) -> None:
    shown = shipyard("plan", write(tmp_path, "placed.yaml", PLACED))
    assert shown.returncode == 0, shown.stderr
    assert "runs on" in header(shown.stdout), shown.stdout
    steps = {cells[1]: cells[-1] for cells in all_rows(shown.stdout)}
    assert steps == {"here": "local", "there": "ssh n2", "turn": "ssh n1"}, shown.stdout
    fleet = shipyard("plan", write(tmp_path, "fleet.yaml", FLEET))
    services = {cells[1]: cells[-1] for cells in all_rows(fleet.stdout)}
    assert services == {"api": "ssh n1", "web": "local"}, fleet.stdout
    local = shipyard("plan", write(tmp_path, "here.yaml", LOCAL))
    assert "runs on" not in header(local.stdout), local.stdout
