"""A step attempt's verdict and the retry decision (engine/retries.py): tables, no processes."""

from __future__ import annotations

import pytest

from shipyard.engine.retries import (
    MIN_RETRY_DELAY,
    RetryDecision,
    Verdict,
    decide_retry,
    judge_exit,
)
from shipyard.models import UnitState
from shipyard.plan.model import RetrySettings

FAILED, SUCCEEDED, CANCELLED = UnitState.FAILED, UnitState.SUCCEEDED, UnitState.CANCELLED


@pytest.mark.parametrize(
    ("ok", "cancel_reason", "timed_out", "expected"),
    [
        (True, None, False, Verdict(SUCCEEDED, None, retryable=False)),
        (False, None, False, Verdict(FAILED, "exited with code 3", retryable=True)),
        # A stop the step did not survive is a cancel, never worth a retry.
        (False, "stopped by the user", False, Verdict(CANCELLED, "stopped by the user", False)),
        # One that it survived with code 0 (it finished in its grace) is a success.
        (True, "stopped by the user", False, Verdict(SUCCEEDED, None, retryable=False)),
        # A timeout is a failure that a retry may cure, even if the kill left code 0.
        (False, None, True, Verdict(FAILED, "timed out after 1.5s", retryable=True)),
        (True, None, True, Verdict(FAILED, "timed out after 1.5s", retryable=True)),
        # A stop that ended a timed-out step is still a cancel.
        (False, "stopped", True, Verdict(CANCELLED, "stopped", retryable=False)),
    ],
)
def test_the_verdict_on_an_exit(
    ok: bool, cancel_reason: str | None, timed_out: bool, expected: Verdict
) -> None:
    verdict = judge_exit(
        ok=ok,
        described="exited with code 3",
        cancel_reason=cancel_reason,
        timed_out=timed_out,
        timeout=1.5,
    )
    assert verdict == expected


def low(lo: float, hi: float) -> float:
    return lo


def high(lo: float, hi: float) -> float:
    return hi


TWO = RetrySettings(count=2, backoff=1.0, max_backoff=60.0)
FLAKY = Verdict(FAILED, "exited with code 1", retryable=True)
ZERO = RetrySettings(count=5, backoff=0.0, jitter=False)


@pytest.mark.parametrize(
    ("verdict", "attempt", "retries", "stopping", "uniform", "expected"),
    [
        # Retries left: the exponential backoff, with its jitter (±25%) at either end.
        (FLAKY, 1, TWO, False, low, 0.75),
        (FLAKY, 1, TWO, False, high, 1.25),
        (FLAKY, 2, TWO, False, low, 1.5),
        # No jitter: the nominal delay.
        (FLAKY, 2, RetrySettings(count=2, backoff=1.0, jitter=False), False, high, 2.0),
        # Capped by max_backoff (the jitter never goes past the cap).
        (FLAKY, 2, RetrySettings(count=5, backoff=10.0, max_backoff=12.0), False, high, 12.0),
        # Used up: attempt 3 of count 2 is the last.
        (FLAKY, 3, TWO, False, low, None),
        # No retries configured.
        (FLAKY, 1, RetrySettings(count=0), False, low, None),
        # The execution is stopping: nothing runs again.
        (FLAKY, 1, TWO, True, low, None),
        # Only a retryable failure is retried.
        (Verdict(FAILED, "cannot start", retryable=False), 1, TWO, False, low, None),
        (Verdict(CANCELLED, "stopped", retryable=False), 1, TWO, False, low, None),
        (Verdict(SUCCEEDED, None, retryable=False), 1, TWO, False, low, None),
        # The floor: backoff 0 (or 1ms) waits at least MIN_RETRY_DELAY, doubling from it…
        (FLAKY, 1, ZERO, False, high, MIN_RETRY_DELAY),
        (FLAKY, 2, ZERO, False, high, 2 * MIN_RETRY_DELAY),
        (FLAKY, 4, ZERO, False, high, 8 * MIN_RETRY_DELAY),
        (FLAKY, 1, RetrySettings(count=3, backoff=0.001, jitter=False), False, high, 0.1),
        # …and its jitter never takes it below the floor (0.1 × 0.75 would be 0.075).
        (FLAKY, 1, RetrySettings(count=3, backoff=0.0), False, low, MIN_RETRY_DELAY),
        (FLAKY, 1, RetrySettings(count=3, backoff=0.0), False, high, 0.125),
        # A cap of 0 cannot undo it: every retry waits the floor.
        (FLAKY, 7, RetrySettings(count=9, backoff=0.0, max_backoff=0.0), False, high, 0.1),
        # A very late retry is capped, not an overflow.
        (FLAKY, 999, RetrySettings(count=1000, backoff=0.0), False, high, 60.0),
    ],
)
def test_the_retry_decision(
    verdict: Verdict,
    attempt: int,
    retries: RetrySettings,
    stopping: bool,
    uniform: object,
    expected: float | None,
) -> None:
    decision = decide_retry(
        verdict,
        attempt=attempt,
        retries=retries,
        stopping=stopping,
        uniform=uniform,  # type: ignore[arg-type]
    )
    assert decision == RetryDecision(delay=expected)
    assert decision.retrying is (expected is not None)
