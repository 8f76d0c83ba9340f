"""The coordinator's decisions about node managers (issue 14 §2): matching, the choice of the
next suite, assignment refusals, refresh, the offline rule and the sweep's pace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shipyard.coordinator.managerdecisions import (
    ManagerFacts,
    SuiteFacts,
    assignment_refusal,
    chosen,
    heartbeat_every,
    is_offline,
    next_state_after_heartbeat,
    refreshed,
    refusal,
    serves,
    sweep_every,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GPU = ManagerFacts("m-gpu", 1, frozenset({"gpu", "a100", "linux"}))
CPU = ManagerFacts("m-cpu", 1, frozenset({"linux"}))
OTHER = ManagerFacts("m-other", 2, frozenset({"gpu", "a100", "linux"}))


def _suite(id: int = 1, **fields: object) -> SuiteFacts:
    base: dict[str, object] = {
        "id": id, "group_id": 1, "tags": frozenset({"gpu"}), "state": "open", "priority": 0,
        "created_at": T0 + timedelta(seconds=id), "pending": 5,
    }  # fmt: skip
    return SuiteFacts(**(base | fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("manager", "suite", "expected"),
    [
        (GPU, _suite(), True),  # tags ⊇ the suite's
        (CPU, _suite(), False),  # lacks gpu
        (CPU, _suite(tags=frozenset()), True),  # a suite without tags: any manager
        (OTHER, _suite(), False),  # another group
        (CPU, _suite(assigned=frozenset({"m-cpu"})), True),  # named: tags overridden
        (GPU, _suite(assigned=frozenset({"m-cpu"})), False),  # others named: not this one
        (GPU, _suite(given_up=frozenset({"m-gpu"})), False),  # it gave the suite up
        (OTHER, _suite(assigned=frozenset({"m-other"})), False),  # named, but of another group
    ],
)
def test_serves(manager: ManagerFacts, suite: SuiteFacts, expected: bool) -> None:
    assert serves(manager, suite) is expected


def test_refusal_says_why() -> None:
    assert refusal(GPU, _suite()) is None
    assert "gpu" in (refusal(CPU, _suite()) or "")
    assert "group" in (refusal(OTHER, _suite()) or "")
    assert "gave" in (refusal(GPU, _suite(given_up=frozenset({"m-gpu"}))) or "")


@pytest.mark.parametrize(
    ("suites", "expected"),
    [
        ([_suite(1), _suite(2)], 1),  # same priority: the oldest
        ([_suite(1), _suite(2, priority=5)], 2),  # higher priority first
        ([_suite(1, pending=0), _suite(2)], 2),  # nothing queued: skipped
        ([_suite(1, state="complete"), _suite(2, state="closed")], 2),  # closed still serves
        ([_suite(1, state="cancelled")], None),
        ([_suite(1, tags=frozenset({"tpu"}))], None),  # tag mismatch: none
        ([_suite(1, priority=9, given_up=frozenset({"m-gpu"})), _suite(2)], 2),
        ([_suite(1, priority=9, assigned=frozenset({"m-cpu"})), _suite(2)], 2),
        ([], None),
    ],
)
def test_chosen(suites: list[SuiteFacts], expected: int | None) -> None:
    picked = chosen(GPU, suites)
    assert (picked.id if picked else None) == expected


@pytest.mark.parametrize(
    ("manager", "expected"),
    [(GPU, None), (CPU, None), (OTHER, "another group"), (None, "no manager")],
)
def test_assignment_refusal(manager: ManagerFacts | None, expected: str | None) -> None:
    found = assignment_refusal(manager, _suite())
    assert (found is None) if expected is None else (expected in (found or ""))


def test_refreshed_adds_matching_drops_stale_and_leaves_named_ones() -> None:
    suite = _suite(assigned=frozenset({"m-cpu"}))
    change = refreshed(suite, [GPU, CPU, OTHER], tag_matched=["m-gone", "m-gpu"])
    assert change.added == []  # m-gpu is already listed; m-cpu is the user's
    assert change.removed == ["m-gone"]
    change = refreshed(_suite(), [GPU, CPU, OTHER], tag_matched=[])
    assert change.added == ["m-gpu"] and change.removed == []
    given_up = refreshed(_suite(given_up=frozenset({"m-gpu"})), [GPU], tag_matched=["m-gpu"])
    assert given_up.added == [] and given_up.removed == ["m-gpu"]


@pytest.mark.parametrize(
    ("silent", "after", "expected"),
    [(0.0, 120.0, False), (119.9, 120.0, False), (120.0, 120.0, True), (3.0, 2.0, True)],
)
def test_is_offline(silent: float, after: float, expected: bool) -> None:
    assert is_offline(silent, after) is expected


@pytest.mark.parametrize(
    ("after", "setting", "expected"),
    [(120.0, None, 10.0), (8.0, None, 2.0), (0.1, None, 0.05), (120.0, 1.5, 1.5)],
)
def test_sweep_every(after: float, setting: float | None, expected: float) -> None:
    assert sweep_every(after, setting) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("current", "told", "expected"),
    [("idle", "executing", "executing"), ("offline", "idle", "idle"), ("gone", "idle", "gone")],
)
def test_next_state_after_heartbeat(current: str, told: str, expected: str) -> None:
    assert next_state_after_heartbeat(current, told) == expected


@pytest.mark.parametrize(
    ("after", "expected"), [(120.0, 30.0), (600.0, 30.0), (8.0, 2.0), (1.0, 0.25)]
)
def test_heartbeat_every(after: float, expected: float) -> None:
    assert heartbeat_every(after) == pytest.approx(expected)
