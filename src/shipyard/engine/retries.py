"""What a step's attempt ended as, and whether it runs again: pure decisions, no I/O. The
pipeline executor carries them out (records the attempt, schedules the retry, tells the
scheduler); the random source of the backoff's jitter is injectable, so tables need no seed."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from shipyard.engine.backoff import retry_delay
from shipyard.models import UnitState
from shipyard.plan.model import RetrySettings
from shipyard.spec.quantities import format_duration


@dataclass(frozen=True, slots=True)
class Verdict:
    """How an attempt ended: its state, why (None for a plain success), and whether running it
    again could help (a crash may be flaky; a cancel or a refused output is not)."""

    state: UnitState
    reason: str | None
    retryable: bool


def judge_exit(
    *,
    ok: bool,
    described: str,
    cancel_reason: str | None,
    timed_out: bool,
    timeout: float | None,
) -> Verdict:
    """The verdict on an attempt's leader exit (``ok``: code 0; ``described``: "exited with
    code 3", "killed by signal KILL"). A stop that the step survived with code 0 is still a
    success; a timeout is a failure worth a retry."""
    if cancel_reason is not None and not ok:
        return Verdict(UnitState.CANCELLED, cancel_reason, retryable=False)
    if timed_out:
        return Verdict(
            UnitState.FAILED, f"timed out after {format_duration(timeout or 0)}", retryable=True
        )
    if ok:
        return Verdict(UnitState.SUCCEEDED, None, retryable=False)
    return Verdict(UnitState.FAILED, described, retryable=True)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """``delay`` is None when the attempt is the step's last; then ``state`` is the step's."""

    delay: float | None

    @property
    def retrying(self) -> bool:
        return self.delay is not None


def decide_retry(
    verdict: Verdict,
    *,
    attempt: int,
    retries: RetrySettings,
    stopping: bool,
    uniform: Callable[[float, float], float] = random.uniform,
) -> RetryDecision:
    """After attempt number ``attempt`` (1 = the first): another one, after which delay, or
    not. Only a retryable failure is retried, while retries are left and the execution is not
    stopping; the delay is the exponential backoff of ``retries``."""
    if not (
        verdict.state == UnitState.FAILED
        and verdict.retryable
        and attempt <= retries.count
        and not stopping
    ):
        return RetryDecision(delay=None)
    delay = retry_delay(
        attempt,
        base=retries.backoff,
        cap=retries.max_backoff,
        jitter=retries.jitter,
        uniform=uniform,
    )
    return RetryDecision(delay=delay)
