"""The steps a new execution keeps from an earlier one are journaled before the store records
them (the engine recorder's order): the run's events.jsonl holds each ``unit_reused`` line as
the store holds its event, and a journal that cannot take them leaves nothing recorded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.errors import ShipyardError
from shipyard.models import UnitState
from shipyard.operations import resuming
from shipyard.operations.kept import Kept
from shipyard.workspace import RunDir
from tests.conftest import SpecWriter

KEPT = Kept(kept=("a", "b"), changed=(), gone=())


def held(ops: Operations, write_spec: SpecWriter) -> tuple[str, RunDir]:
    spec = write_spec(
        """
        name: held
        steps:
          a: {run: "true"}
          b: {run: "true", needs: [a]}
          c: {run: "true", needs: [b]}
        """
    )
    status = ops.run(spec, hold=True)
    return status.id, RunDir(Path(status.run_dir))


def test_kept_steps_reach_the_journal_as_the_store_has_them(
    ops: Operations, write_spec: SpecWriter
) -> None:
    execution_id, run_dir = held(ops, write_spec)
    resuming.mark_reused(
        ops.store, run_dir, execution_id, KEPT, "exec_old", {"a": "ka", "b": "kb"}, 100.0
    )
    journaled = [json.loads(text) for text in run_dir.events.read_text().splitlines()]
    stored = [
        {"ts": e.ts, "action": e.action, "unit": e.unit, **e.data}
        for _, e in ops.store.events(execution_id)
    ]
    assert journaled == stored, f"the journal is not what the store holds: {journaled}"
    assert [(line["unit"], line["cache_key"]) for line in journaled] == [("a", "ka"), ("b", "kb")]
    assert ops.store.cache_keys(execution_id) == {"a": "ka", "b": "kb"}
    assert ops.start(execution_id).unit("a").attempts == 0  # kept: the engine does not run it


def test_a_journal_that_cannot_take_them_records_nothing(
    ops: Operations, write_spec: SpecWriter
) -> None:
    execution_id, run_dir = held(ops, write_spec)
    shutil.rmtree(run_dir.events, ignore_errors=True)
    run_dir.events.unlink(missing_ok=True)
    run_dir.events.mkdir()  # no file can be opened there
    with pytest.raises(ShipyardError, match=r"cannot write the steps kept from ckpt into .*"):
        resuming.mark_restored(ops.store, run_dir, execution_id, KEPT, "ckpt", {}, 100.0)
    status = ops.status(execution_id)
    assert [status.unit(name).state for name in "ab"] == [UnitState.PENDING] * 2, (
        "the store recorded kept steps its journal does not have"
    )
    assert not [e for _, e in ops.store.events(execution_id) if e.action == "unit_reused"]
    run_dir.events.rmdir()
    assert ops.start(execution_id).unit("a").attempts == 1  # nothing kept: it runs
