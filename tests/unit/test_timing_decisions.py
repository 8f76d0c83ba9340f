"""The timing decisions as tables (issue 9 item 8): the backoff before each restart of a streak,
how long a run must last to be forgiven (reset_after), the retry schedule a step's `retries`
gives, and the estimate of what is left. test_restarts.py and test_backoff.py hold the restart
decision's and the delay's own tables; these cover the rest of what the engine relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shipyard.engine.restarts import (
    MIN_RESTART_DELAY,
    MIN_STABLE_UPTIME,
    decide_restart,
    nominal_backoff,
    stable_after,
)
from shipyard.engine.retries import Verdict, decide_retry
from shipyard.estimate import remaining_seconds
from shipyard.models import UnitState, UnitStatus
from shipyard.plan.model import RestartSettings, RetrySettings

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def policy(**changes: object) -> RestartSettings:
    return RestartSettings(**changes)  # type: ignore[arg-type]


def highest(lo: float, hi: float) -> float:
    return hi


@pytest.mark.parametrize(
    ("settings", "streak", "expected"),
    [
        (policy(backoff=1.0), 1, 1.0),
        (policy(backoff=1.0), 2, 2.0),
        (policy(backoff=1.0), 3, 4.0),
        (policy(backoff=1.0, max_backoff=3.0), 3, 3.0),
        (policy(backoff=1.0), 0, 1.0),  # before any restart: the first backoff
        (policy(backoff=0.0), 1, MIN_RESTART_DELAY),
        (policy(backoff=0.0), 2, 2 * MIN_RESTART_DELAY),
        (policy(backoff=5.0, max_backoff=1.0), 4, 5.0),  # a cap below the backoff is no cap
    ],
)
def test_nominal_backoff(settings: RestartSettings, streak: int, expected: float) -> None:
    assert nominal_backoff(streak, settings) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("settings", "streak", "expected"),
    [
        (policy(reset_after=60.0), 1, 60.0),
        (policy(reset_after=2.0, backoff=1.0), 1, 2.0),
        (policy(reset_after=2.0, backoff=1.0), 3, 4.0),  # the backoff before it was longer
        (policy(reset_after=0.0, backoff=0.0), 1, MIN_STABLE_UPTIME),
    ],
)
def test_how_long_a_run_must_last_to_be_forgiven(
    settings: RestartSettings, streak: int, expected: float
) -> None:
    assert stable_after(streak, settings) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("uptime", "streak_after"),
    [(1.9, None), (2.0, 1), (30.0, 1)],  # None: the streak of 2 is used up (max_restarts 2)
)
def test_reset_after_forgives_a_used_up_streak_only_after_a_long_enough_run(
    uptime: float, streak_after: int | None
) -> None:
    decision = decide_restart(
        policy(reset_after=2.0, backoff=0.5, max_restarts=2),
        exit_ok=False,
        uptime=uptime,
        streak=2,
        uniform=highest,
    )
    if streak_after is None:
        assert decision.gave_up and decision.delay is None
    else:
        assert decision.streak == streak_after
        assert decision.delay == pytest.approx(0.625)  # the first backoff of a fresh streak


@pytest.mark.parametrize(
    ("base", "cap", "count", "schedule"),
    [
        (1.0, 60.0, 2, [1.0, 2.0]),  # retries {count: 2, backoff: 1s, jitter: false}
        (0.5, 60.0, 4, [0.5, 1.0, 2.0, 4.0]),
        (1.0, 3.0, 4, [1.0, 2.0, 3.0, 3.0]),
        # backoff 0 is floored at MIN_RETRY_DELAY and doubles from it (was 0, 0: a busy loop).
        (0.0, 60.0, 3, [0.1, 0.2, 0.4]),
        (0.0, 0.0, 2, [0.1, 0.1]),
    ],
)
def test_the_retry_schedule_of_a_step(
    base: float, cap: float, count: int, schedule: list[float]
) -> None:
    """The delay before each retry, as the executor asks for them (retry n after attempt n)."""
    retries = RetrySettings(count=count, backoff=base, max_backoff=cap, jitter=False)
    failed = Verdict(UnitState.FAILED, "exited with code 1", retryable=True)
    delays = [
        decide_retry(failed, attempt=attempt, retries=retries, stopping=False).delay
        for attempt in range(1, count + 1)
    ]
    assert delays == schedule


def unit(name: str, state: UnitState, started_ago: float | None = None) -> UnitStatus:
    started = NOW - timedelta(seconds=started_ago) if started_ago is not None else None
    return UnitStatus(name=name, state=state, started_at=started)


P, R, S = UnitState.PENDING, UnitState.RUNNING, UnitState.SUCCEEDED


@pytest.mark.parametrize(
    ("states", "needs", "means", "max_parallel", "expected"),
    [
        # One step, not started: its mean.
        ({"a": (P, None)}, {}, {"a": 3.0}, 1, 3.0),
        # Running for 1 s of its 3: 2 left (a second run's ETA is its start + the mean).
        ({"a": (R, 1.0)}, {}, {"a": 3.0}, 1, 2.0),
        # A running step with no start recorded yet counts whole.
        ({"a": (R, None)}, {}, {"a": 3.0}, 1, 3.0),
        # Finished steps cost nothing, and their means do not count.
        ({"a": (S, None), "b": (P, None)}, {"b": ["a"]}, {"a": 9.0, "b": 1.0}, 1, 1.0),
        # A chain adds up; independent steps overlap up to max_parallel.
        ({"a": (P, None), "b": (P, None)}, {"b": ["a"]}, {"a": 1.0, "b": 2.0}, 4, 3.0),
        ({"a": (P, None), "b": (P, None)}, {}, {"a": 2.0, "b": 2.0}, 2, 2.0),
        ({"a": (P, None), "b": (P, None)}, {}, {"a": 2.0, "b": 2.0}, 1, 4.0),
        # Diamond: the longer branch is the critical path.
        (
            {"a": (P, None), "b": (P, None), "c": (P, None), "d": (P, None)},
            {"b": ["a"], "c": ["a"], "d": ["b", "c"]},
            {"a": 1.0, "b": 5.0, "c": 2.0, "d": 1.0},
            4,
            7.0,
        ),
    ],
)
def test_the_estimate_of_what_is_left(
    states: dict[str, tuple[UnitState, float | None]],
    needs: dict[str, list[str]],
    means: dict[str, float],
    max_parallel: int,
    expected: float,
) -> None:
    units = [unit(name, state, ago) for name, (state, ago) in states.items()]
    seconds, _ = remaining_seconds(units, needs, means, max_parallel=max_parallel, now=NOW)
    assert seconds == pytest.approx(expected)
