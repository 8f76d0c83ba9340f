"""The pure decisions LocalOperations delegates to (shipyard/operations/): the clean policy,
the lost-run verdict, when a service action is done, what a stop would touch."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shipyard.clean import LEVELS
from shipyard.errors import ShipyardError
from shipyard.models import (
    ExecutionState,
    ExecutionStatus,
    ExecutionSummary,
    Progress,
    UnitState,
    UnitStatus,
)
from shipyard.operations import cleaning, controlling
from shipyard.operations.reconcile import HEARTBEAT_TIMEOUT, verdict
from shipyard.workspace import RunDir

# -- clean ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "selectors", "preserve_logs", "preserve_outputs", "problem"),
    [
        ("standard", 1, False, None, None),
        ("deep", 1, True, True, None),
        ("complete", 1, False, False, None),
        ("complete", 1, False, None, None),
        ("thorough", 1, False, None, "is not a clean level"),
        ("standard", 0, False, None, "say what to clean"),
        ("standard", 2, False, None, "say what to clean"),
        ("thorough", 0, False, None, "is not a clean level"),  # the level is checked first
        ("complete", 1, True, None, "removes the whole run directory"),
        ("complete", 1, False, True, "removes the whole run directory"),
    ],
)
def test_clean_request_problems(
    level: str,
    selectors: int,
    preserve_logs: bool,
    preserve_outputs: bool | None,
    problem: str | None,
) -> None:
    found = cleaning.request_problem(
        level,
        selectors=selectors,
        preserve_logs=preserve_logs,
        preserve_outputs=preserve_outputs,
        levels=LEVELS,
    )
    if problem is None:
        assert found is None
    else:
        assert isinstance(found, ShipyardError) and problem in str(found)


@pytest.mark.parametrize(
    ("level", "preserve_outputs", "keeps"),
    [
        ("minimal", None, True),
        ("standard", None, True),
        ("deep", None, True),
        ("complete", None, False),  # complete takes everything unless told otherwise
        ("standard", False, False),
        ("deep", True, True),
    ],
)
def test_declared_outputs_kept(level: str, preserve_outputs: bool | None, keeps: bool) -> None:
    assert cleaning.keeps_outputs(level, preserve_outputs) is keeps


def summary(execution_id: str, state: ExecutionState) -> ExecutionSummary:
    return ExecutionSummary(execution_id, "p", state, "normal", datetime.now(UTC), Progress(0, 1))


@pytest.mark.parametrize(
    ("states", "targets", "skipped"),
    [
        ([], [], []),
        (
            [ExecutionState.SUCCEEDED, ExecutionState.RUNNING, ExecutionState.FAILED],
            ["e0", "e2"],
            ["e1"],
        ),
        ([ExecutionState.PENDING, ExecutionState.LOST], ["e1"], ["e0"]),
        ([ExecutionState.CANCELLED], ["e0"], []),
    ],
)
def test_only_finished_executions_are_eligible(
    states: list[ExecutionState], targets: list[str], skipped: list[str]
) -> None:
    summaries = [summary(f"e{i}", state) for i, state in enumerate(states)]
    assert cleaning.eligible(summaries) == (targets, skipped)


@pytest.mark.parametrize(
    ("steps", "protected"),
    [
        ([], []),
        ([{"name": "a"}], []),
        ([{"name": "a", "outputs": ["model.bin", "out/"]}], ["a/model.bin", "a/out"]),
        # A declared path is confined as it was when saved: no '..', no leading '/'.
        ([{"name": "b", "outputs": ["../x", "/abs/y"]}], ["b/_up_/x", "b/abs/y"]),
    ],
)
def test_declared_outputs(steps: list[dict[str, object]], protected: list[str]) -> None:
    assert cleaning.declared_outputs({"steps": steps}) == protected


# -- lost executions ------------------------------------------------------------------------

NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("state", "pid", "heartbeat", "alive", "expected"),
    [
        (None, 10, NOW, False, None),  # no such execution
        (ExecutionState.SUCCEEDED, 10, NOW - 999, False, None),  # finished: nothing to do
        (ExecutionState.PENDING, None, None, False, None),  # not started yet
        (ExecutionState.RUNNING, 10, NOW - 1, True, None),  # alive and beating
        (ExecutionState.RUNNING, 10, None, True, None),  # alive, no heartbeat yet
        (ExecutionState.RUNNING, 10, NOW - 1, False, "died"),
        (ExecutionState.RUNNING, 10, None, False, "died"),
        (ExecutionState.RUNNING, 10, NOW - HEARTBEAT_TIMEOUT - 1, True, "stopped answering"),
        (ExecutionState.RUNNING, 10, NOW - HEARTBEAT_TIMEOUT - 1, False, "died"),
        (ExecutionState.RUNNING, 10, NOW - HEARTBEAT_TIMEOUT, True, None),  # at the limit
    ],
)
def test_lost_verdict(
    state: ExecutionState | None,
    pid: int | None,
    heartbeat: float | None,
    alive: bool,
    expected: str | None,
) -> None:
    assert verdict(state, pid, heartbeat, alive=alive, now=NOW) == expected


# -- services and stop ----------------------------------------------------------------------

BEFORE = UnitStatus("web", UnitState.RUNNING, kind="service", pid=100, health="healthy")


@pytest.mark.parametrize(
    ("action", "now", "done"),
    [
        ("stop", UnitStatus("web", UnitState.STOPPED, kind="service"), True),
        ("stop", BEFORE, False),
        ("start", BEFORE, True),
        ("start", UnitStatus("web", UnitState.RUNNING, kind="service", health="starting"), False),
        # A restart is done only with a new process that is healthy.
        ("restart", BEFORE, False),
        ("restart", UnitStatus("web", UnitState.RUNNING, kind="service", pid=101), False),
        (
            "restart",
            UnitStatus("web", UnitState.RUNNING, kind="service", pid=101, health="healthy"),
            True,
        ),
        ("restart", UnitStatus("web", UnitState.STOPPED, kind="service"), False),
    ],
)
def test_when_a_service_action_is_done(action: str, now: UnitStatus, done: bool) -> None:
    reached, _ = controlling._reached(action, "web", BEFORE)
    assert reached(now) is done


def test_a_restarted_service_that_failed_is_an_error() -> None:
    reached, _ = controlling._reached("restart", "web", BEFORE)
    failed = UnitStatus("web", UnitState.FAILED, kind="service", reason="exit 1")
    with pytest.raises(ShipyardError, match="did not come back: exit 1"):
        reached(failed)


def status_of(state: ExecutionState, *units: UnitStatus) -> ExecutionStatus:
    return ExecutionStatus(
        "e1", "p", state, "normal", datetime.now(UTC), Progress(0, 1), "", units=list(units)
    )


@pytest.mark.parametrize(
    ("units", "journaled", "running", "never"),
    [
        ({"a": UnitState.RUNNING, "b": UnitState.PENDING}, [], ["a"], ["b"]),
        # Started a moment ago: in the spawn journal before the store.
        ({"a": UnitState.RUNNING, "b": UnitState.PENDING}, ["b"], ["a", "b"], []),
        ({"a": UnitState.SUCCEEDED, "b": UnitState.RETRYING}, [], [], ["b"]),
    ],
)
def test_what_a_stop_touches(
    tmp_path: Path,
    units: dict[str, UnitState],
    journaled: list[str],
    running: list[str],
    never: list[str],
) -> None:
    run_dir = RunDir(tmp_path)
    run_dir.create()
    run_dir.spawns.write_text(
        "".join(f"{1000 + i} 1.0 {name}\n" for i, name in enumerate(journaled))
    )
    status = status_of(ExecutionState.RUNNING, *(UnitStatus(n, s) for n, s in units.items()))
    report = controlling.stop_impact(status, run_dir)
    assert (report.running, report.never_start) == (running, never)


def test_a_finished_execution_cannot_be_stopped(tmp_path: Path) -> None:
    with pytest.raises(ShipyardError, match="already finished"):
        controlling.stop_impact(status_of(ExecutionState.FAILED), RunDir(tmp_path))
