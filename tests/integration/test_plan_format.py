"""Run folders made before plans had a format number keep working; a plan.json another Shipyard
wrote is refused before anything runs. Real processes, real SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.models import ExecutionState, UnitState
from shipyard.plan.codec import PLAN_FORMAT, PlanFormatError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "plan_format_1"


def failed_run(ops: Operations, folder: Path) -> tuple[str, Path]:
    """The fixture's pipeline run in ``folder``: ``first`` succeeds, ``second`` fails (no
    ``go`` file yet). Returns the execution's id and its plan.json."""
    spec = folder / "spec.yaml"
    spec.write_text((FIXTURES / "resume-spec.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    status = ops.run(spec)
    assert status.state == ExecutionState.FAILED
    return status.id, Path(status.run_dir) / "plan.json"


def test_a_run_made_before_plan_formats_shows_and_resumes(ops: Operations, tmp_path: Path) -> None:
    execution_id, plan_json = failed_run(ops, tmp_path)
    # The run folder as Shipyard 808d5e2 left it: its plan.json, moved to this folder.
    legacy = (FIXTURES / "resume-plan.json").read_text(encoding="utf-8")
    plan_json.write_text(legacy.replace("/specs/resume", str(tmp_path)), encoding="utf-8")
    assert "plan_format" not in json.loads(plan_json.read_text(encoding="utf-8"))

    assert ops.status(execution_id).unit("second").state == UnitState.FAILED
    assert [summary.id for summary in ops.list_executions()] == [execution_id]
    (tmp_path / "go").touch()
    resumed = ops.resume(execution_id)
    assert resumed.state == ExecutionState.SUCCEEDED
    assert (tmp_path / "first.txt").read_text() == "once\n"  # kept, not run again
    assert json.loads(plan_json.read_text(encoding="utf-8"))["plan_format"] == PLAN_FORMAT


def test_a_plan_from_a_newer_shipyard_is_refused_before_anything_runs(
    ops: Operations, tmp_path: Path
) -> None:
    execution_id, plan_json = failed_run(ops, tmp_path)
    newer = {**json.loads(plan_json.read_text(encoding="utf-8")), "plan_format": PLAN_FORMAT + 1}
    plan_json.write_text(json.dumps(newer), encoding="utf-8")
    (tmp_path / "go").touch()
    with pytest.raises(PlanFormatError, match="was made by a newer Shipyard") as caught:
        ops.resume(execution_id)
    assert str(plan_json) in caught.value.message
    assert (tmp_path / "first.txt").read_text() == "once\n"
    assert ops.status(execution_id).state == ExecutionState.FAILED
