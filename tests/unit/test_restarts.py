"""The restart decision (engine/restarts.py): a table of exits, and the storm of issue 8 item 9."""

from __future__ import annotations

import pytest

from shipyard.engine.restarts import (
    MIN_RESTART_DELAY,
    MIN_STABLE_UPTIME,
    RestartDecision,
    decide_restart,
)
from shipyard.plan.model import RestartSettings


def low(lo: float, hi: float) -> float:
    return lo  # the jitter at its lowest: the fastest a restart could come


def policy(**changes: object) -> RestartSettings:
    return RestartSettings(**changes)  # type: ignore[arg-type]


STORM = policy(reset_after=0.0, backoff=0.0, max_restarts=3)


@pytest.mark.parametrize(
    ("settings", "exit_ok", "uptime", "streak", "expected"),
    [
        # The policy itself.
        (policy(policy="no"), False, 5.0, 0, RestartDecision(None, 0)),
        (policy(policy="on-failure"), True, 5.0, 0, RestartDecision(None, 0)),
        (policy(policy="always"), True, 5.0, 0, RestartDecision(1.0, 1)),
        # Exponential backoff along a streak; the low jitter never goes below the base backoff.
        (policy(), False, 5.0, 0, RestartDecision(1.0, 1)),
        (policy(), False, 5.0, 1, RestartDecision(1.5, 2)),
        (policy(), False, 5.0, 2, RestartDecision(3.0, 3)),
        (policy(), False, 5.0, 3, RestartDecision(None, 3, gave_up=True)),
        (policy(max_restarts=0), False, 5.0, 0, RestartDecision(None, 0, gave_up=True)),
        # Up reset_after (and longer than its backoff): a fresh streak.
        (policy(), False, 60.0, 3, RestartDecision(1.0, 1)),
        (policy(reset_after=2.0), False, 4.5, 3, RestartDecision(1.0, 1)),
        # ... but never one that ran for less than the backoff before it (4s, the third).
        (policy(reset_after=2.0), False, 2.5, 3, RestartDecision(None, 3, gave_up=True)),
        # reset_after 0 does not reset a run shorter than its backoff ...
        (policy(reset_after=0.0, backoff=5.0), False, 3.0, 1, RestartDecision(7.5, 2)),
        (policy(reset_after=0.0, backoff=5.0), False, 9.0, 2, RestartDecision(15.0, 3)),
        # ... nor one shorter than MIN_STABLE_UPTIME; a longer one it does.
        (STORM, False, 0.001, 1, RestartDecision(0.15, 2)),
        (STORM, False, MIN_STABLE_UPTIME - 0.01, 2, RestartDecision(0.3, 3)),
        (STORM, False, 0.001, 3, RestartDecision(None, 3, gave_up=True)),
        (STORM, False, MIN_STABLE_UPTIME, 3, RestartDecision(MIN_RESTART_DELAY, 1)),
        # backoff 0 still waits MIN_RESTART_DELAY.
        (policy(backoff=0.0), False, 5.0, 0, RestartDecision(MIN_RESTART_DELAY, 1)),
        # A max_backoff below the backoff caps nothing below the backoff.
        (policy(backoff=2.0, max_backoff=0.5), False, 5.0, 2, RestartDecision(2.0, 3)),
    ],
)
def test_decision(
    settings: RestartSettings, exit_ok: bool, uptime: float, streak: int, expected: RestartDecision
) -> None:
    decision = decide_restart(settings, exit_ok=exit_ok, uptime=uptime, streak=streak, uniform=low)
    assert (decision.streak, decision.gave_up) == (expected.streak, expected.gave_up)
    if expected.delay is None:
        assert decision.delay is None
    else:
        assert decision.delay == pytest.approx(expected.delay)


def test_the_reset_after_zero_storm_ends_after_max_restarts() -> None:
    """reset_after: 0, backoff: 0, a service crashing at once: it used to be restarted ~1,000
    times a second for ever (its count reset at every exit). Now it is failed after its
    max_restarts, and no restart came sooner than MIN_RESTART_DELAY."""
    streak, delays = 0, []
    for _ in range(100):
        decision = decide_restart(STORM, exit_ok=False, uptime=0.01, streak=streak, uniform=low)
        if decision.delay is None:
            break
        delays.append(decision.delay)
        streak = decision.streak
    assert decision.gave_up, f"still restarting after {len(delays)} restarts"
    assert len(delays) == 3
    assert min(delays) >= MIN_RESTART_DELAY


@pytest.mark.parametrize("uptime", [0.0, 0.5, 1.0, 5.0, 100.0])
@pytest.mark.parametrize("backoff", [0.0, 0.01, 1.0, 10.0])
def test_a_crash_loop_never_restarts_faster_than_its_backoff(uptime: float, backoff: float) -> None:
    """Whatever the uptime (a reset streak included), the delay is at least the backoff."""
    settings = policy(reset_after=0.0, backoff=backoff, max_restarts=1000)
    streak = 0
    for _ in range(20):
        decision = decide_restart(
            settings, exit_ok=False, uptime=uptime, streak=streak, uniform=low
        )
        assert decision.delay is not None
        assert decision.delay >= max(backoff, MIN_RESTART_DELAY)
        streak = decision.streak
