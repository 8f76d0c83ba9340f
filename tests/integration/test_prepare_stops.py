"""A stop asked for while a prepare hook runs, with real processes: a graceful stop (`stop
--grace 0`, `down`) ended a pipeline's prepare hook only once it had run to its end, and a
fleet with steps then started its services; `service start|stop` during the hook started a
service twice, or "stopped" one that bring-up started anyway; a hook that still ended well
after the stop let the next prepare command run, and its services said "never started"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState, ExecutionStatus, UnitState
from tests.conftest import SpecWriter
from tests.integration.test_lifecycle import wait_for

#: The first prepare command writes its pid and sleeps far longer than any wait below (a
#: regression fails on the wait, it does not hang); the second leaves a mark if it ever runs.
SLOW_PREPARE = "[[sh, -c, 'echo $$ > hook.pid; exec sleep 60'], [touch, second]]"

#: Its first command ends well when stopped: TERM makes it exit 0.
STOP_SAYS_ZERO = (
    "[[sh, -c, 'trap \"exit 0\" TERM; echo $$ > hook.pid; sleep 60 & wait'], [touch, second]]"
)


def preparing(ops: Operations, execution_id: str, tmp_path: Path) -> bool:
    hooks = [(h.name, h.state) for h in ops.status(execution_id).hooks]
    return hooks == [("_prepare", UnitState.RUNNING)] and (tmp_path / "hook.pid").exists()


def ended(ops: Operations, execution_id: str) -> ExecutionStatus:
    """Its end: well within the hook's sleep when the stop ends the hook."""
    wait_for(lambda: ops.status(execution_id).state.finished, timeout=30)
    return ops.status(execution_id)


def gone(pid_file: Path) -> bool:
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")


def actions(ops: Operations, execution_id: str) -> list[tuple[str, str | None]]:
    return [(e.action, e.unit) for e in ops.events(execution_id).events]


def test_a_graceful_stop_ends_a_pipelines_running_prepare_hook(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = f"""
    name: slowprep
    hooks: {{prepare: {SLOW_PREPARE}}}
    steps:
      a: {{run: [touch, step-ran]}}
    """
    status = ops.run(write_spec(spec), detach=True)
    wait_for(lambda: preparing(ops, status.id, tmp_path))
    ops.stop(status.id, grace=0, wait=False, reason="stopped by test")
    down = ended(ops, status.id)
    assert down.state == ExecutionState.CANCELLED, (down.state, down.reason)
    assert down.reason == "stopped by test"
    prepare = down.unit("_prepare")
    assert (prepare.state, prepare.attempts) == (UnitState.FAILED, 1)  # TERM: no second command
    a = down.unit("a")
    assert (a.state, a.reason) == (UnitState.SKIPPED, "not started: stopped by test")
    assert gone(tmp_path / "hook.pid")
    assert not (tmp_path / "second").exists() and not (tmp_path / "step-ran").exists()


def test_a_fleet_with_steps_brought_down_during_its_prepare_hook_starts_no_service(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = f"""
    name: mixedprep
    hooks: {{prepare: {SLOW_PREPARE}}}
    steps:
      a: {{run: [touch, step-ran], needs: [web]}}
    services:
      web: {{run: [sh, -c, 'touch started; exec sleep 60']}}
    """
    status = ops.up(write_spec(spec), detach=True)
    wait_for(lambda: preparing(ops, status.id, tmp_path))
    ops.stop(status.id, grace=0, wait=False, reason="brought down")  # what `down` asks
    down = ended(ops, status.id)
    assert down.state == ExecutionState.STOPPED, (down.state, down.reason)
    assert down.reason == "brought down"
    web = down.unit("web")
    assert (web.state, web.pid, web.reason) == (
        UnitState.SKIPPED,
        None,
        "not started: brought down",
    )
    assert down.unit("_prepare").state == UnitState.FAILED  # stopped: killed by signal TERM
    assert gone(tmp_path / "hook.pid")
    done = actions(ops, status.id)
    assert ("service_started", "web") not in done, done
    assert ("fleet_up", None) not in done, done
    assert not (tmp_path / "started").exists() and not (tmp_path / "second").exists()


def test_service_start_and_stop_are_refused_while_the_prepare_hook_runs(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = f"""
    name: servprep
    hooks: {{prepare: {SLOW_PREPARE}}}
    services:
      web: {{run: [sh, -c, 'echo $$ >> starts; exec sleep 60']}}
    """
    status = ops.up(write_spec(spec), detach=True)
    wait_for(lambda: preparing(ops, status.id, tmp_path))
    for act in (ops.service_start, ops.service_stop):
        with pytest.raises(ShipyardError) as error:
            act(status.id, "web")
        assert error.value.message == (
            "the fleet is still running its prepare hook; try again once it is up"
        )
    web = ops.status(status.id).unit("web")
    assert web.pid is None and not (tmp_path / "starts").exists()
    ops.stop(status.id, grace=0, wait=False, reason="brought down")
    down = ended(ops, status.id)
    assert down.unit("web").reason == "not started: brought down"
    assert ("service_started", "web") not in actions(ops, status.id)


@pytest.mark.parametrize("with_steps", [False, True])
def test_a_prepare_hook_that_ends_well_after_a_stop_runs_no_further_command(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path, with_steps: bool
) -> None:
    steps = "steps:\n      a: {run: [touch, step-ran]}" if with_steps else ""
    spec = f"""
    name: zeroprep
    hooks: {{prepare: {STOP_SAYS_ZERO}}}
    {steps}
    services:
      web: {{run: [sh, -c, 'touch started; exec sleep 60']}}
    """
    status = ops.up(write_spec(spec), detach=True)
    wait_for(lambda: preparing(ops, status.id, tmp_path))
    ops.stop(status.id, grace=0, wait=False, reason="brought down")
    down = ended(ops, status.id)
    assert down.state == ExecutionState.STOPPED, (down.state, down.reason)
    prepare = down.unit("_prepare")
    assert (prepare.state, prepare.attempts) == (UnitState.SUCCEEDED, 1), prepare
    web = down.unit("web")
    assert (web.state, web.reason) == (UnitState.SKIPPED, "not started: brought down")
    assert not (tmp_path / "second").exists()
    assert not (tmp_path / "started").exists()
    assert ("service_started", "web") not in actions(ops, status.id)
