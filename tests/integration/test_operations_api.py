"""The parts of the operations protocol that let it cross a network: a spec given as text, an
execution held then started, and its progress read as an event stream (real runs, real store;
under SHIPYARD_WIRE_CHECK=1 every call below also crosses JSON text)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.errors import ExecutionNotFound, SpecError
from shipyard.models import ExecutionState
from tests.conftest import SpecWriter

SPEC = "name: txt\nsteps:\n  a: {run: [echo, from-text]}\n  b: {run: [echo, b], needs: [a]}\n"


def test_a_spec_given_as_text_runs_and_is_named_in_messages(ops: Operations) -> None:
    status = ops.run("inline.yaml", spec_text=SPEC)
    assert status.state == ExecutionState.SUCCEEDED
    assert [line.text for line in ops.logs(status.id, "a")] == ["from-text"]
    assert not Path("inline.yaml").exists()  # nothing was read from (or written to) that path
    report = ops.validate("inline.yaml", spec_text="name: bad\nsteps:\n  a: {run: [x], nope: 1}\n")
    assert not report.valid
    assert [(p.file, p.line) for p in report.problems] == [("inline.yaml", 3)]
    with pytest.raises(SpecError, match=r"inline\.yaml:3"):
        ops.plan("inline.yaml", spec_text="name: bad\nsteps:\n  a: {run: [x], nope: 1}\n")


def test_a_held_execution_waits_for_start_and_its_events_follow_it(
    ops: Operations, write_spec: SpecWriter
) -> None:
    held = ops.run(write_spec(SPEC), hold=True)
    assert held.state == ExecutionState.PENDING
    before = ops.events(held.id)
    assert before.events == [] and not before.finished
    final = ops.start(held.id)
    assert final.id == held.id and final.state == ExecutionState.SUCCEEDED
    batch = ops.events(held.id, after=before.cursor)
    actions = [(event.action, event.unit) for event in batch.events]
    assert actions[0] == ("execution_started", None)
    assert actions.index(("unit_finished", "a")) < actions.index(("unit_started", "b"))
    assert batch.finished and batch.cursor > before.cursor
    assert ops.events(held.id, after=batch.cursor).events == []  # the cursor moves on
    first = ops.events(held.id, limit=1)
    assert len(first.events) == 1 and not first.finished  # more to read: not the end yet
    with pytest.raises(ExecutionNotFound, match="not waiting to start"):
        ops.start(held.id)  # once only
