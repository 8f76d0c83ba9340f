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
