"""The restart policy of a service, as a pure decision: after an exit, restart (after which
delay) or stay down, and what becomes of its crash streak. No I/O; the random source is
injectable, so the table tests need no seed.

Two counts are kept apart: the *streak* (restarts since the service was last stable) is what
``max_restarts`` and the backoff look at; the *total* shown by ``ps`` is never reset. Mixing the
two made ``reset_after: 0`` show ``restarts 1`` during a storm of a thousand restarts a second.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from shipyard.engine.backoff import retry_delay
from shipyard.plan.model import RestartSettings

#: No automatic restart comes sooner than this, whatever the spec says (``backoff: 0``
#: restarted a crashing service ~1,000 times a second, each start a store write).
MIN_RESTART_DELAY = 0.1

#: A run shorter than this never counts as stable, whatever ``reset_after`` says: a service that
#: crashes at once must use up its restarts, not loop for ever at the backoff rate.
MIN_STABLE_UPTIME = 1.0


@dataclass(frozen=True, slots=True)
class RestartDecision:
    """``delay`` is None when the service stays down; ``gave_up`` tells a used-up streak
    (failed) from a policy that does not restart (stopped or failed by its exit)."""

    delay: float | None
    streak: int
    gave_up: bool = False


def nominal_backoff(streak: int, policy: RestartSettings) -> float:
    """The delay, without jitter, before restart number ``streak`` of a streak (1 = first),
    never below :data:`MIN_RESTART_DELAY`."""
    base = max(policy.backoff, MIN_RESTART_DELAY)
    return retry_delay(max(1, streak), base=base, cap=max(policy.max_backoff, base), jitter=False)


def stable_after(streak: int, policy: RestartSettings) -> float:
    """How long a run must last for its exit to start a fresh streak: ``reset_after``, but
    never less than the backoff that preceded the run, nor :data:`MIN_STABLE_UPTIME`."""
    return max(policy.reset_after, nominal_backoff(streak, policy), MIN_STABLE_UPTIME)


def decide_restart(
    policy: RestartSettings,
    *,
    exit_ok: bool,
    uptime: float,
    streak: int,
    uniform: Callable[[float, float], float] = random.uniform,
) -> RestartDecision:
    """What to do after a service's exit (``exit_ok``: one of its success exit codes) that ran
    ``uptime`` seconds, ``streak`` restarts into its current crash streak.

    The delay is the streak's exponential backoff with ±25% jitter, but never below the base
    backoff (nor :data:`MIN_RESTART_DELAY`): a crash loop can never restart faster than that.
    """
    if policy.policy == "no" or (policy.policy == "on-failure" and exit_ok):
        return RestartDecision(delay=None, streak=streak)
    if uptime >= stable_after(streak, policy):
        streak = 0  # it had been stable: a fresh start, not a crash loop
    if streak >= policy.max_restarts:
        return RestartDecision(delay=None, streak=streak, gave_up=True)
    streak += 1
    base = max(policy.backoff, MIN_RESTART_DELAY)
    delay = retry_delay(streak, base=base, cap=max(policy.max_backoff, base), uniform=uniform)
    return RestartDecision(delay=max(delay, base), streak=streak)


def used_up(max_restarts: int, why: str | None) -> str:
    """The reason a service that gave up shows: "1 restart used up (last: exited with code 3)"."""
    from shipyard.wording import counted

    return f"{counted(max_restarts, 'restart')} used up (last: {why or 'exited'})"
