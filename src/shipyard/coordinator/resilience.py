"""What ``shipyard worker`` does when something dies (docs/coordinator.md, "When things die"):
pure decisions, no I/O, tested with tables (tests/unit/test_worker_resilience.py).

- :func:`call_verdict`: after a call to the coordinator failed, retry it, give it up (a
  report the coordinator fenced off), or end the worker (a refusal no wait will change).
- :func:`backoff_delay`: how long to wait before the next try — exponential, capped, jittered,
  so workers that lost the coordinator together do not all knock again in the same instant.
- :func:`heartbeat_every`: how often to heartbeat under the coordinator's lease.
- :func:`lease_lost`: whether a heartbeat's answer says the running task is no longer ours.
- :func:`flush_wait`: whether the results waiting are reported now in one call, or after how
  long (a worker running several tasks at once reports those that end close together at once).
"""

from __future__ import annotations

from collections.abc import Collection
from enum import Enum

#: The first wait after a failure (seconds); doubled at each failure after it.
BACKOFF_BASE = 0.2
#: The longest wait between tries (seconds), unless ``--backoff-cap`` says otherwise.
BACKOFF_CAP = 15.0
#: Answers that say "not now" rather than "no": the coordinator restarting behind a proxy
#: (502, 504), its database away (503), too many requests (429). Status 0: no answer at all.
TRANSIENT = frozenset({0, 429, 502, 503, 504})


class Verdict(Enum):
    RETRY = "retry"  # wait (backoff_delay) and send the same call again
    DROP = "drop"  # give this call up; the worker goes on
    FAIL = "fail"  # end the worker: its token, group or request is wrong


def call_verdict(status: int, *, report: bool, reached: bool) -> Verdict:
    """What to do after a call answered ``status`` (0: no answer). ``report``: the call is a
    task's report; ``reached``: the worker has been answered by this coordinator before.

    A coordinator never reached is a wrong ``--server`` (said at once, not retried forever);
    one reached before is restarting or its database is: wait and try again. A report refused
    with 409 (its lease went to another attempt) or 404 (the task is gone) is dropped: no later
    try can be taken.
    """
    if status in TRANSIENT:
        return Verdict.RETRY if reached else Verdict.FAIL
    if report and status in (404, 409):
        return Verdict.DROP
    return Verdict.FAIL


def backoff_delay(failures: int, draw: float, *, base: float = BACKOFF_BASE,
                  cap: float = BACKOFF_CAP) -> float:  # fmt: skip
    """The wait before try ``failures + 1`` (``failures`` ≥ 1 failed so far): ``base`` doubled
    per failure, at most ``cap``, then scaled by ``draw`` (uniform in [0, 1)) into its upper
    half — so the wait keeps growing (never below half its step) and spreads the workers."""
    step = min(cap, base * 2.0 ** min(max(failures, 1) - 1, 60))
    return step * (0.5 + 0.5 * min(max(draw, 0.0), 1.0))


def heartbeat_every(lease: float) -> float:
    """A third of the lease (two heartbeats may be lost before it runs out), at least 0.1 s."""
    return max(0.1, lease / 3.0)


def lease_lost(running: str | None, asked_for: str | None, held: Collection[str]) -> bool:
    """Whether the running task is no longer this worker's. ``asked_for`` is the task that ran
    when the heartbeat was *sent*: a heartbeat sent before the task was claimed cannot list it,
    and must not kill it."""
    return running is not None and running == asked_for and running not in held


#: How long a finished task's result may wait for others to share its report call (seconds).
FLUSH_WINDOW = 0.02


def flush_wait(waiting: int, oldest: float, running: int, *, most: int, stopping: bool,
               window: float = FLUSH_WINDOW) -> float | None:  # fmt: skip
    """Seconds to wait before reporting the ``waiting`` results (0: report now; None: nothing
    to report). ``oldest``: how long the first of them has waited; ``running``: tasks still
    running, whose ends could share the call; ``most``: the most one call carries.

    Now when the call is full, when no running task could join it, when stopping (a result
    must not wait on a leave), or when the first has waited the window; else until then.
    """
    if waiting <= 0:
        return None
    if waiting >= most or running <= 0 or stopping or oldest >= window:
        return 0.0
    return window - oldest
