"""An execution's run (engine/runtime.py) with real processes and a real SQLite store: a side
task that dies stops the run, and its error is recorded — in an event and as the execution's
reason — never swallowed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.engine.executor import PipelineExecutor, Taken
from shipyard.engine.fleet import FleetExecutor
from shipyard.models import ExecutionState, UnitState
from shipyard.plan.model import Plan
from shipyard.workspace import RunDir
from tests.conftest import SpecWriter


class Broken(Exception):
    """What the injected side task dies of."""


def failing_checkpointer(
    run_dir: RunDir,
    plan: Plan,
    execution_id: str,
    /,
    *,
    states: Mapping[str, str],
    running: Mapping[str, int],
    reason: str,
) -> Taken:
    # Not a ShipyardError nor an OSError (those are a checkpoint that failed, recorded as
    # such): an error nobody expected, which kills the checkpoint task.
    raise Broken("the disk controller caught fire")


def prepared(ops: Operations, spec: Path) -> tuple[Plan, str, RunDir]:
    """A plan and its execution's record and folder, as `run` prepares them."""
    plan = ops.plan(spec)
    execution_id = f"{plan.name}-{time.time_ns()}"
    run_dir = ops.workspace.run_dir(execution_id)
    run_dir.create()
    ops.store.insert_execution(
        execution_id=execution_id,
        name=plan.name,
        mode=plan.mode,
        spec_path=plan.spec_path,
        spec_digest=plan.spec_digest,
        spec_text=spec.read_text(),
        parameters={},
        run_dir=str(run_dir.root),
        created_at=datetime.now(UTC).timestamp(),
        units=[(s.name, "step", str(run_dir.log_for(s.name))) for s in plan.steps]
        + [(s.name, "service", str(run_dir.log_for(s.name))) for s in plan.services],
    )
    return plan, execution_id, run_dir


def events(run_dir: RunDir) -> list[dict[str, object]]:
    return [json.loads(line) for line in run_dir.events.read_text().splitlines()]


LONG_STEP = """
name: long
execution: {checkpoint_interval: 0.2s}
steps:
  long: {run: [sleep, "30"]}
"""


def test_a_side_task_that_dies_stops_the_pipeline_with_its_error(
    ops: Operations, write_spec: SpecWriter
) -> None:
    plan, execution_id, run_dir = prepared(ops, write_spec(LONG_STEP))
    executor = PipelineExecutor(
        plan,
        execution_id=execution_id,
        run_dir=run_dir,
        store=ops.store,
        checkpointer=failing_checkpointer,
    )
    # Without the monitor the run would wait for the 30 s step (the test's timeout says so).
    state = asyncio.run(asyncio.wait_for(executor.run(), 20))
    assert state == ExecutionState.FAILED
    status = ops.store.get_execution(execution_id)
    assert status is not None
    assert status.state == ExecutionState.FAILED
    assert status.reason is not None
    assert "checkpoint task failed: Broken: the disk controller caught fire" in status.reason
    assert status.unit("long").state == UnitState.CANCELLED
    failed = [e for e in events(run_dir) if e["action"] == "side_task_failed"]
    assert [(e["task"], "caught fire" in str(e["reason"])) for e in failed] == [
        ("checkpoint", True)
    ]


MIXED = """
name: mixed
execution: {checkpoint_interval: 0.2s}
services:
  web: {run: [sleep, "30"]}
steps:
  long: {run: [sleep, "30"]}
"""


def test_a_side_task_that_dies_brings_a_fleet_down_with_its_error(
    ops: Operations, write_spec: SpecWriter
) -> None:
    plan, execution_id, run_dir = prepared(ops, write_spec(MIXED))
    executor = FleetExecutor(
        plan,
        execution_id=execution_id,
        run_dir=run_dir,
        store=ops.store,
        checkpointer=failing_checkpointer,
    )
    state = asyncio.run(asyncio.wait_for(executor.run(), 20))
    assert state == ExecutionState.FAILED
    status = ops.store.get_execution(execution_id)
    assert status is not None
    assert status.reason is not None
    assert "checkpoint task failed: Broken: the disk controller caught fire" in status.reason
    assert status.unit("web").state == UnitState.STOPPED
    finished = [e for e in events(run_dir) if e["action"] == "execution_finished"]
    assert [e["state"] for e in finished] == ["failed"]


@pytest.mark.parametrize("patience", [1, 3])
def test_a_store_that_keeps_refusing_ends_the_flush_task(patience: int, tmp_path: Path) -> None:
    """The periodic flush retries a refused batch, but not for ever: its error reaches the
    run's monitor instead of being parked where nobody looks."""
    from shipyard.engine.recorder import Recorder
    from shipyard.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "state.db")
    refused = 0

    def refuse() -> None:
        nonlocal refused
        refused += 1
        raise Broken("no")

    recorder = Recorder(store, "x", tmp_path / "events.jsonl", interval=0.001)
    recorder.write(refuse)

    async def flush() -> None:
        await recorder.flush_periodically(patience=patience)

    with pytest.raises(Broken):
        asyncio.run(asyncio.wait_for(flush(), 10))
    assert refused == patience
    store.close()
