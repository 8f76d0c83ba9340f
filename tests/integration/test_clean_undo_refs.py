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
