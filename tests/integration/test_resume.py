"""Resume and --resume-from: what succeeded is kept, what changed is noticed. Real processes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.engine.liveness import pid_alive
from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState, UnitState
from tests.conftest import SpecWriter
from tests.integration.test_lifecycle import wait_for


def counting_spec(write_spec: SpecWriter, tmp_path: Path, *, middle: str = "sleep 30") -> Path:
    """Three steps in a chain; each appends its name to runs.txt, so runs can be counted."""
    log = tmp_path / "runs.txt"
    return write_spec(
        f"""
        name: three
        steps:
          first: {{run: 'echo first >> {log}', shell: true}}
          second: {{run: 'echo second >> {log}; {middle}', shell: true, needs: [first]}}
          third: {{run: 'echo third >> {log}', shell: true, needs: [second]}}
        """
    )


def runs(tmp_path: Path) -> list[str]:
    return (tmp_path / "runs.txt").read_text().split()


def test_resume_after_the_supervisor_was_killed_runs_only_what_did_not_finish(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = counting_spec(write_spec, tmp_path)
    status = ops.run(spec, detach=True)
    wait_for(lambda: (tmp_path / "runs.txt").exists() and "second" in runs(tmp_path))
    wait_for(lambda: ops.status(status.id).unit("first").state == UnitState.SUCCEEDED)
    supervisor, _ = ops.store.supervisor(status.id)
    assert supervisor is not None
    os.kill(supervisor, signal.SIGKILL)
    wait_for(lambda: not pid_alive(supervisor))
    lost = ops.status(status.id)
    assert lost.state == ExecutionState.LOST
    assert f"shipyard resume {status.id}" in (lost.reason or "")

    # The slow middle step is changed before resuming: it had not succeeded, so this is allowed.
    spec.write_text(spec.read_text().replace("sleep 30", "true"))
    resumed = ops.resume(status.id)
    assert resumed.id == status.id and resumed.state == ExecutionState.SUCCEEDED
    assert runs(tmp_path) == ["first", "second", "second", "third"]
    attempts = [(a.unit, a.number) for a in ops.store.attempts(status.id)]
    assert ("second", 2) in attempts and ("first", 2) not in attempts


def test_resume_keeps_successes_and_reruns_failures(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    flag = tmp_path / "fixed"
    spec = counting_spec(write_spec, tmp_path, middle=f"test -e {flag}")
    failed = ops.run(spec)
    assert failed.state == ExecutionState.FAILED
    assert runs(tmp_path) == ["first", "second"]
    flag.touch()
    resumed = ops.resume(failed.id)
    assert resumed.state == ExecutionState.SUCCEEDED
    assert runs(tmp_path) == ["first", "second", "second", "third"]
    second = resumed.unit("second")
    assert second.attempts == 2 and second.state == UnitState.SUCCEEDED


def test_resume_refuses_when_a_succeeded_step_changed(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = counting_spec(write_spec, tmp_path, middle="exit 1")
    failed = ops.run(spec)
    spec.write_text(spec.read_text().replace("echo first", "echo FIRST"))
    with pytest.raises(ShipyardError, match=r"cannot resume .*: .*first") as error:
        ops.resume(failed.id)
    assert error.value.hint and "--force" in error.value.hint
    assert ops.status(failed.id).state == ExecutionState.FAILED  # untouched by the refusal


def test_changed_inputs_invalidate_a_step(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    data = tmp_path / "data.txt"
    data.write_text("v1")
    spec = write_spec(
        f"""
        name: inputs
        steps:
          read: {{run: [cat, data.txt], inputs: [data.txt]}}
          fail: {{run: [sh, -c, 'test -e {tmp_path}/ok'], needs: [read]}}
        """
    )
    failed = ops.run(spec)
    data.write_text("v2")
    with pytest.raises(ShipyardError, match="read"):
        ops.resume(failed.id)
    data.write_text("v1")
    (tmp_path / "ok").touch()
    assert ops.resume(failed.id).state == ExecutionState.SUCCEEDED


def test_resuming_a_success_or_a_running_execution_is_refused(
    ops: Operations, write_spec: SpecWriter
) -> None:
    done = ops.run(write_spec("name: ok\nsteps:\n  a: {run: [true]}\n"))
    with pytest.raises(ShipyardError, match="nothing to resume"):
        ops.resume(done.id)


def test_run_resume_from_reuses_matching_steps_only(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = counting_spec(write_spec, tmp_path, middle="true")
    first = ops.run(spec)
    assert first.state == ExecutionState.SUCCEEDED
    spec.write_text(spec.read_text().replace("echo third", "echo THIRD"))
    second = ops.run(spec, resume_from=first.id)
    assert second.id != first.id and second.state == ExecutionState.SUCCEEDED
    assert runs(tmp_path) == ["first", "second", "third", "THIRD"]
    assert "reused from" in (second.unit("first").reason or "")
    assert second.unit("third").attempts == 1


def test_outputs_are_collected_and_a_missing_one_fails_the_step(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(
        """
        name: outs
        execution: {failure_strategy: continue}
        steps:
          make: {run: 'mkdir -p out && echo hi > out/a.txt && echo r > report.txt', shell: true,
                 outputs: [out, report.txt]}
          forget: {run: [true], outputs: [never.txt]}
        """
    )
    status = ops.run(spec)
    artifacts = Path(status.run_dir) / "artifacts"
    assert (artifacts / "make" / "out" / "a.txt").read_text() == "hi\n"
    assert (artifacts / "make" / "report.txt").read_text() == "r\n"
    forget = status.unit("forget")
    assert forget.state == UnitState.FAILED
    assert forget.reason == "declared output 'never.txt' was not written"


def test_the_refusal_names_as_changed_only_the_step_whose_input_changed(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """Issue 11 item 17: only `a`'s input changed; `b` (which needs it) was named with it."""
    data = tmp_path / "data.txt"
    data.write_text("v1")
    spec = write_spec(
        """
        name: chain
        steps:
          a: {run: [cat, data.txt], inputs: [data.txt]}
          b: {run: [echo, b], needs: [a]}
          c: {run: [sh, -c, 'exit 1'], needs: [b]}
        """
    )
    failed = ops.run(spec)
    assert failed.unit("b").state == UnitState.SUCCEEDED
    data.write_text("v2")
    with pytest.raises(ShipyardError) as error:
        ops.resume(failed.id)
    changed, _, after = error.value.message.partition(";")
    assert changed.endswith("inputs changed): a"), error.value.message
    assert "b" in after, error.value.message
