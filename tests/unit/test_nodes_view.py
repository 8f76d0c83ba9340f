"""Where units run (issue 16), as the front ends show it: each unit's node from its plan, the
``node`` column of ``status`` and ``ps`` (only when some unit has a node), the ``unit@node``
prefix of ``logs``, and ``plan``'s ``runs on`` column. Pure: plain records in, text out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from shipyard.cli import plain, render
from shipyard.models import ExecutionState, ExecutionStatus, Progress, UnitState, UnitStatus
from shipyard.nodes import unit_nodes
from shipyard.plan.build import build_plan
from shipyard.spec.loader import load_spec_text

SPEC = """\
name: placed
hosts:
  - {{name: n1, address: 127.0.0.1, port: 1}}
  - {{name: n2, address: 127.0.0.1, port: 2}}
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
  batch:
    run: [true]
    runner: slurm
    slurm: {{partition: debug}}
  ranks:
    run: [true]
    mpi: {{nprocs: 4}}
{services}"""

SERVICES = """\
services:
  api:
    run: [sleep, "60"]
    runner: ssh
    host: n1
  web:
    run: [sleep, "60"]
"""


def test_each_unit_off_this_machine_has_its_node_and_local_ones_none() -> None:
    plan = build_plan(load_spec_text(SPEC.format(services=SERVICES), Path("/s/placed.yaml")))
    assert unit_nodes(plan) == {"there": "n2", "turn": "n1", "batch": "slurm", "api": "n1"}, (
        "ssh units are on their host, Slurm's on 'slurm'; local ones (an MPI step run from "
        "here too) have no node"
    )


def test_a_plan_that_runs_all_here_has_no_nodes() -> None:
    text = "name: here\nsteps:\n  a:\n    run: [true]\nservices:\n  s:\n    run: [sleep, '1']\n"
    assert unit_nodes(build_plan(load_spec_text(text, Path("/s/here.yaml")))) == {}


def unit(name: str, node: str | None = None, kind: str = "step") -> UnitStatus:
    return UnitStatus(name=name, state=UnitState.PENDING, kind=kind, node=node)


def status_of(*units: UnitStatus) -> ExecutionStatus:
    return ExecutionStatus(
        id="exec_x", name="x", state=ExecutionState.PENDING, mode="normal",
        created_at=datetime(2026, 12, 2, tzinfo=UTC), progress=Progress(0, len(units)),
        run_dir="/r", units=list(units),
    )  # fmt: skip


def text_of(table: Table) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(table)
    return console.export_text()


def header(table: Table) -> list[str]:
    return [str(column.header) for column in table.columns]


def column(table: Table, name: str) -> list[str]:
    found = [c for c in table.columns if c.header == name]
    assert found, f"no '{name}' column in {header(table)}"
    return [str(cell) for cell in found[0].cells]


@pytest.mark.parametrize("make", [render.status_table, render.services_table])
def test_no_node_column_when_every_unit_runs_here(
    make: Callable[[ExecutionStatus], Table],
) -> None:
    table = make(status_of(unit("a", kind="service"), unit("b", kind="service")))
    assert "node" not in header(table), f"a node column for a local run: {header(table)}"


def test_status_has_a_node_column_after_the_unit_when_some_unit_has_a_node() -> None:
    table = render.status_table(status_of(unit("a", "n1"), unit("b"), unit("c", "slurm")))
    assert header(table)[:3] == ["unit", "node", "state"]
    assert column(table, "node") == ["n1", "local", "slurm"]
    assert "n1" in text_of(table)


def test_ps_has_a_node_column_after_the_service_when_some_service_has_a_node() -> None:
    table = render.services_table(
        status_of(unit("api", "n1", kind="service"), unit("web", kind="service"))
    )
    assert header(table)[:3] == ["service", "node", "state"]
    assert column(table, "node") == ["n1", "local"]
    assert len(table.columns) == 12, "a column was lost or added besides node"


@pytest.mark.parametrize(
    ("unit_name", "node", "width", "prefix"),
    [
        ("train", "node01", 12, "train@node01 | "),
        ("prep", None, 12, "prep         | "),
        ("prep", None, None, ""),  # one unit's log: no prefix at all
        ("train", "node01", None, ""),
    ],
)
def test_logs_prefix_names_the_node_of_a_unit_that_has_one(
    unit_name: str, node: str | None, width: int | None, prefix: str
) -> None:
    assert plain.log_prefix(unit_name, width=width, colour=False, node=node) == prefix


def test_plan_shows_where_each_unit_runs_when_some_does_not_run_here() -> None:
    plan = build_plan(load_spec_text(SPEC.format(services=SERVICES), Path("/s/placed.yaml")))
    steps = render.plan_table(plan)
    where = dict(zip(column(steps, "step"), column(steps, "runs on"), strict=True))
    assert where == {
        "here": "local",
        "there": "ssh n2",
        "turn": "ssh n1",
        "batch": "slurm, partition debug",
        "ranks": "mpirun, 4 ranks over n1, n2",
    }
    services = render.services_plan_table(plan, {})
    assert dict(zip(column(services, "service"), column(services, "runs on"), strict=True)) == {
        "api": "ssh n1",
        "web": "local",
    }


def test_plan_of_a_local_run_has_no_runs_on_column() -> None:
    text = "name: here\nsteps:\n  a:\n    run: [true]\nservices:\n  s:\n    run: [sleep, '1']\n"
    plan = build_plan(load_spec_text(text, Path("/s/here.yaml")))
    assert "runs on" not in header(render.plan_table(plan))
    assert "runs on" not in header(render.services_plan_table(plan, {}))
