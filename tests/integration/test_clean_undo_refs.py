"""clean_undo takes what every execution reference takes: an execution id, or a registered
pipeline's name (its execution cleaned last); and nothing else — a reference that is not a
name (``..``, a path) is refused before the trash is looked at."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.errors import ShipyardError
from tests.conftest import SpecWriter

SPEC = "name: undoable\nsteps:\n  a: {run: [echo, hi]}\n"


@pytest.fixture
def registered(ops: Operations, write_spec: SpecWriter) -> Path:
    ops.pipeline_add("nightly", str(write_spec(SPEC)))
    return ops.workspace.home  # type: ignore[attr-defined, no-any-return]


def test_a_pipeline_name_undoes_the_clean_of_its_execution_cleaned_last(
    ops: Operations, registered: Path
) -> None:
    first = ops.run("nightly")
    second = ops.run("nightly")
    other = ops.run("nightly")
    ops.clean(second.id, level="complete")  # the records go too: found by the saved records
    ops.clean(first.id, level="deep")  # cleaned last, its record still in the store
    restored = ops.clean_undo("nightly")
    assert restored.execution_id == first.id
    again = ops.clean_undo("nightly")
    assert again.execution_id == second.id and again.records
    assert ops.status(second.id).pipeline == "nightly"
    with pytest.raises(ShipyardError, match="nothing of pipeline 'nightly' is in the trash"):
        ops.clean_undo("nightly")
    assert ops.status(other.id).state.value == "succeeded"


def test_an_execution_id_still_means_that_execution(ops: Operations, registered: Path) -> None:
    first = ops.run("nightly")
    second = ops.run("nightly")
    ops.clean(first.id, level="deep")
    ops.clean(second.id, level="deep")
    assert ops.clean_undo(first.id).execution_id == first.id


@pytest.mark.parametrize("hostile", ["..", ".", "../runs", "/etc", "a/../..", "", "x" * 300])
def test_a_reference_that_is_no_name_is_refused_and_nothing_moves(
    ops: Operations, registered: Path, hostile: str
) -> None:
    ran = ops.run("nightly")
    run_dir = registered / "runs" / ran.id
    with pytest.raises(ShipyardError, match="not an execution id or a pipeline name") as caught:
        ops.clean_undo(hostile)
    assert caught.value.hint
    assert run_dir.is_dir() and (run_dir / "logs").is_dir()


def test_a_registered_name_selects_its_runs_for_list_and_clean(
    ops: Operations, registered: Path, write_spec: SpecWriter
) -> None:
    # 'nightly' runs the spec named 'undoable': selecting by the registered name found none.
    by_name = ops.run("nightly")
    by_file = ops.run(write_spec(SPEC, "again.yaml"))  # the spec's own name selects it too
    other = ops.run(write_spec("name: other\nsteps:\n  a: {run: [echo]}\n", "other.yaml"))
    assert [s.id for s in ops.list_executions(name="nightly")] == [by_name.id]
    assert {s.id for s in ops.list_executions(name="undoable")} == {by_name.id, by_file.id}
    cleaned = ops.clean(pipeline="nightly", level="deep")
    assert [run.execution_id for run in cleaned.runs] == [by_name.id]
    assert ops.clean(pipeline="other", level="deep").runs[0].execution_id == other.id
