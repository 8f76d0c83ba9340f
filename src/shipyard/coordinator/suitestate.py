"""A task suite's state machine (issue 14 §1), pure: no I/O, so a table of cases tests it.

    open ──(no new task for idle_close seconds, once it had one; or a user's close)──▶ closed
    closed ──(every task ended: nothing queued, nothing running)──▶ complete
    closed ──(a task submitted)──▶ open
    open | closed | complete ──(a user's cancel)──▶ cancelled

A complete or cancelled suite refuses new tasks (409): complete means its results are final,
and a cancelled one is given up. Cancelling a cancelled suite is allowed and changes nothing
but what ``--running`` asks (its running tasks cancelled too), so a retried cancel is safe.

The coordinator applies these decisions in :mod:`shipyard.coordinator.suites`: user actions in
their request's transaction, and ``sweep`` (idle → closed, drained → complete) from a periodic
sweep in the server, with each change re-checked by a conditional UPDATE, so a task that
arrives between the decision and the write wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SuiteState = Literal["open", "closed", "complete", "cancelled"]
SuiteEvent = Literal["submit", "close", "cancel", "sweep"]

SUITE_STATES: tuple[SuiteState, ...] = ("open", "closed", "complete", "cancelled")
#: States that take no new task.
FINAL: frozenset[str] = frozenset({"complete", "cancelled"})
#: A suite closes after this long without a new task (seconds; ``[coordinator] suite_idle_close``).
IDLE_CLOSE = 180.0
#: How often the server's sweep looks (seconds; ``[coordinator] suite_sweep``).
SWEEP_EVERY = 10.0


@dataclass(frozen=True)
class SuiteFacts:
    """What a decision needs to know of a suite."""

    state: SuiteState
    #: Seconds since its last task was submitted (since its creation if none was).
    idle: float = 0.0
    #: Its tasks queued or running.
    unfinished: int = 0
    #: Its tasks ever submitted.
    total: int = 0


@dataclass(frozen=True)
class Transition:
    """The state after an event (``state``), or why the event is refused (``refused``)."""

    state: SuiteState
    refused: str | None = None


def after(event: SuiteEvent, facts: SuiteFacts, idle_close: float = IDLE_CLOSE) -> Transition:
    """The suite's state after ``event``: one step of the machine."""
    state = facts.state
    if event == "cancel":
        return Transition("cancelled")
    if event == "submit":
        if state in FINAL:
            return Transition(state, f"the suite is {state}: it takes no new task")
        return Transition("open")
    if event == "close":
        if state in FINAL:
            return Transition(state, f"the suite is {state}: there is nothing to close")
        return Transition("closed")
    return _swept(facts, idle_close)


def _swept(facts: SuiteFacts, idle_close: float) -> Transition:
    # A suite that never had a task stays open: it was made to receive them, and closing it
    # (then completing it, empty) would refuse the first batch of a slow client.
    if facts.state == "open" and facts.idle >= idle_close and facts.total > 0:
        return Transition("closed")
    if facts.state == "closed" and facts.unfinished == 0:
        return Transition("complete")
    return Transition(facts.state)


def settled(facts: SuiteFacts, idle_close: float = IDLE_CLOSE) -> SuiteState:
    """Where sweeps take a suite with these facts: an idle, drained open suite goes through
    closed to complete in one sweep, as two sweeps in a row would take it."""
    state = facts.state
    while True:
        now = SuiteFacts(state, facts.idle, facts.unfinished, facts.total)
        step = _swept(now, idle_close).state
        if step == state:
            return state
        state = step
