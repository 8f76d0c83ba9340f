"""clean: levels, byte counts, symlinks and '..' never followed out, trash, undo, purge."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.errors import ShipyardError
from tests.conftest import SpecWriter
from tests.integration.test_lifecycle import wait_for


@pytest.fixture
def finished(ops: Operations, write_spec: SpecWriter, tmp_path: Path) -> tuple[str, Path]:
    """A finished run with scratch, intermediate and declared files, a link out and a '..'."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("must survive" * 100)
    (tmp_path / "work").mkdir()
    spec = write_spec(
        f"""
        name: files
        steps:
          make:
            workdir: work
            shell: true
            run: >-
              echo scratch > $TMPDIR/../scratch.txt;
              mkdir -p $SHIPYARD_RUN_DIR/scratch;
              head -c 5000 /dev/zero > $SHIPYARD_RUN_DIR/scratch/big;
              head -c 3000 /dev/zero > $SHIPYARD_ARTIFACTS_DIR/intermediate.bin;
              ln -s {outside} $SHIPYARD_ARTIFACTS_DIR/link-out;
              ln -s {outside}/precious.txt $SHIPYARD_ARTIFACTS_DIR/file-link;
              echo result > result.txt; echo up > up.txt
            outputs: [result.txt, deep/../up.txt]
        """
    )
    status = ops.run(spec, mode="debug")  # debug keeps tmp/
    assert status.state.value == "succeeded", status
    return status.id, Path(status.run_dir)


def test_levels_take_more_and_more(ops: Operations, finished: tuple[str, Path]) -> None:
    execution_id, run_dir = finished
    minimal = ops.clean(execution_id, level="minimal", dry_run=True).runs[0]
    assert sorted(minimal.paths) == ["scratch", "tmp"]
    assert minimal.bytes >= 5000
    standard = ops.clean(execution_id, level="standard", dry_run=True).runs[0]
    assert sorted(set(standard.paths) - set(minimal.paths)) == [
        "artifacts/file-link",
        "artifacts/intermediate.bin",
        "artifacts/link-out",
    ]
    deep = ops.clean(execution_id, level="deep", dry_run=True).runs[0]
    assert {"logs", "events.jsonl"} <= set(deep.paths)
    assert (
        "logs"
        not in ops.clean(execution_id, level="deep", preserve_logs=True, dry_run=True).runs[0].paths
    )
    assert (run_dir / "tmp").exists()  # dry runs touch nothing


def test_standard_keeps_declared_outputs_and_never_follows_links(
    ops: Operations, finished: tuple[str, Path], tmp_path: Path
) -> None:
    execution_id, run_dir = finished
    report = ops.clean(execution_id, level="standard")
    assert report.total_bytes >= 8000
    artifacts = run_dir / "artifacts"
    assert (artifacts / "make" / "result.txt").read_text() == "result\n"
    assert (artifacts / "make" / "deep" / "_up_" / "up.txt").read_text() == "up\n"  # '..' kept in
    assert not (artifacts / "intermediate.bin").exists()
    assert (tmp_path / "outside" / "precious.txt").read_text() == "must survive" * 100
    assert (tmp_path / "work" / "up.txt").exists()  # the step's own file outside the run dir stays


def test_complete_removes_the_run_and_its_records_and_undo_brings_them_back(
    ops: Operations, finished: tuple[str, Path], tmp_path: Path
) -> None:
    execution_id, run_dir = finished
    report = ops.clean(execution_id, level="complete")
    assert report.runs[0].records
    assert not run_dir.exists()
    assert execution_id not in [s.id for s in ops.list_executions()]
    assert (tmp_path / "outside" / "precious.txt").exists()
    assert (tmp_path / "work" / "up.txt").exists()
    restored = ops.clean_undo(execution_id)
    assert restored.records
    assert ops.status(execution_id).state.value == "succeeded"
    assert (run_dir / "artifacts" / "make" / "result.txt").exists()
    assert (run_dir / "artifacts" / "link-out").is_symlink()
    assert ops.clean_purge() == 0  # the batch went back: nothing left in the trash


def test_purge_frees_the_bytes_and_undo_then_has_nothing(
    ops: Operations, finished: tuple[str, Path]
) -> None:
    execution_id, _ = finished
    cleaned = ops.clean(execution_id, level="minimal").total_bytes
    assert ops.clean_purge() >= cleaned > 0
    with pytest.raises(ShipyardError, match="nothing of"):
        ops.clean_undo(execution_id)


def test_a_running_execution_is_refused_and_bulk_cleaning_skips_it(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(
        f"name: busy\nsteps:\n  s: {{run: 'touch {tmp_path}/go; sleep 30', shell: true}}\n"
    )
    status = ops.run(spec, detach=True)
    wait_for(lambda: (tmp_path / "go").exists())
    with pytest.raises(ShipyardError, match="cannot be cleaned now"):
        ops.clean(status.id, level="minimal")
    assert ops.clean(all_finished=True, level="minimal").skipped == [status.id]
    ops.stop(status.id, force=True)


def test_bad_requests(ops: Operations, finished: tuple[str, Path]) -> None:
    execution_id, _ = finished
    with pytest.raises(ShipyardError, match="not a clean level"):
        ops.clean(execution_id, level="total")
    with pytest.raises(ShipyardError, match="say what to clean"):
        ops.clean(level="minimal")
    with pytest.raises(ShipyardError, match="logs and outputs included"):
        ops.clean(execution_id, level="complete", preserve_logs=True)
