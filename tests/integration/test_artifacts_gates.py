"""Artifacts between steps and quality gates with real runs (issue 15 §1-2): real processes,
real SQLite, through the operations as a front end gets them (JSON both ways under
SHIPYARD_WIRE_CHECK=1)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState, UnitState
from tests.conftest import SpecWriter

PY = sys.executable


def code(text: str) -> str:
    """A step's argv running ``text`` with this Python."""
    return json.dumps([PY, "-c", text])


def report(**figures: float) -> str:
    """Python that appends ``figures`` to the step's metrics file."""
    lines = "".join(json.dumps({"name": k, "value": v}) + "\n" for k, v in figures.items())
    return f"import os; open(os.environ['SHIPYARD_METRICS'], 'a').write({lines!r})"


PREPARE = code(
    "import os; os.makedirs('data', exist_ok=True);"
    " open('data/train.csv', 'w').write('x,y\\n1,2\\n'); open('vocab.txt', 'w').write('a b c')"
)
# What the dependant saw: its argv (the template) and its environment (the variable), with
# the files it found there, written where the test can read them.
LOOK = code(
    "import json, os, sys; folder = os.environ['SHIPYARD_INPUT_PREPARE'];"
    " json.dump({'argv': sys.argv[1:], 'env': folder,"
    " 'csv': open(os.path.join(folder, 'data', 'train.csv')).read(),"
    " 'vocab': open(sys.argv[2]).read()}, open('seen.json', 'w'))"
)


def pipeline(write_spec: SpecWriter, *, gates: str = "[]", train: str | None = None) -> Path:
    train_run = train or code(report(accuracy=0.91, loss=0.2))
    return write_spec(
        f"""
        name: ml
        steps:
          prepare: {{run: {PREPARE}, outputs: [data, vocab.txt]}}
          look:
            run: {LOOK[:-1]}, "{{{{ inputs.prepare }}}}", "{{{{ inputs.prepare }}}}/vocab.txt"]
            needs: [prepare]
          train:
            run: {train_run}
            needs: [prepare]
            gates: {gates}
          deploy: {{run: [touch, deployed], needs: [train]}}
          announce: {{run: [touch, announced], needs: [deploy]}}
        """
    )


def test_outputs_reach_the_dependant_as_a_variable_and_a_template(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    status = ops.run(pipeline(write_spec))
    assert status.state == ExecutionState.SUCCEEDED, status.reason
    seen = json.loads((tmp_path / "seen.json").read_text())
    folder = str(ops.workspace.run_dir(status.id).artifacts / "prepare")  # type: ignore[attr-defined]
    assert seen["env"] == folder
    assert seen["argv"] == [folder, f"{folder}/vocab.txt"]
    assert seen["csv"] == "x,y\n1,2\n" and seen["vocab"] == "a b c"


def test_each_collected_file_is_recorded_with_its_size_and_sha256(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    status = ops.run(pipeline(write_spec))
    listed = ops.artifacts(status.id)
    assert [(a.unit, a.path, a.size) for a in listed] == [
        ("prepare", "data/train.csv", 8),
        ("prepare", "vocab.txt", 5),
    ]
    assert listed[0].sha256 == hashlib.sha256(b"x,y\n1,2\n").hexdigest()
    assert ops.artifacts(status.id, "train") == []
    assert ops.artifacts(status.id, "prepare") == listed
    with pytest.raises(ShipyardError, match="has no step 'nope'"):
        ops.artifacts(status.id, "nope")


def test_an_artifact_is_read_back_and_a_path_leading_out_is_refused(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    status = ops.run(pipeline(write_spec))
    data = b"".join(c.raw for c in ops.artifact_read(status.id, "prepare", "data/train.csv"))
    assert data == b"x,y\n1,2\n"
    for bad, said in [
        ("../look/../../state.db", "leads out of the step's artifacts folder"),
        ("/etc/passwd", "is absolute"),
        ("data", "is a folder, not a file"),
        ("missing.txt", "has no artifact 'missing.txt'"),
    ]:
        with pytest.raises(ShipyardError, match=said):
            b"".join(c.raw for c in ops.artifact_read(status.id, "prepare", bad))


def test_a_link_inside_the_artifacts_folder_leading_out_is_refused(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    status = ops.run(pipeline(write_spec))
    folder = ops.workspace.run_dir(status.id).artifacts / "prepare"  # type: ignore[attr-defined]
    (tmp_path / "secret.txt").write_text("secret")
    (folder / "planted").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(ShipyardError, match="leads out of the step's artifacts folder"):
        list(ops.artifact_read(status.id, "prepare", "planted"))


def test_a_missing_input_fails_the_dependant_before_it_starts_naming_the_file(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """The first run: prepare succeeds, its dependant starts (noted) and fails. Its input
    removed, the resumed dependant fails without starting, naming what is gone."""
    spec = write_spec(
        f"""
        name: gone
        steps:
          prepare: {{run: {PREPARE}, outputs: [data, vocab.txt]}}
          look: {{run: {code("open('started', 'w'); raise SystemExit(1)")}, needs: [prepare]}}
        """
    )
    first = ops.run(spec)
    assert first.unit("prepare").state == UnitState.SUCCEEDED
    assert first.unit("look").state == UnitState.FAILED
    (tmp_path / "started").unlink()  # it started then, with its input there
    artifacts = ops.workspace.run_dir(first.id).artifacts  # type: ignore[attr-defined]
    (artifacts / "prepare" / "vocab.txt").unlink()
    resumed = ops.resume(first.id)
    look = resumed.unit("look")
    assert look.state == UnitState.FAILED
    assert look.reason is not None
    assert "input missing: 'vocab.txt' from 'prepare'" in look.reason
    assert not (tmp_path / "started").exists(), "the dependant started with its input missing"
    shutil.rmtree(artifacts / "prepare")
    again = ops.resume(first.id)
    assert "the artifacts folder of 'prepare'" in (again.unit("look").reason or "")
    assert not (tmp_path / "started").exists(), "the dependant started with its input missing"


def test_a_gate_that_passes_lets_the_dependants_run(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = pipeline(write_spec, gates='[{metric: accuracy, ">=": 0.85}, {metric: loss, "<": 1}]')
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED, status.reason
    assert (tmp_path / "announced").exists()
    checked = [e for e in ops.events(status.id).events if e.action == "gates_checked"]
    assert [g["passed"] for g in checked[0].data["gates"]] == [True, True]


def test_a_failed_gate_gates_the_step_skips_its_dependants_and_fails_the_run(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = pipeline(
        write_spec,
        gates='[{metric: accuracy, ">=": 0.95}]',
        train=code(report(accuracy=0.5) + "; " + report(accuracy=0.62)),
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.FAILED
    train = status.unit("train")
    assert train.state == UnitState.GATED
    assert train.exit_code == 0 and train.attempts == 1
    message = "gate accuracy >= 0.95 failed: measured accuracy = 0.62, threshold >= 0.95"
    assert train.reason == message
    assert status.reason == f"step 'train' was gated: {message}"
    for name in ("deploy", "announce"):
        assert status.unit(name).state == UnitState.SKIPPED
    assert status.unit("deploy").reason == (
        "not started: it depends on 'train', which was gated (accuracy >= 0.95 failed)"
    )
    assert status.unit("look").state == UnitState.SUCCEEDED  # another branch went on
    assert not (tmp_path / "deployed").exists()
    assert status.failed == 1
    # The figures are there, per attempt, in the status (and so --json and the Python API).
    assert [(m.unit, m.attempt, m.name, m.value) for m in status.metrics] == [
        ("train", 1, "accuracy", 0.5),
        ("train", 1, "accuracy", 0.62),
    ]


def test_a_metric_never_reported_gates_the_step_saying_so(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = pipeline(write_spec, gates='[{metric: f1, ">=": 0.5}]')
    status = ops.run(spec)
    train = status.unit("train")
    assert train.state == UnitState.GATED
    assert "gate f1 >= 0.5 failed: the step never reported 'f1'" in (train.reason or "")
    assert status.state == ExecutionState.FAILED


def test_an_approved_gate_and_a_resume_run_the_dependants(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = pipeline(write_spec, gates='[{metric: accuracy, ">=": 0.95}]')
    status = ops.run(spec)
    assert status.unit("train").state == UnitState.GATED
    with pytest.raises(ShipyardError, match="is succeeded, not gated"):
        ops.gate_approve(status.id, "prepare", reason="no")
    with pytest.raises(ShipyardError, match="needs a reason"):
        ops.gate_approve(status.id, "train", reason="  ")
    approval = ops.gate_approve(status.id, "train", reason="0.91 is fine", approved_by="alice")
    assert (approval.unit, approval.approved_by, approval.reason) == (
        "train",
        "alice",
        "0.91 is fine",
    )
    assert approval.gates == [
        "gate accuracy >= 0.95 failed: measured accuracy = 0.91, threshold >= 0.95"
    ]
    approved = ops.status(status.id)
    assert approved.unit("train").state == UnitState.SUCCEEDED
    assert approved.approvals == [approval]
    events = [e for e in ops.events(status.id).events if e.action == "gate_approved"]
    assert [(e.unit, e.data["by"], e.data["reason"]) for e in events] == [
        ("train", "alice", "0.91 is fine")
    ]
    resumed = ops.resume(status.id)
    assert resumed.state == ExecutionState.SUCCEEDED, resumed.reason
    assert resumed.unit("train").attempts == 1  # kept, not run again
    assert (tmp_path / "announced").exists()
    assert [a.unit for a in resumed.approvals] == ["train"]


def test_an_approval_the_journal_cannot_take_approves_nothing(
    ops: Operations, write_spec: SpecWriter
) -> None:
    """The approval goes into the run's journal (what a store rebuild is made from) before the
    store: when it cannot be written, the user is told so and the step stays gated."""
    status = ops.run(pipeline(write_spec, gates='[{metric: accuracy, ">=": 0.95}]'))
    journal = ops.workspace.run_dir(status.id).events  # type: ignore[attr-defined]
    journal.unlink()
    journal.mkdir()  # the journal cannot be appended to
    with pytest.raises(ShipyardError, match="cannot write the approval") as refused:
        ops.gate_approve(status.id, "train", reason="0.91 is fine")
    assert "nothing was approved" in refused.value.message
    after = ops.status(status.id)
    assert after.unit("train").state == UnitState.GATED, "approved without its journal line"
    assert after.approvals == []


def test_a_run_reusing_an_earlier_success_is_handed_its_artifacts(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """run --resume-from keeps prepare (same cache key): its artifacts are copied into the new
    run, so train, which runs again, is handed the same files."""
    use = code(
        "import os, sys; folder = os.environ['SHIPYARD_INPUT_PREPARE'];"
        " open('used.txt', 'w').write(open(os.path.join(folder, 'vocab.txt')).read());"
        " sys.exit(0 if os.path.exists('go') else 1)"
    )
    spec = write_spec(
        f"""
        name: reuse
        steps:
          prepare: {{run: {PREPARE}, outputs: [data, vocab.txt]}}
          train: {{run: {use}, needs: [prepare]}}
        """
    )
    first = ops.run(spec)
    assert first.unit("train").state == UnitState.FAILED
    (tmp_path / "go").touch()
    (tmp_path / "used.txt").unlink()
    second = ops.run(spec, resume_from=first.id)
    assert second.state == ExecutionState.SUCCEEDED, second.unit("train").reason
    assert second.unit("prepare").reason is not None and "reused" in second.unit("prepare").reason
    assert (tmp_path / "used.txt").read_text() == "a b c"
    assert [a.path for a in ops.artifacts(second.id)] == ["data/train.csv", "vocab.txt"]
    assert ops.artifacts(second.id) == ops.artifacts(first.id)


def test_a_checkpoint_restore_hands_the_kept_steps_artifacts_on(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """prepare succeeded before the checkpoint; the restored execution (a new run folder)
    keeps it, and the step that needs it is handed its files there."""
    wait = code(
        "import os, time\nwhile not os.path.exists('go'): time.sleep(0.05)\n"
        "folder = os.environ['SHIPYARD_INPUT_PREPARE']\n"
        "open('used.txt', 'w').write(open(os.path.join(folder, 'vocab.txt')).read())"
    )
    spec = write_spec(
        f"""
        name: restored
        steps:
          prepare: {{run: {PREPARE}, outputs: [data, vocab.txt]}}
          train: {{run: {wait}, needs: [prepare]}}
        """
    )
    started = ops.run(spec, detach=True)
    deadline = time.monotonic() + 30
    while ops.status(started.id).unit("train").state != UnitState.RUNNING:
        assert time.monotonic() < deadline, ops.status(started.id)
        time.sleep(0.05)
    taken = ops.checkpoint_create(started.id)
    ops.stop(started.id, force=True)
    (tmp_path / "go").touch()
    restored = ops.checkpoint_restore(taken.id)
    assert restored.state == ExecutionState.SUCCEEDED, restored.unit("train").reason
    assert restored.unit("prepare").attempts == 0  # kept, not run again
    assert (tmp_path / "used.txt").read_text() == "a b c"
    assert ops.artifacts(restored.id) == ops.artifacts(started.id)
