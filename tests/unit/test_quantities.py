from __future__ import annotations

import pytest

from shipyard.spec.quantities import format_duration, format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (0, 0.0),
        (1.5, 1.5),
        ("30s", 30.0),
        ("10m", 600.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("2d", 172800.0),
        (" 45 ", 45.0),
        ("1.5s", 1.5),
    ],
)
def test_durations_parse(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10x", "m", "", "-5", "1h-2m", True, [1], "5 minutes"])
def test_bad_durations_say_how_to_write_one(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "count"),
    [(1024, 1024), ("4M", 4_000_000), ("1GiB", 2**30), ("512 KiB", 512 * 1024), ("2gb", 2 * 10**9)],
)
def test_sizes_parse(text: object, count: int) -> None:
    assert parse_size(text) == count


@pytest.mark.parametrize("text", ["4Q", "lots", True, "-1"])
def test_bad_sizes_are_rejected(text: object) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


def test_formatting_is_short_and_readable() -> None:
    assert format_duration(0.0123) == "12ms"
    assert format_duration(12.34) == "12.3s"
    assert format_duration(245) == "4m05s"
    assert format_duration(7800) == "2h10m"
    assert format_size(512) == "512B"
    assert format_size(3 * 2**20) == "3.0MiB"
