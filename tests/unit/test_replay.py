"""Pure decisions of the machine-fault handling: journal lines → unit states, errno → error."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.errors import DiskFull, MachineFault, NotWritable, machine_fault
from shipyard.models import ExecutionState, UnitState
from shipyard.recovery import replay


def line(ts: float, action: str, unit: str | None = None, **data: Any) -> dict[str, Any]:
    return {"ts": ts, "action": action, **({"unit": unit} if unit else {}), **data}


STARTED = line(1.0, "execution_started")
A1 = line(2.0, "unit_started", "a", attempt=1, pid=10)


@pytest.mark.parametrize(
    ("lines", "unit", "expected"),
    [
        ([STARTED, A1], "a", (UnitState.RUNNING, 1, None)),
        (
            [STARTED, A1, line(3.0, "unit_finished", "a", attempt=1, state="failed", exit_code=1)],
            "a",
            (UnitState.FAILED, 1, 1),
        ),
        (
            [
                A1,
                line(
                    3.0, "unit_finished", "a", attempt=1, state="failed", exit_code=2, retrying=True
                ),
                line(3.1, "unit_retrying", "a", attempt=2),
            ],
            "a",
            (UnitState.RETRYING, 1, 2),
        ),
        (
            [
                A1,
                line(
                    3.0, "unit_finished", "a", attempt=1, state="failed", exit_code=2, retrying=True
                ),
                line(4.0, "unit_started", "a", attempt=2, pid=11),
                line(5.0, "unit_finished", "a", attempt=2, state="succeeded", exit_code=0),
            ],
            "a",
            (UnitState.SUCCEEDED, 2, 0),
        ),
        ([line(2.0, "unit_skipped", "b", reason="needs a")], "b", (UnitState.SKIPPED, None, None)),
        ([line(2.0, "unit_reused", "c", **{"from": "x"})], "c", (UnitState.SUCCEEDED, None, None)),
        (
            [line(2.0, "service_started", "web", pid=5), line(9.0, "service_stopped", "web")],
            "web",
            (UnitState.STOPPED, 1, None),
        ),
        (
            [line(2.0, "service_started", "web", pid=5), line(3.0, "service_failed", "web")],
            "web",
            (UnitState.FAILED, 1, None),
        ),
    ],
    ids=[
        "running",
        "failed",
        "retrying",
        "retried-ok",
        "skipped",
        "reused",
        "svc-stop",
        "svc-fail",
    ],
)
def test_units_end_as_the_journal_says(
    lines: list[dict[str, Any]], unit: str, expected: tuple[UnitState, int | None, int | None]
) -> None:
    outcome = replay(lines).units[unit]
    assert (outcome.state, outcome.attempts, outcome.exit_code) == expected


@pytest.mark.parametrize(
    ("lines", "state", "events"),
    [
        ([STARTED, A1], None, 2),  # never saw its end: the caller marks it lost
        ([STARTED, line(9.0, "execution_finished", state="failed", reason="x")], "failed", 2),
        ([{"ts": "later", "action": "unit_started", "unit": "a"}, {"action": "x"}], None, 0),
        ([line(1.0, "unit_finished", "a", state="no-such-state")], None, 0),
        ([line(1.0, "unit_started", None)], None, 0),  # a unit event without its unit
    ],
    ids=["unfinished", "finished", "malformed", "bad-state", "no-unit"],
)
def test_the_execution_ends_only_when_the_journal_saw_it(
    lines: list[dict[str, Any]], state: str | None, events: int
) -> None:
    replayed = replay(lines)
    assert replayed.state == (ExecutionState(state) if state else None)
    assert replayed.events == events


def test_attempts_are_rebuilt_with_their_times() -> None:
    replayed = replay(
        [A1, line(3.0, "unit_finished", "a", attempt=1, state="failed", exit_code=7, duration=1.0)]
    )
    (attempt,) = replayed.attempts
    assert (attempt.unit, attempt.number, attempt.exit_code, attempt.pid) == ("a", 1, 7, 10)
    assert attempt.duration_seconds == 1.0


@pytest.mark.parametrize(
    ("errno", "kind", "said"),
    [
        (28, DiskFull, "disk full"),
        (122, DiskFull, "disk full"),
        (30, NotWritable, "read-only file system"),
        (13, NotWritable, "permission denied"),
        (1, NotWritable, "permission denied"),
        (5, MachineFault, "Input/output error"),
    ],
)
def test_each_errno_becomes_an_error_that_says_what_to_do(
    errno: int, kind: type[MachineFault], said: str
) -> None:
    error = machine_fault(errno, "write", "/x/state.db", "Input/output error")
    assert type(error) is kind
    assert error.exit_code == 3
    assert said in error.message
    assert "/x/state.db" in error.message
    assert error.hint


def test_a_full_disk_is_first_told_what_works_with_no_space_at_all() -> None:
    """`clean --all-finished` itself needs a little space (it moves runs to the trash), so the
    hint leads with what works on a disk with none: emptying the trash, deleting files."""
    hint = machine_fault(28, "write", "/x/state.db", "No space left on device").hint or ""
    assert hint.index("clean --purge") < hint.index("clean --all-finished"), hint
