from __future__ import annotations

import pytest

from shipyard.engine.backoff import retry_delay


@pytest.mark.parametrize(
    ("retry", "expected"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 30.0)]
)
def test_exponential_and_capped(retry: int, expected: float) -> None:
    assert retry_delay(retry, base=1.0, cap=30.0, jitter=False) == expected


def test_jitter_stays_within_a_quarter_and_under_the_cap() -> None:
    assert retry_delay(2, base=1.0, cap=30.0, uniform=lambda lo, hi: lo) == 1.5
    assert retry_delay(2, base=1.0, cap=30.0, uniform=lambda lo, hi: hi) == 2.5
    assert retry_delay(9, base=1.0, cap=30.0, uniform=lambda lo, hi: hi) == 30.0


@pytest.mark.parametrize(
    ("retry", "base", "cap", "expected"),
    [(1025, 0.0, 0.0, 0.0), (5000, 1.0, 30.0, 30.0), (10**9, 0.001, 60.0, 60.0)],
)
def test_a_very_late_retry_is_capped_not_an_overflow(
    retry: int, base: float, cap: float, expected: float
) -> None:
    assert retry_delay(retry, base=base, cap=cap, jitter=False) == expected
