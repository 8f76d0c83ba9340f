"""The worker's decisions when something dies (coordinator/resilience.py) and the task keys
that make a submit safe to send again (coordinator/decisions.py), as tables."""

from __future__ import annotations

import pytest

from shipyard.coordinator.decisions import TaskSpec, key_problem, repeated_keys, spec_problem
from shipyard.coordinator.resilience import (
    Verdict,
    backoff_delay,
    call_verdict,
    heartbeat_every,
    lease_lost,
)


@pytest.mark.parametrize(
    ("status", "report", "reached", "verdict"),
    [
        (0, False, True, Verdict.RETRY),  # the coordinator restarts: wait and go on
        (0, True, True, Verdict.RETRY),  # a report is not lost to an outage
        (503, False, True, Verdict.RETRY),  # its database is away
        (503, True, True, Verdict.RETRY),
        (502, False, True, Verdict.RETRY),
        (504, True, True, Verdict.RETRY),
        (429, False, True, Verdict.RETRY),
        (0, False, False, Verdict.FAIL),  # never answered: a wrong --server, said at once
        (503, False, False, Verdict.FAIL),
        (409, True, True, Verdict.DROP),  # fenced off: the lease went to another attempt
        (404, True, True, Verdict.DROP),  # the task is gone
        (409, False, True, Verdict.FAIL),  # a fetch refused: the worker is not active
        (401, False, True, Verdict.FAIL),  # the token was revoked
        (401, True, True, Verdict.FAIL),
        (403, True, True, Verdict.FAIL),
        (400, True, True, Verdict.FAIL),
        (500, False, True, Verdict.FAIL),  # a bug of the coordinator's is not waited out
    ],
)
def test_call_verdict(status: int, report: bool, reached: bool, verdict: Verdict) -> None:
    assert call_verdict(status, report=report, reached=reached) is verdict


@pytest.mark.parametrize(
    ("failures", "draw", "base", "cap", "expected"),
    [
        (1, 0.0, 0.2, 15.0, 0.1),  # the lower half's floor: half the step
        (1, 0.999999, 0.2, 15.0, 0.2),  # almost the whole step
        (2, 0.0, 0.2, 15.0, 0.2),  # doubled
        (3, 1.0, 0.2, 15.0, 0.8),
        (5, 1.0, 0.2, 15.0, 3.2),
        (7, 1.0, 0.2, 15.0, 12.8),
        (8, 1.0, 0.2, 15.0, 15.0),  # capped
        (10_000, 1.0, 0.2, 15.0, 15.0),  # no overflow however long the outage
        (10_000, 0.0, 0.2, 15.0, 7.5),  # the jitter stays within the cap's upper half
        (0, 1.0, 0.2, 15.0, 0.2),  # nonsense counts read as the first failure
        (3, 2.0, 0.2, 15.0, 0.8),  # a draw outside [0, 1] is clamped
        (3, -1.0, 0.2, 15.0, 0.4),
        (4, 0.5, 0.1, 0.5, 0.375),  # a small cap (the tests' --backoff-cap)
    ],
)
def test_backoff_delay(
    failures: int, draw: float, base: float, cap: float, expected: float
) -> None:
    assert backoff_delay(failures, draw, base=base, cap=cap) == pytest.approx(expected, rel=1e-5)


def test_backoff_grows_and_never_passes_the_cap() -> None:
    floors = [backoff_delay(n, 0.0, base=0.2, cap=15.0) for n in range(1, 20)]
    assert floors == sorted(floors)
    assert max(backoff_delay(n, 0.99, base=0.2, cap=15.0) for n in range(1, 50)) <= 15.0


@pytest.mark.parametrize(
    ("lease", "every"),
    [(30.0, 10.0), (3.0, 1.0), (1.0, 1 / 3), (0.1, 0.1), (0.01, 0.1)],
)
def test_heartbeat_every(lease: float, every: float) -> None:
    assert heartbeat_every(lease) == pytest.approx(every)


@pytest.mark.parametrize(
    ("running", "asked_for", "held", "lost"),
    [
        ("a", "a", ["a"], False),  # still ours
        ("a", "a", [], True),  # recovered and given to another attempt: stop it
        ("a", "a", ["b"], True),
        (None, None, [], False),  # nothing runs
        ("a", None, [], False),  # the heartbeat was sent before "a" was claimed
        ("b", "a", ["a"], False),  # "a" ended and "b" began meanwhile: not b's answer
        ("b", "a", [], False),
    ],
)
def test_lease_lost(
    running: str | None, asked_for: str | None, held: list[str], lost: bool
) -> None:
    assert lease_lost(running, asked_for, held) is lost


# --- task keys: a submit sent again queues nothing twice --------------------------------------


def _keyed(group: int, key: str | None) -> TaskSpec:
    return TaskSpec(command=["true"], group_id=group, creator_id=1, key=key)


@pytest.mark.parametrize(
    ("keys", "repeated"),
    [
        ([], {}),
        ([(1, "a"), (1, "b")], {}),
        ([(1, "a"), (1, "a")], {1: 0}),
        ([(1, "a"), (2, "a")], {}),  # a key is unique within its group only
        ([(1, None), (1, None)], {}),  # no key, no clash
        ([(1, "a"), (1, "b"), (1, "a"), (1, "a")], {2: 0, 3: 0}),
    ],
)
def test_repeated_keys(keys: list[tuple[int, str | None]], repeated: dict[int, int]) -> None:
    assert repeated_keys([_keyed(group, key) for group, key in keys]) == repeated


@pytest.mark.parametrize(
    ("key", "fine"),
    [(None, True), ("task-1", True), ("x" * 200, True), ("", False), ("x" * 201, False),
     ("a\x00b", False), (3, False)],
)  # fmt: skip
def test_key_problem(key: object, fine: bool) -> None:
    assert (key_problem(key) is None) is fine
    if not fine:
        assert spec_problem(_keyed(1, key)) is not None  # type: ignore[arg-type]
