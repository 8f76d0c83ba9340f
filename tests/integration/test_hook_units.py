"""Hooks are units of their run for status and logs (issue 11 item 12), with real processes:
`logs EXEC _prepare` said "has no unit '_prepare'", and a failed prepare said only "a prepare
hook failed"."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState, UnitState
from tests.conftest import SpecWriter
from tests.integration.test_lifecycle import wait_for

HOOKED = """
name: hooked
hooks:
  prepare: [[echo, prepared], [sh, -c, 'echo oops >&2; exit 3']]
  cleanup: [echo, cleaned]
steps:
  a: {run: [echo, a]}
"""


def test_a_failed_prepare_names_its_command_and_exit_code(
    ops: Operations, write_spec: SpecWriter
) -> None:
    status = ops.run(write_spec(HOOKED))
    assert status.state == ExecutionState.FAILED
    assert status.reason == "the prepare hook `sh -c 'echo oops >&2; exit 3'` exited with code 3"
    prepare = status.unit("_prepare")
    assert (prepare.kind, prepare.state, prepare.attempts, prepare.exit_code) == (
        "hook",
        UnitState.FAILED,
        2,
        3,
    )
    assert status.unit("_cleanup").state == UnitState.SUCCEEDED
    # the hooks count in no progress: one unit, skipped
    assert (status.progress.total, [u.name for u in status.units]) == (1, ["a"])


def test_hook_output_is_reached_through_logs(ops: Operations, write_spec: SpecWriter) -> None:
    status = ops.run(write_spec(HOOKED))
    assert [line.text for line in ops.logs(status.id, "_prepare")] == ["prepared", "oops"]
    every = [(line.unit, line.text) for line in ops.logs(status.id)]
    assert every == [("_prepare", "prepared"), ("_prepare", "oops"), ("_cleanup", "cleaned")]
    with pytest.raises(ShipyardError) as error:
        list(ops.logs(status.id, "_nope"))
    assert error.value.hint == "its units are: _prepare, a, _cleanup"


def test_a_fleet_whose_prepare_fails_says_which(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    status = ops.run(
        write_spec(
            """
            name: mixed
            hooks: {prepare: [false]}
            steps:
              a: {run: [echo, a], needs: [web]}
            services:
              web: {run: [sleep, '60']}
            """
        )
    )
    assert status.state == ExecutionState.FAILED
    assert status.reason == "the prepare hook `false` exited with code 1", status.reason


#: A fleet without steps: its service writes "started" when it starts, its hooks leave marks
#: (each a file named after it, beside the spec) and say what they saw.
SERVICES_ONLY = """
name: onlyservices
hooks:
  prepare: [sh, -c, 'echo prep-said; touch prepared; exit {code}']
  cleanup: [sh, -c, 'echo cleanup-said; test -f started && touch cleaned']
services:
  web: {{run: [sh, -c, 'test -f prepared && touch started && exec sleep 60']}}
"""


def test_a_fleet_without_steps_runs_its_prepare_hook_first_and_its_cleanup_once_down(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    status = ops.run(write_spec(SERVICES_ONLY.format(code=0)), detach=True)
    healthy = ops.wait_healthy(status.id, timeout=60)
    assert healthy.state == ExecutionState.RUNNING, healthy.reason
    assert ops.status(status.id).unit("_prepare").state == UnitState.SUCCEEDED
    assert [line.text for line in ops.logs(status.id, "_prepare")] == ["prep-said"]
    wait_for((tmp_path / "started").exists)  # the service saw the hook's mark: it ran first
    assert not (tmp_path / "cleaned").exists()
    ops.stop(status.id, grace=0)
    down = ops.status(status.id)
    assert down.state == ExecutionState.STOPPED, down.reason
    assert (tmp_path / "cleaned").exists()
    assert [line.text for line in ops.logs(status.id, "_cleanup")] == ["cleanup-said"]
    assert [(hook.name, hook.state) for hook in down.hooks] == [
        ("_prepare", UnitState.SUCCEEDED),
        ("_cleanup", UnitState.SUCCEEDED),
    ]
    # the cleanup ran once the service was down, as docs/spec.md says
    actions = [(e.action, e.unit) for e in ops.events(status.id).events]
    stopped = actions.index(("service_stopped", "web"))
    assert actions.index(("hook_started", None), stopped) > stopped, actions


def test_a_fleet_without_steps_whose_prepare_fails_starts_nothing(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    status = ops.run(write_spec(SERVICES_ONLY.format(code=4)), detach=True)
    assert not ops.wait_healthy(status.id, timeout=60).unit("web").pid
    web = ops.status(status.id).unit("web")
    assert (web.state, web.pid, web.reason) == (
        UnitState.SKIPPED,
        None,
        "not started: a prepare hook failed",
    )
    wait_for(lambda: ops.status(status.id).state.finished)  # its cleanup, then its end
    ended = ops.status(status.id)
    assert ended.state == ExecutionState.FAILED, (ended.state, ended.reason)
    assert ended.reason == (
        "the prepare hook `sh -c 'echo prep-said; touch prepared; exit 4'` exited with code 4"
    )
    assert not (tmp_path / "started").exists()
    prepare = ended.unit("_prepare")
    assert (prepare.state, prepare.exit_code) == (UnitState.FAILED, 4)
    assert [line.text for line in ops.logs(status.id, "_prepare")] == ["prep-said"]
    # cleanup still runs, as after a pipeline's failed prepare
    assert [line.text for line in ops.logs(status.id, "_cleanup")] == ["cleanup-said"]


def test_a_fleet_without_steps_brought_down_during_its_prepare_hook_stops_it(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = SERVICES_ONLY.format(code=0).replace("echo prep-said;", "echo prep-said; sleep 30;")
    status = ops.run(write_spec(spec), detach=True)

    def preparing() -> bool:
        return [(h.name, h.state) for h in ops.status(status.id).hooks] == [
            ("_prepare", UnitState.RUNNING)
        ]

    wait_for(preparing)
    ops.stop(status.id, grace=0, reason="brought down")
    down = ops.status(status.id)
    assert down.state == ExecutionState.STOPPED, (down.state, down.reason)
    web = down.unit("web")
    assert (web.state, web.reason) == (UnitState.SKIPPED, "not started: brought down")
    assert not (tmp_path / "started").exists() and not (tmp_path / "prepared").exists()
    assert [(h.name, h.state) for h in down.hooks] == [
        ("_prepare", UnitState.FAILED),  # stopped: killed by signal TERM
        ("_cleanup", UnitState.FAILED),  # it ran: no service had started, as it checks
    ]
    assert [line.text for line in ops.logs(status.id, "_cleanup")] == ["cleanup-said"]
