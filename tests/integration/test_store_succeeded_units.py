"""Store.succeeded_units: what the engine's start reads to keep a resumed execution's
successes done, without reading the whole status."""

from __future__ import annotations

from pathlib import Path

from shipyard.models import UnitState
from shipyard.store.sqlite import SQLiteStore


def test_succeeded_units_are_the_succeeded_ones_of_that_execution_only(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    for execution_id in ("exec_a", "exec_b"):
        store.insert_execution(
            execution_id=execution_id,
            name="x",
            mode="normal",
            spec_path=None,
            spec_digest="d",
            spec_text="",
            parameters={},
            run_dir=str(tmp_path),
            created_at=0.0,
            units=[(name, "step", None) for name in ("s0", "s1", "s2", "s3", "s4")],
        )
    store.update_unit("exec_a", "s3", state=UnitState.SUCCEEDED)
    store.update_unit("exec_a", "s1", state=UnitState.SUCCEEDED)
    store.update_unit("exec_a", "s2", state=UnitState.FAILED)
    store.update_unit("exec_a", "s4", state=UnitState.RUNNING)
    store.update_unit("exec_b", "s0", state=UnitState.SUCCEEDED)
    assert store.succeeded_units("exec_a") == ["s1", "s3"]
    assert store.succeeded_units("exec_b") == ["s0"]
    assert store.succeeded_units("exec_none") == []
    status = store.get_execution("exec_a")
    assert status is not None
    assert [u.name for u in status.units if u.state == UnitState.SUCCEEDED] == ["s1", "s3"]
