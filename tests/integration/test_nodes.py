"""Where units run (issue 16), read back by ``status``: a prepared execution (``hold=True``:
its record and run folder as a real run has them) whose plan places units on ssh hosts and on
Slurm gets ``nodes.json`` beside ``plan.json``, and its status says each unit's node; one that
runs all here gets no such file. Real store, real run folder; under SHIPYARD_WIRE_CHECK=1 each
call crosses JSON both ways, and one test asks a real ``shipyard serve`` over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import shipyard
from shipyard.api import Operations
from shipyard.models import ExecutionState
from shipyard.nodes import NODES_FILE, read_nodes, record_node
from tests.conftest import SpecWriter
from tests.serving import served

#: Hosts on loopback ports nothing listens on: nothing here connects to them (held).
PLACED = """
name: placed
hosts:
  - {name: n1, address: 127.0.0.1, port: 1}
  - {name: n2, address: 127.0.0.1, port: 2}
steps:
  here:
    run: [true]
  there:
    run: [true]
    runner: ssh
    host: n2
  turn:
    run: [true]
    runner: ssh
    needs: [here]
  batch:
    run: [true]
    runner: slurm
services:
  api:
    run: [sleep, "60"]
    runner: ssh
    host: n1
  web:
    run: [sleep, "60"]
"""

EXPECTED = {"there": "n2", "turn": "n1", "batch": "slurm", "api": "n1"}

LOCAL = "name: here\nsteps:\n  a:\n    run: [true]\n  b:\n    run: [true]\n"


def nodes_of(ops: Operations, execution_id: str) -> dict[str, str | None]:
    return {unit.name: unit.node for unit in ops.status(execution_id).units}


@pytest.fixture
def held_ops(tmp_path: Path) -> Iterator[Operations]:
    """Operations on a home of their own whose held executions stay pending at the end: no
    process runs for them, and the ``ops`` fixture's clean-up would wait a minute for each to
    end (a stop of an execution nobody drives waits for its end)."""
    operations = shipyard.connect(tmp_path / "held-home")
    yield operations
    operations.close()


def test_a_prepared_execution_with_units_off_this_machine_says_where_each_runs(
    held_ops: Operations, write_spec: SpecWriter
) -> None:
    held = held_ops.run(write_spec(PLACED), hold=True)
    assert held.state == ExecutionState.PENDING
    run_dir = Path(held.run_dir)
    assert json.loads((run_dir / NODES_FILE).read_text()) == EXPECTED, "nodes.json's content"
    assert (run_dir / NODES_FILE).stat().st_mode & 0o777 == 0o600, "owner-only, as plan.json"
    assert nodes_of(held_ops, held.id) == {**EXPECTED, "here": None, "web": None}
    assert {u.name: u.node for u in held.units} == {**EXPECTED, "here": None, "web": None}, (
        "the status run(hold=True) returns has the nodes too"
    )


def test_a_run_that_is_all_local_has_no_nodes_file_and_no_nodes(
    ops: Operations, write_spec: SpecWriter
) -> None:
    status = ops.run(write_spec(LOCAL))
    assert status.state == ExecutionState.SUCCEEDED
    assert not (Path(status.run_dir) / NODES_FILE).exists()
    assert nodes_of(ops, status.id) == {"a": None, "b": None}


def test_a_node_recorded_later_replaces_the_runners_key(
    held_ops: Operations, write_spec: SpecWriter
) -> None:
    held = held_ops.run(write_spec(PLACED), hold=True)
    run_dir = Path(held.run_dir)
    record_node(run_dir, "batch", "c07")  # as a Slurm runner would, once the job is placed
    assert read_nodes(run_dir) == {**EXPECTED, "batch": "c07"}
    assert nodes_of(held_ops, held.id)["batch"] == "c07"
    assert [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")] == [], "temp file left"


def test_a_damaged_nodes_file_costs_the_nodes_not_the_status(
    held_ops: Operations, write_spec: SpecWriter
) -> None:
    held = held_ops.run(write_spec(PLACED), hold=True)
    (Path(held.run_dir) / NODES_FILE).write_text('["not", "a mapping"')
    assert set(nodes_of(held_ops, held.id).values()) == {None}
    (Path(held.run_dir) / NODES_FILE).write_text('{"there": 3, "turn": "n1"}')
    assert (
        nodes_of(held_ops, held.id)["there"] is None and nodes_of(held_ops, held.id)["turn"] == "n1"
    )


def test_status_over_http_carries_each_units_node(write_spec: SpecWriter, tmp_path: Path) -> None:
    home = tmp_path / "served-home"
    local = shipyard.connect(home)
    try:
        held = local.run(write_spec(PLACED), hold=True)
        with served(home) as server:
            remote = shipyard.connect(url=server.url, token=server.token)
            try:
                units = remote.status(held.id).units
            finally:
                remote.close()
    finally:
        local.close()
    assert {u.name: u.node for u in units} == {**EXPECTED, "here": None, "web": None}
