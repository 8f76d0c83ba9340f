"""The bounded LRU behind ``Auth``'s believed tokens and memberships: when an entry is still
believed (a table of ages, TTLs and generations), and which entry goes when it is full."""

from __future__ import annotations

import pytest

from shipyard.coordinator.auth import _Believed


@pytest.mark.parametrize(
    ("read", "now", "ttl", "stored", "current", "believed"),
    [
        (100.0, 100.0, 2.0, 0, 0, True),  # just read
        (100.0, 101.9, 2.0, 0, 0, True),  # within the TTL
        (100.0, 102.0, 2.0, 0, 0, False),  # the TTL reached: read again
        (100.0, 99.0, 2.0, 0, 0, False),  # the clock went back: read again
        (100.0, 100.5, 2.0, 3, 4, False),  # a write through this process since
        (100.0, 100.5, 2.0, 3, None, True),  # generations not asked (principals)
        (100.0, 100.0, 0.0, 0, 0, False),  # TTL 0: never believed
    ],
)
def test_an_entry_is_believed_within_its_ttl_and_generation(
    read: float, now: float, ttl: float, stored: int, current: int | None, believed: bool
) -> None:
    cache: _Believed[str, str] = _Believed()
    cache.put("token", "ada", read, stored)
    found = cache.get("token", now, ttl, current)
    assert (found == "ada") is believed, f"read {read}, now {now}, ttl {ttl}: {found!r}"


def test_the_least_recently_used_entry_goes_when_full() -> None:
    cache: _Believed[str, int] = _Believed(limit=2)
    cache.put("a", 1, 0.0)
    cache.put("b", 2, 0.0)
    assert cache.get("a", 0.0, 1.0, None) == 1  # a used: b is now the oldest
    cache.put("c", 3, 0.0)
    assert len(cache) == 2
    assert cache.get("b", 0.0, 1.0, None) is None, "the least recently used entry stayed"
    assert cache.get("a", 0.0, 1.0, None) == 1
    assert cache.get("c", 0.0, 1.0, None) == 3
