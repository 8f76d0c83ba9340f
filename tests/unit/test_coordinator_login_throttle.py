"""Failed logins slow down the next attempts for that name (issue 13 §2): the wait after each
failure, and the throttle's record of a name over time (a clock of our own)."""

from __future__ import annotations

import pytest

from shipyard.coordinator.throttle import LoginThrottle, TooManyAttempts, wait_after


@pytest.mark.parametrize(
    ("failures", "wait"),
    [(0, 0.0), (4, 0.0), (5, 1.0), (6, 2.0), (7, 4.0), (13, 256.0), (14, 300.0), (1000, 300.0)],
)
def test_the_wait_doubles_after_the_free_failures_up_to_five_minutes(
    failures: int, wait: float
) -> None:
    assert wait_after(failures) == wait


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_name_waits_after_five_failures_and_a_success_clears_it() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    for _ in range(5):
        throttle.check("ada")
        throttle.failed("ada")
    with pytest.raises(TooManyAttempts) as refused:
        throttle.check("ada")
    assert (refused.value.http_status, refused.value.retry_after) == (429, 1)
    assert "5 failed logins in a row" in refused.value.message
    throttle.check("bob")  # another name is not held back
    clock.now += 1.0
    throttle.check("ada")
    throttle.failed("ada")  # the sixth: 2 s now
    clock.now += 1.5
    with pytest.raises(TooManyAttempts) as again:
        throttle.check("ada")
    assert again.value.retry_after == 1
    clock.now += 0.5
    throttle.check("ada")
    throttle.succeeded("ada")
    for _ in range(4):
        throttle.failed("ada")
    throttle.check("ada")  # counted from zero again


def test_the_names_remembered_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.coordinator import throttle as module

    monkeypatch.setattr(module, "_LIMIT", 3)
    clock = Clock()
    throttle = LoginThrottle(clock)
    for name in ("a", "b", "c", "d"):
        for _ in range(5):
            throttle.failed(name)
    throttle.check("a")  # the oldest record was dropped
    with pytest.raises(TooManyAttempts):
        throttle.check("d")
