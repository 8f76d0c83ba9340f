"""The attempt journal read back (pure): fold, and what it corrects in a lost record."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shipyard.engine.attemptlog import (
    OUTCOME_UNKNOWN,
    Ending,
    Noted,
    end_line,
    fold,
    latest,
    start_line,
)
from shipyard.models import Attempt, ResourceUsage, UnitState, timestamp
from shipyard.recovery import UnitFix, attempt_row, unit_fix

OK = Ending(UnitState.SUCCEEDED, 10.0, 11.0, 0, None, 42, None, "key", retrying=False)
RETRY = Ending(UnitState.FAILED, 10.0, 11.0, 1, None, 42, "exited with code 1", None, retrying=True)
FAILED = Ending(
    UnitState.FAILED, 10.0, 11.0, 2, None, 42, "exited with code 2", "k", retrying=False
)


def lines(*raw: bytes) -> list[list[Any]]:
    return [json.loads(line) for line in raw]


def test_fold_pairs_starts_with_ends_and_passes_over_damage() -> None:
    noted = fold(
        [
            *lines(start_line("a", 1, 9.0), end_line("a", 1, RETRY), start_line("a", 2, 12.0)),
            ["end", "b"],  # cut short
            ["start", "c", "x", 1.0],  # not a number
            *lines(end_line("d", 1, OK)),  # an end whose start was lost
        ]
    )
    assert noted[("a", 1)] == Noted("a", 1, 9.0, RETRY)
    assert noted[("a", 2)] == Noted("a", 2, 12.0, None)
    assert noted[("d", 1)] == Noted("d", 1, None, OK)
    assert set(noted) == {("a", 1), ("a", 2), ("d", 1)}
    assert {name: entry.number for name, entry in latest(noted).items()} == {"a": 2, "d": 1}


@pytest.mark.parametrize(
    ("noted", "state", "attempts", "expected"),
    [
        # Newer than the store: the journal's word.
        (
            Noted("a", 1, 9.0, OK),
            UnitState.PENDING,
            0,
            UnitFix(UnitState.SUCCEEDED, 1, 11.0, 0, None, "key"),
        ),
        (
            Noted("a", 1, 9.0, OK),
            UnitState.RUNNING,
            1,
            UnitFix(UnitState.SUCCEEDED, 1, 11.0, 0, None, "key"),
        ),
        (Noted("a", 2, 9.0, None), UnitState.RETRYING, 1, UnitFix(UnitState.RUNNING, 2)),
        (Noted("a", 1, 9.0, None), UnitState.RUNNING, 1, UnitFix(UnitState.RUNNING, 1)),
        (
            Noted("a", 1, 9.0, RETRY),
            UnitState.RUNNING,
            1,
            UnitFix(UnitState.RETRYING, 1, None, 1, "exited with code 1"),
        ),
        # A failure's cache key is not kept (only successes are reused).
        (
            Noted("a", 3, 9.0, FAILED),
            UnitState.PENDING,
            2,
            UnitFix(UnitState.FAILED, 3, 11.0, 2, "exited with code 2"),
        ),
        # The store knows as much, or more.
        (Noted("a", 1, 9.0, OK), UnitState.SUCCEEDED, 1, None),
        (Noted("a", 1, 9.0, FAILED), UnitState.PENDING, 1, None),  # an earlier session's; resumed
        (Noted("a", 1, 9.0, None), UnitState.RUNNING, 2, None),
    ],
)
def test_unit_fix(noted: Noted, state: UnitState, attempts: int, expected: UnitFix | None) -> None:
    assert unit_fix(noted, state, attempts) == expected


def test_unit_fix_gives_a_keyless_success_its_key() -> None:
    """A success the store took from events.jsonl (no cache keys there) gets the attempt
    journal's key, else resume would run it again; nothing else changes."""
    key = UnitFix(UnitState.SUCCEEDED, 1, 11.0, 0, None, "key")
    assert unit_fix(Noted("a", 1, 9.0, OK), UnitState.SUCCEEDED, 1, keyed=False) == key
    assert unit_fix(Noted("a", 1, 9.0, OK), UnitState.SUCCEEDED, 1, keyed=True) is None
    assert unit_fix(Noted("a", 1, 9.0, FAILED), UnitState.FAILED, 1, keyed=False) is None
    assert unit_fix(Noted("a", 1, 9.0, None), UnitState.SUCCEEDED, 1, keyed=False) is None


SAMPLED = ResourceUsage(rss_peak_bytes=1024, samples=3)


@pytest.mark.parametrize(
    ("noted", "before", "state", "ended", "reason", "resources"),
    [
        (Noted("a", 1, 9.0, OK), None, UnitState.SUCCEEDED, 11.0, None, ResourceUsage()),
        (
            Noted("a", 1, 9.0, None),
            None,
            UnitState.CANCELLED,
            None,
            OUTCOME_UNKNOWN,
            ResourceUsage(),
        ),
        # A provisional sample row: replaced, its figures kept.
        (
            Noted("a", 1, 9.0, OK),
            Attempt("a", 1, UnitState.RUNNING, timestamp(9.0), None, resources=SAMPLED),
            UnitState.SUCCEEDED,
            11.0,
            None,
            SAMPLED,
        ),
    ],
)
def test_attempt_row(
    noted: Noted,
    before: Attempt | None,
    state: UnitState,
    ended: float | None,
    reason: str | None,
    resources: ResourceUsage,
) -> None:
    row = attempt_row(noted, before)
    assert row is not None
    assert (row.state, row.ended_at, row.reason, row.resources) == (
        state,
        timestamp(ended),
        reason,
        resources,
    )


def test_a_final_row_is_never_overwritten() -> None:
    final = Attempt("a", 1, UnitState.FAILED, timestamp(9.0), timestamp(10.0), exit_code=1)
    assert attempt_row(Noted("a", 1, 9.0, OK), final) is None
