"""What a log line says about itself (shipyard.loglines), and how lines are placed in time and
merged (shipyard.operations.logmerge): pure decisions, tables of cases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from shipyard.api import LogLine
from shipyard.errors import ShipyardError
from shipyard.loglines import level_of, parse_level, parse_since, time_of
from shipyard.operations.logmerge import Filters, UnitClock, merge, refine


@pytest.mark.parametrize(
    ("text", "level"),
    [
        # Python logging: default format, and asctime - name - levelname
        ("WARNING:root:disk is slow", "warning"),
        ("ERROR:app.db:connection lost", "error"),
        ("2026-12-02 03:33:45,123 - app - INFO - started", "info"),
        ("2026-12-02 03:33:45,123 CRITICAL out of memory", "critical"),
        ("DEBUG:urllib3:Starting new HTTP connection", "debug"),
        # bracketed, any case
        ("[warn] cache cold", "warning"),
        ("[ERROR] no such file", "error"),
        ("2026/12/02 03:33:45 [notice] 1#1: start worker", "info"),
        ("<info> ready", "info"),
        # logfmt
        ('time="2026-12-02T03:33:45Z" level=warning msg="slow"', "warning"),
        ("lvl=eror msg=typo", None),  # not a level word: nothing else in the line says one
        ("level=fatal msg=gone", "critical"),
        ('severity="ERROR" msg=x', "error"),
        # JSON lines: words and pino's numbers
        ('{"level": "warning", "msg": "x"}', "warning"),
        ('{"msg": "x", "levelname": "ERROR"}', "error"),
        ('{"severity": "DEBUG"}', "debug"),
        ('{"level": 30, "msg": "x"}', "info"),
        ('{"level": 40}', "warning"),
        ('{"level": 60}', "critical"),
        ('{"level": 99}', None),
        ('{"msg": "an error happened"}', None),
        # glog
        ("W1202 03:33:45.123456  4242 main.cc:12] queue is long", "warning"),
        ("E1202 03:33:45.123456  4242 main.cc:12] failed", "error"),
        ("F1202 03:33:45.123456  4242 main.cc:12] check failed", "critical"),
        ("I1202 03:33:45.123456  4242 main.cc:12] hello", "info"),
        # a level word starting the line before a colon
        ("error: file not found", "error"),
        ("Warning: deprecated option", "warning"),
        ("fatal: not a git repository", "critical"),
        # capitals elsewhere near the start (Rust's env_logger, zap's console)
        ("[2026-12-02T03:33:45Z WARN  mycrate] careful", "warning"),
        ("2026-12-02T03:33:45.000Z\tERROR\tserver/main.go:12\tboom", "error"),
        # Python's exceptions and warnings
        ("Traceback (most recent call last):", "error"),
        ("ValueError: invalid literal", "error"),
        ("requests.exceptions.HTTPError: 500", "error"),
        ("/srv/x.py:3: DeprecationWarning: use y", "warning"),
        # the leftmost level word wins
        ("INFO retrying after ERROR", "info"),
        # no level
        ("plain output", None),
        ("an error in lowercase prose is not a level", None),
        ("WARNINGS_SEEN=3", None),
        ("noWARNING inside a word", None),
        ("GET /index HTTP/1.1 ERROR 500", "error"),
        ("", None),
        (" " * 200 + "ERROR far from the start", None),
    ],
)
def test_level_of(text: str, level: str | None) -> None:
    assert level_of(text) == level


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("warning", "warning"),
        ("WARN", "warning"),
        (" error ", "error"),
        ("fatal", "critical"),
        ("debug", "debug"),
        ("info", "info"),
        ("critical", "critical"),
    ],
)
def test_parse_level(value: str, level: str) -> None:
    assert parse_level(value) == level


@pytest.mark.parametrize("value", ["loud", "", "warning; rm -rf /", "5"])
def test_parse_level_refuses_what_is_no_level(value: str) -> None:
    with pytest.raises(ShipyardError) as caught:
        parse_level(value)
    assert "is not a log level" in str(caught.value)
    assert "debug, info, warning, error, critical" in (caught.value.hint or "")


def _utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


def _local(*parts: int) -> float:
    return datetime(*parts).timestamp()  # type: ignore[misc]


REFERENCE = _utc(2026, 12, 2, 3, 0, 0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2026-12-02T03:33:45Z start", _utc(2026, 12, 2, 3, 33, 45)),
        ("2026-12-02T03:33:45.250Z x", _utc(2026, 12, 2, 3, 33, 45) + 0.25),
        ("2026-12-02T03:33:45+01:00 x", _utc(2026, 12, 2, 2, 33, 45)),
        ("2026-12-02T03:33:45-0130 x", _utc(2026, 12, 2, 5, 3, 45)),
        ("2026-12-02 03:33:45 UTC x", _utc(2026, 12, 2, 3, 33, 45)),
        ("2026-12-02T03:33:45.123456789Z ns", _utc(2026, 12, 2, 3, 33, 45) + 0.123456789),
        # Python logging's asctime: local time, comma before the milliseconds
        ("2026-12-02 03:33:45,500 - app - INFO - x", _local(2026, 12, 2, 3, 33, 45) + 0.5),
        ("2026/12/02 03:33:45 [notice] x", _local(2026, 12, 2, 3, 33, 45)),
        ("[2026-12-02T03:33:45Z WARN  c] x", _utc(2026, 12, 2, 3, 33, 45)),
        (
            '10.0.0.1 - - [02/Dec/2026:03:33:45 +0000] "GET / HTTP/1.1"',
            _utc(2026, 12, 2, 3, 33, 45),
        ),
        # no year: the one nearest the reference
        ("Dec  2 03:33:45 host app[1]: x", _local(2026, 12, 2, 3, 33, 45)),
        ("Jan  1 00:00:01 host x", _local(2027, 1, 1, 0, 0, 1)),  # the new year, not the past
        ("Jun 30 12:00:00 host x", _local(2026, 6, 30, 12, 0, 0)),
        ("W1202 03:33:45.500000  42 m.cc:1] x", _local(2026, 12, 2, 3, 33, 45) + 0.5),
        # JSON lines: epoch in s, ms, µs, ns, or an ISO string
        ('{"ts": 1796182425.5, "msg": "x"}', 1796182425.5),
        ('{"time": 1796182425123}', 1796182425.123),
        ('{"timestamp": 1796182425123456}', 1796182425.123456),
        ('{"ts": 1796182425123456789}', 1796182425.123456789),
        ('{"@timestamp": "2026-12-02T03:33:45Z"}', _utc(2026, 12, 2, 3, 33, 45)),
        ('{"msg": "x", "time": "2026-12-02T03:33:45Z"}', _utc(2026, 12, 2, 3, 33, 45)),
        # none
        ("plain output", None),
        ("2026-13-45T03:33:45Z is no date", None),
        ('{"ts": 12345}', None),
        (" " * 100 + "2026-12-02T03:33:45Z far from the start", None),
        ("step 12:30:00 without a date", None),
        # times no datetime can hold, or before 1970: none (never an exception)
        ("0001-01-01T00:00:00+23:59 year one minus a day", None),
        ("0001-01-01T00:00:00 local year one", None),
        ("9999-12-31T23:59:59-23:59 past year 9999", None),
        ("1969-12-31T23:59:59Z before the epoch", None),
        ('{"ts": "0001-01-01T00:00:00+23:59"}', None),
    ],
)
def test_time_of(text: str, seconds: float | None) -> None:
    found = time_of(text, reference=REFERENCE)
    if seconds is None:
        assert found is None
    else:
        assert found == pytest.approx(seconds, abs=1e-6)


NOW = _utc(2026, 12, 2, 4, 0, 0)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("10m", NOW - 600),
        ("1h30m", NOW - 5400),
        ("90", NOW - 90),
        ("2d", NOW - 2 * 86400),
        ("2026-12-02T03:00:00Z", _utc(2026, 12, 2, 3, 0, 0)),
        ("2026-12-02T03:00:00+02:00", _utc(2026, 12, 2, 1, 0, 0)),
        ("2026-12-02 03:00", _local(2026, 12, 2, 3, 0, 0)),
        ("2026-12-02", _local(2026, 12, 2, 0, 0, 0)),
    ],
)
def test_parse_since(value: str, seconds: float) -> None:
    assert parse_since(value, now=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    ["", "-5m", "yesterday", "10 minutes", "400d", "nan", "2026-13-01", "0001-01-01", "\x00"],
)
def test_parse_since_refuses_what_is_neither_a_duration_nor_a_time(value: str) -> None:
    with pytest.raises(ShipyardError) as caught:
        parse_since(value, now=NOW)
    assert "is neither a duration nor an ISO 8601 time" in str(caught.value)
    assert "10m" in (caught.value.hint or "")


# -- placing lines in time -------------------------------------------------------------------

T0 = _utc(2026, 12, 2, 3, 0, 0)


def _stamp(offset: float) -> str:
    return datetime.fromtimestamp(T0 + offset, UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("end", "texts", "placed"),
    [
        # a stated time is taken; a plain line takes the previous one's
        (None, [f"{_stamp(5)} a", "plain", f"{_stamp(9)} b"], [(5, True), (5, False), (9, True)]),
        # before any stated time: the unit's start
        (None, ["plain", f"{_stamp(3)} a"], [(0, False), (3, True)]),
        # a time going back does not reorder the unit's lines: held at the previous one
        (None, [f"{_stamp(8)} a", f"{_stamp(4)} b"], [(8, True), (8, False)]),
        # a time before the unit's start (a zone misread) is held at the start
        (None, [f"{_stamp(-3600)} early"], [(0, False)]),
        # after its end: held at the end
        (20.0, [f"{_stamp(5)} a", f"{_stamp(3600)} late"], [(5, True), (20, False)]),
    ],
)
def test_a_unit_clock_places_lines_in_its_run_and_in_order(
    end: float | None, texts: list[str], placed: list[tuple[float, bool]]
) -> None:
    clock = UnitClock(T0, None if end is None else T0 + end)
    found = [clock.place(text) for text in texts]
    assert [(round(at - T0, 6), stated) for at, stated in found] == placed


@pytest.mark.parametrize(
    ("texts", "levels"),
    [
        (["ERROR boom", "  File x", "  raise"], ["error", "error", "error"]),
        (
            ["plain", "WARNING w", "more", "INFO fine", "after"],
            [None, "warning", "warning", "info", "info"],
        ),
    ],
)
def test_a_unit_clock_carries_a_level_to_the_lines_that_state_none(
    texts: list[str], levels: list[str | None]
) -> None:
    clock = UnitClock(T0, None)
    assert [clock.classify(text) for text in texts] == levels


def _lines(unit: str, texts: list[str]) -> list[LogLine]:
    return [LogLine(unit, number, text) for number, text in enumerate(texts, start=1)]


@pytest.mark.parametrize(
    ("filters", "kept"),
    [
        (Filters(), ["plain", "WARNING w", "  cont", "INFO i", "ERROR e"]),
        # warning and above: the continuation of a warning is kept, a line before any level not
        (Filters(minimum=2), ["WARNING w", "  cont", "ERROR e"]),
        (Filters(minimum=3), ["ERROR e"]),
        # since: placed times, plain lines at their previous line's
        (Filters(since=T0 + 4), ["WARNING w", "  cont", "INFO i", "ERROR e"]),
        # grep is asked of the kept lines, after the level was carried over
        (Filters(minimum=2, pattern=__import__("re").compile("cont")), ["  cont"]),
    ],
)
def test_refine_filters_placed_lines(filters: Filters, kept: list[str]) -> None:
    texts = ["plain", f"{_stamp(4)} WARNING w", "  cont", f"{_stamp(6)} INFO i", "ERROR e"]
    clocks = {"u": UnitClock(T0, None)}
    out = [line for _, line in refine(_lines("u", texts), clocks, filters)]
    assert [line.text.split(" ", 1)[-1] if line.text[0] == "2" else line.text for line in out] == (
        kept
    )
    assert all(line.time is not None and line.time_source is not None for line in out)


def _placed(unit: str, times: list[float]) -> Iterator[tuple[float, LogLine]]:
    for number, at in enumerate(times, start=1):
        yield at, LogLine(unit, number, f"{unit}{number}")


@pytest.mark.parametrize(
    ("streams", "order"),
    [
        # interleaved by time
        ({"a": (0, [1, 3, 5]), "b": (0, [2, 4])}, ["a1", "b1", "a2", "b2", "a3"]),
        # ties: the units' order, each unit's own lines in order
        ({"a": (0, [1, 1]), "b": (0, [1, 1])}, ["a1", "a2", "b1", "b2"]),
        ({"b": (0, [1]), "a": (0, [1])}, ["b1", "a1"]),
        # a unit starting later joins when the merge reaches its start
        ({"late": (10, [10, 12]), "early": (0, [0, 11])}, ["early1", "late1", "early2", "late2"]),
        # an empty log, and no unit at all
        ({"a": (0, []), "b": (1, [1])}, ["b1"]),
        ({}, []),
    ],
)
def test_merge(streams: dict[str, tuple[float, list[float]]], order: list[str]) -> None:
    given = [(start, _placed(unit, times)) for unit, (start, times) in streams.items()]
    assert [line.text for line in merge(given)] == order


def test_merge_reads_a_unit_only_when_it_reaches_its_start() -> None:
    """Bounded open files: a unit starting after every line of the others is not read until
    they are out."""
    read: list[str] = []

    def lines(unit: str, times: list[float]) -> Iterator[tuple[float, LogLine]]:
        read.append(unit)
        yield from _placed(unit, times)

    merged = merge([(0, lines("first", [0, 1])), (5, lines("second", [5]))])
    assert next(merged).text == "first1"
    assert read == ["first"]
    assert [line.text for line in merged] == ["first2", "second1"]
    assert read == ["first", "second"]


@pytest.mark.parametrize(
    ("times", "levels", "filled"),
    [(True, True, (True, True)), (True, False, (True, False)), (False, True, (False, True))],
)
def test_refine_fills_only_what_is_asked(
    times: bool, levels: bool, filled: tuple[bool, bool]
) -> None:
    """Placing and classifying cost a few µs a line each: text output of --all needs no
    level, --level without --all or --since no time."""
    lines = _lines("u", [f"{_stamp(4)} WARNING w"])
    [(_, line)] = refine(lines, {"u": UnitClock(T0, None)}, Filters(times=times, levels=levels))
    assert (line.time is not None, line.level is not None) == filled
    assert (line.time_source is not None) == filled[0]


def test_a_long_since_is_cut_in_the_message() -> None:
    with pytest.raises(ShipyardError) as caught:
        parse_since("x" * 100_000, now=NOW)
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize(
    ("texts", "placed", "levels"),
    [
        # a retry's lines are placed from its attempt's start, without the last one's level
        (
            ["ERROR first try", "  more", "==> shipyard: attempt 2 of 3", "plain", "INFO ok"],
            [0, 0, 10, 10, 10],
            ["error", "error", None, None, "info"],
        ),
        # an attempt whose start is not on record, or a marker a program printed: no move
        (["x", "==> shipyard: attempt 7 of 9", "y"], [0, 0, 0], [None, None, None]),
        (["x", "==> shipyard: attempt two", "y"], [0, 0, 0], [None, None, None]),
        # a stated time after the attempt's start is taken as it is
        ([f"{_stamp(12)} a", "==> shipyard: attempt 2 of 3", "b"], [12, 12, 12], [None] * 3),
    ],
)
def test_a_retry_marker_starts_the_attempts_lines_at_its_start(
    texts: list[str], placed: list[float], levels: list[str | None]
) -> None:
    clock = UnitClock(T0, None, {2: T0 + 10})
    found = [(clock.place(text)[0] - T0, clock.classify(text)) for text in texts]
    assert [round(at, 6) for at, _ in found] == placed
    assert [level for _, level in found] == levels
