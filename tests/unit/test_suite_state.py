"""The suite state machine (issue 14 §1): every state × every event, as a table."""

from __future__ import annotations

import pytest

from shipyard.coordinator.suitestate import SuiteFacts, Transition, after, settled

IDLE = 180.0

CASES = [
    # submit: open stays open, closed reopens, final states refuse
    ("open", "submit", 0.0, 3, Transition("open")),
    ("closed", "submit", 500.0, 0, Transition("open")),
    (
        "complete",
        "submit",
        0.0,
        0,
        Transition("complete", "the suite is complete: it takes no new task"),
    ),
    (
        "cancelled",
        "submit",
        0.0,
        0,
        Transition("cancelled", "the suite is cancelled: it takes no new task"),
    ),
    # a user's close
    ("open", "close", 0.0, 5, Transition("closed")),
    ("closed", "close", 0.0, 5, Transition("closed")),
    (
        "complete",
        "close",
        0.0,
        0,
        Transition("complete", "the suite is complete: there is nothing to close"),
    ),
    (
        "cancelled",
        "close",
        0.0,
        0,
        Transition("cancelled", "the suite is cancelled: there is nothing to close"),
    ),
    # cancel from any state (a cancelled one stays so: a retried cancel is safe)
    ("open", "cancel", 0.0, 2, Transition("cancelled")),
    ("closed", "cancel", 0.0, 2, Transition("cancelled")),
    ("complete", "cancel", 0.0, 0, Transition("cancelled")),
    ("cancelled", "cancel", 0.0, 0, Transition("cancelled")),
    # the sweep: idle open closes (even with tasks unfinished), drained closed completes
    ("open", "sweep", IDLE - 0.1, 0, Transition("open")),
    ("open", "sweep", IDLE, 4, Transition("closed")),
    ("open", "sweep", IDLE, 0, Transition("closed")),
    ("open", "sweep", 1e9, -1, Transition("open")),  # -1: never had a task (total 0)
    ("closed", "sweep", 0.0, 1, Transition("closed")),
    ("closed", "sweep", 0.0, 0, Transition("complete")),
    ("complete", "sweep", 1e9, 0, Transition("complete")),
    ("cancelled", "sweep", 1e9, 3, Transition("cancelled")),
]


@pytest.mark.parametrize(("state", "event", "idle", "unfinished", "expected"), CASES)
def test_every_transition(
    state: str, event: str, idle: float, unfinished: int, expected: Transition
) -> None:
    total = 0 if unfinished < 0 else 10
    facts = SuiteFacts(state, idle, max(unfinished, 0), total)  # type: ignore[arg-type]
    got = after(event, facts, IDLE)
    assert got == expected, f"{state} --{event}--> {got}, expected {expected}"


@pytest.mark.parametrize(
    ("state", "idle", "unfinished", "expected"),
    [
        ("open", IDLE, 0, "complete"),  # idle and drained: closed, then complete
        ("open", IDLE, -1, "open"),  # never had a task: stays open
        ("open", IDLE, 2, "closed"),
        ("open", 1.0, 0, "open"),
        ("closed", 0.0, 0, "complete"),
        ("cancelled", IDLE, 0, "cancelled"),
    ],
)
def test_a_sweep_settles(state: str, idle: float, unfinished: int, expected: str) -> None:
    facts = SuiteFacts(state, idle, max(unfinished, 0), 0 if unfinished < 0 else 10)  # type: ignore[arg-type]
    assert settled(facts, IDLE) == expected
