"""The pure parts of tests/acceptance/test_cli_truths.py: when `up -d` waits for the store to
record a fleet's end (cli/uphint.py ``ending``/``settled``, on a fake clock), and the line a
hook command prints in a foreground run (cli/progress.py ``hook_line``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipyard.cli.progress import hook_line
from shipyard.cli.uphint import SETTLE_INTERVAL, ending, settled
from shipyard.models import Event, ExecutionState, ExecutionStatus, Progress, UnitState, UnitStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def fleet(state: ExecutionState, *units: UnitStatus) -> ExecutionStatus:
    return ExecutionStatus(
        "exec_x", "x", state, "normal", NOW, Progress(0, 1), "/r", units=list(units)
    )


def service(state: UnitState) -> UnitStatus:
    return UnitStatus("web", state, "service")


def step(state: UnitState) -> UnitStatus:
    return UnitStatus("train", state, "step")


RUNNING, STOPPED = ExecutionState.RUNNING, ExecutionState.STOPPED


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (fleet(RUNNING, service(UnitState.FAILED)), True),  # its only service exited
        (fleet(RUNNING, service(UnitState.FAILED), service(UnitState.STOPPED)), True),
        (fleet(RUNNING, service(UnitState.FAILED), service(UnitState.RUNNING)), False),
        (fleet(RUNNING, service(UnitState.RETRYING)), False),  # it will be back
        (fleet(RUNNING, service(UnitState.FAILED), step(UnitState.PENDING)), False),
        (fleet(STOPPED, service(UnitState.FAILED)), False),  # its end is recorded
        (fleet(ExecutionState.FAILED, service(UnitState.FAILED)), False),
        (fleet(RUNNING, step(UnitState.SUCCEEDED)), False),  # not a fleet
        (fleet(ExecutionState.PENDING, service(UnitState.PENDING)), False),
    ],
)
def test_ending(status: ExecutionStatus, expected: bool) -> None:
    assert ending(status) is expected


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("looks", "timeout", "shown", "slept"),
    [
        # its end is recorded at the second look: that state, after two intervals
        ([fleet(RUNNING, service(UnitState.FAILED)), fleet(STOPPED, service(UnitState.FAILED))],
         10.0, STOPPED, 2),
        # still running with a service up: printed at once, as the store has it
        ([], 10.0, RUNNING, 0),
        # the store never records its end: the last look once the time is up
        ([fleet(RUNNING, service(UnitState.FAILED))] * 1000, 1.0, RUNNING, 20),
    ],
)  # fmt: skip
def test_settled(
    looks: list[ExecutionStatus], timeout: float, shown: ExecutionState, slept: int
) -> None:
    first = fleet(RUNNING, service(UnitState.FAILED if looks else UnitState.RUNNING))
    clock, seen = FakeClock(), iter(looks)
    status = settled(
        first, lambda: next(seen), monotonic=clock.monotonic, sleep=clock.sleep, timeout=timeout
    )
    assert status.state == shown
    assert clock.now == pytest.approx(slept * SETTLE_INTERVAL)


def finished(**data: object) -> Event:
    return Event(
        ts=0.0,
        execution_id="exec_x",
        action="hook_finished",
        unit=None,
        data={"phase": "prepare", **data},
    )


@pytest.mark.parametrize(
    ("command", "event", "seconds", "expected"),
    [
        ("make data", None, None, "  running _prepare `make data`"),
        ("make data", finished(ok=True, exit_code=0), 0.002,
         "succeeded _prepare `make data` in 2ms"),
        ("sh -c 'exit 3'", finished(ok=False, exit_code=3, reason="exited with code 3"), 0.027,
         "   failed _prepare `sh -c 'exit 3'` in 27ms — exited with code 3"),
        # no reason given: the exit code says it
        ("false", finished(ok=False, exit_code=1), 0.001,
         "   failed _prepare `false` in 1ms — exited with code 1"),
        # it never ran: no exit code
        ("nope", finished(ok=False, reason="command not found: nope"), 0.0,
         "   failed _prepare `nope` in 0ms — could not start: command not found: nope"),
    ],
)  # fmt: skip
def test_hook_line(command: str, event: Event | None, seconds: float | None, expected: str) -> None:
    assert hook_line("_prepare", command, event, seconds).plain == expected
