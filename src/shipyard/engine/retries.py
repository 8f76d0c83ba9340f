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

#: No retry comes sooner than this, whatever the spec says, and the backoff doubles from it:
#: ``backoff: 0`` on a step that fails at once made ~270 attempts a second (each a spawn, an
#: attempt row and events: 11 MB of store in 40 s). Services have the same floor
#: (:data:`shipyard.engine.restarts.MIN_RESTART_DELAY`).
MIN_RETRY_DELAY = 0.1


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
    """The verdict on an attempt's leader exit (``ok``: one of the step's success exit codes,
    0 unless it lists others; ``described``: "exited with code 3", "killed by signal KILL").
    A stop that the step survived with such a code is still a success; a timeout is a failure
    worth a retry."""
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
    stopping; the delay is the exponential backoff of ``retries``, counted from at least
    :data:`MIN_RETRY_DELAY` (so ``backoff: 0`` waits 0.1 s, 0.2 s, 0.4 s…) and never below it,
    jitter included."""
    if not (
        verdict.state == UnitState.FAILED
        and verdict.retryable
        and attempt <= retries.count
        and not stopping
    ):
        return RetryDecision(delay=None)
    base = max(retries.backoff, MIN_RETRY_DELAY)
    delay = retry_delay(
        attempt,
        base=base,
        cap=max(retries.max_backoff, base),
        jitter=retries.jitter,
        uniform=uniform,
    )
    return RetryDecision(delay=max(delay, MIN_RETRY_DELAY))


def attempt_header(attempt: int, earlier: int, count: int) -> str:
    """The line a step's log gets before attempt ``attempt`` (``earlier``: attempts made
    before this run, ``count``: retries allowed). Each run of a resumed execution gets its own
    ``count`` retries, so the header counts this run's tries and names the overall number
    apart (it said "attempt 2 of 1" after a resume)."""
    tries = count + 1
    if earlier == 0:
        return f"attempt {attempt} of {tries}"
    return f"attempt {attempt} (try {attempt - earlier} of {tries} in this run, resumed)"
