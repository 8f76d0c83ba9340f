"""Checkpoints with a real long-running step that saves its state on SIGUSR1."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState, UnitState
from tests.integration.test_lifecycle import wait_for

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "long-simulation.yaml"


def counted(ops: Operations, execution_id: str) -> list[str]:
    return [line.text for line in ops.logs(execution_id, "simulate")]


def start_counting(ops: Operations, **params: object) -> str:
    status = ops.run(EXAMPLE, {"to": 60, "every": 0.05, **params}, detach=True)
    wait_for(lambda: counted(ops, status.id) == ["starting from 0"])
    time.sleep(0.6)  # let it count for a while
    return status.id


def test_a_killed_run_restored_from_its_checkpoint_finishes_from_where_it_was(
    ops: Operations,
) -> None:
    execution_id = start_counting(ops)
    taken = ops.checkpoint_create(execution_id)
    assert taken.units == {"simulate": "running", "report": "pending"}
    assert list(taken.files) == ["simulate"] and list(taken.files["simulate"]) == ["state.json"]
    saved = int(counted(ops, execution_id)[-1].removeprefix("checkpoint at "))
    assert 0 < saved < 60
    ops.stop(execution_id, force=True)
    assert ops.status(execution_id).unit("simulate").state == UnitState.CANCELLED

    restored = ops.checkpoint_restore(taken.id)
    assert restored.id != execution_id and restored.state == ExecutionState.SUCCEEDED
    lines = counted(ops, restored.id)
    assert lines[0] == f"starting from {saved}"  # not from zero
    assert lines[-1] == "finished at 60"
    assert [c.id for c in ops.checkpoint_list(execution_id)] == [taken.id]


def test_a_corrupted_checkpoint_is_refused(ops: Operations) -> None:
    execution_id = start_counting(ops)
    taken = ops.checkpoint_create(execution_id)
    ops.stop(execution_id, force=True)
    saved = Path(ops.status(execution_id).run_dir) / "checkpoints" / "ckpt-0001"
    (saved / "simulate" / "state.json").write_text(json.dumps({"count": 59}))
    with pytest.raises(ShipyardError, match=r"corrupted: simulate/state\.json"):
        ops.checkpoint_restore(taken.id)
    (saved / "simulate" / "state.json").unlink()
    with pytest.raises(ShipyardError, match="incomplete"):
        ops.checkpoint_restore(taken.id)


def test_automatic_checkpoints_keep_only_the_newest(ops: Operations) -> None:
    status = ops.run(EXAMPLE, {"to": 80, "every": 0.05}, detach=True, checkpoint_every=0.4)
    wait_for(lambda: ops.status(status.id).state.finished, timeout=30)
    names = [c.id.rpartition("/")[2] for c in ops.checkpoint_list(status.id)]
    assert len(names) == 3  # keep_checkpoints: 3 in the example
    assert names == sorted(names) and names[0] != "ckpt-0001"  # the oldest were removed
    assert all(c.reason == "automatic" for c in ops.checkpoint_list(status.id))


def test_checkpoint_errors(ops: Operations) -> None:
    with pytest.raises(ShipyardError, match="not a checkpoint id"):
        ops.checkpoint_restore("nonsense")
    done = ops.run(EXAMPLE, {"to": 1, "every": 0.01})
    with pytest.raises(ShipyardError, match="only a running one"):
        ops.checkpoint_create(done.id)
    with pytest.raises(ShipyardError, match="no checkpoint ckpt-0009"):
        ops.checkpoint_restore(f"{done.id}/ckpt-0009")


def test_without_a_ready_file_the_checkpoint_waits_for_the_files_to_change(
    ops: Operations,
    write_spec,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    spec = write_spec(
        """
        name: slow-writer
        steps:
          w:
            shell: true
            run: >-
              echo old > state.txt; trap 'sleep 0.5; echo new > state.txt' USR1;
              touch started; while :; do sleep 0.05; done
            checkpoint: {paths: [state.txt], signal: USR1, timeout: 10s}
        """
    )
    status = ops.run(spec, detach=True)
    wait_for(lambda: (tmp_path / "started").exists())
    wait_for(lambda: ops.status(status.id).unit("w").state == UnitState.RUNNING)
    taken = ops.checkpoint_create(status.id)
    saved = Path(status.run_dir) / "checkpoints" / "ckpt-0001" / "w" / "state.txt"
    assert saved.read_text() == "new\n"  # waited for the write that the signal asked for
    assert taken.files["w"]["state.txt"]
    ops.stop(status.id, force=True)


def test_a_step_not_yet_handling_the_signal_is_not_killed_by_an_automatic_checkpoint(
    ops: Operations,
    write_spec,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    """The first automatic checkpoints come while the step does not handle SIGUSR1 yet (it
    sleeps before installing its handler, as a slow-starting program would): it is not
    signalled — the signal's default action would kill it — and the run succeeds; once it
    handles the signal, checkpoints are taken."""
    spec = write_spec(
        """
        name: late-handler
        steps:
          work:
            run:
              - python3
              - -c
              - |
                import pathlib, signal, time
                time.sleep(1.5)
                signal.signal(signal.SIGUSR1, lambda *_: pathlib.Path("state").write_text("x"))
                time.sleep(2.5)
            checkpoint: {paths: [state], signal: USR1, timeout: 5s}
        """
    )
    status = ops.run(spec, checkpoint_every=0.3)
    assert status.state == ExecutionState.SUCCEEDED, (
        f"the step was killed by a checkpoint signal it did not handle yet: {status}"
    )
    kinds = [event.action for _, event in ops.store.events(status.id)]
    assert "checkpoint_failed" in kinds, kinds
    assert "checkpoint_created" in kinds, kinds


def test_catches_signal_reads_the_handler_mask(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from shipyard.checkpoint import catches_signal

    ready = tmp_path / "ready"
    code = (
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGUSR1, lambda *_: None)\n"
        "pathlib.Path(sys.argv[1]).write_text('ok')\n"
        "time.sleep(30)\n"
    )
    handler = subprocess.Popen([sys.executable, "-c", code, str(ready)])
    plain = subprocess.Popen(["sleep", "30"])
    try:
        wait_for(ready.exists)
        assert catches_signal(handler.pid, signal.SIGUSR1) is True
        assert catches_signal(handler.pid, signal.SIGUSR2) is False
        assert catches_signal(plain.pid, signal.SIGUSR1) is False
    finally:
        for process in (handler, plain):
            process.kill()
            process.wait()
    assert catches_signal(handler.pid, signal.SIGUSR1) is None  # gone: nothing to say
