"""Hooks as units of their run (hookview.py; issue 11 item 12): read from the events."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.cli.uphint import logs_hint
from shipyard.hookview import hook_units
from shipyard.models import Event, ExecutionState, ExecutionStatus, Progress, UnitState

LOGS = "/runs/x/logs"


def started(ts: float, phase: str, command: str) -> Event:
    return Event(ts, "x", "hook_started", None, {"phase": phase, "command": command})


def finished(ts: float, phase: str, **data: Any) -> Event:
    return Event(ts, "x", "hook_finished", None, {"phase": phase, **data})


def test_no_hook_ran_no_unit() -> None:
    assert hook_units([], LOGS, execution_finished=True) == []


@pytest.mark.parametrize(
    ("events", "finished_run", "expected"),
    [
        # two commands that succeeded: one unit, two attempts, the last exit code
        (
            [
                started(1, "prepare", "mkdir d"),
                finished(2, "prepare", ok=True, exit_code=0),
                started(2, "prepare", "echo hi"),
                finished(4, "prepare", ok=True, exit_code=0),
            ],
            True,
            ("_prepare", UnitState.SUCCEEDED, 2, 0, None, 3.0),
        ),
        # the failing command is named, with how it ended
        (
            [
                started(1, "prepare", "sh -c 'exit 3'"),
                finished(2, "prepare", ok=False, exit_code=3, reason="exited with code 3"),
            ],
            True,
            ("_prepare", UnitState.FAILED, 1, 3, "`sh -c 'exit 3'` exited with code 3", 1.0),
        ),
        # from before the reason was recorded: the exit code says it
        (
            [started(1, "prepare", "false"), finished(2, "prepare", ok=False, exit_code=1)],
            True,
            ("_prepare", UnitState.FAILED, 1, 1, "`false` exited with code 1", 1.0),
        ),
        # a command that could not start has no exit code
        (
            [
                started(1, "prepare", "nope"),
                finished(1.5, "prepare", ok=False, reason="'nope' not found"),
            ],
            True,
            (
                "_prepare",
                UnitState.FAILED,
                1,
                None,
                "`nope` could not start: 'nope' not found",
                0.5,
            ),
        ),
        # still running in a running execution; cut short in an ended one
        (
            [started(1, "cleanup", "sleep 9")],
            False,
            ("_cleanup", UnitState.RUNNING, 1, None, None, None),
        ),
        (
            [started(1, "cleanup", "sleep 9")],
            True,
            ("_cleanup", UnitState.CANCELLED, 1, None, "`sleep 9` was cut short", None),
        ),
    ],
)
def test_a_phase_as_a_unit(
    events: list[Event], finished_run: bool, expected: tuple[object, ...]
) -> None:
    (unit,) = hook_units(events, LOGS, execution_finished=finished_run)
    assert (
        unit.name,
        unit.state,
        unit.attempts,
        unit.exit_code,
        unit.reason,
        unit.duration_seconds,
    ) == expected
    assert unit.kind == "hook"
    assert unit.log_path == f"{LOGS}/{unit.name}.log"


def test_prepare_comes_first_whatever_the_order_of_events() -> None:
    units = hook_units(
        [started(5, "cleanup", "a"), started(1, "prepare", "b")], LOGS, execution_finished=False
    )
    assert [u.name for u in units] == ["_prepare", "_cleanup"]


def run_with(
    *hooks: tuple[str, UnitState], step: UnitState = UnitState.SUCCEEDED
) -> ExecutionStatus:
    from datetime import UTC, datetime

    from shipyard.models import UnitStatus

    return ExecutionStatus(
        "exec_x", "x", ExecutionState.FAILED, "normal", datetime.now(UTC), Progress(0, 1), "/r",
        units=[UnitStatus("a", step)],
        hooks=[UnitStatus(name, state, "hook") for name, state in hooks],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (run_with(), "shipyard logs exec_x [STEP]"),
        (run_with(("_prepare", UnitState.SUCCEEDED)), "shipyard logs exec_x [STEP]"),
        (run_with(("_prepare", UnitState.FAILED)), "shipyard logs exec_x _prepare"),
        (
            run_with(("_prepare", UnitState.SUCCEEDED), ("_cleanup", UnitState.FAILED)),
            "shipyard logs exec_x _cleanup",
        ),
        (  # the step failed first: its log says why, not the cleanup's that failed after it
            run_with(
                ("_prepare", UnitState.SUCCEEDED),
                ("_cleanup", UnitState.FAILED),
                step=UnitState.FAILED,
            ),
            "shipyard logs exec_x [STEP]",
        ),
    ],
)
def test_the_logs_hint_points_at_a_failed_hook(status: ExecutionStatus, expected: str) -> None:
    assert logs_hint(status) == expected
