"""The metrics file's line parser and its bounds (``shipyard.engine.metrics``), pure."""

from __future__ import annotations

import json

import pytest

from shipyard.cli.progress import metrics_note
from shipyard.cli.render import figure
from shipyard.engine import metrics
from shipyard.engine.metrics import MAX_BYTES, MAX_METRICS, parse, parse_line, parse_name
from shipyard.models import Event, Metric

GOOD = [
    (b'{"name": "bw_mib", "value": 812.5, "unit": "MiB/s"}', ("bw_mib", 812.5, "MiB/s")),
    (b'{"name": "n", "value": 3}', ("n", 3.0, None)),
    (b'  {"name": "n", "value": -0.25, "unit": null}  \r', ("n", -0.25, None)),
    (b'{"name": "n", "value": 1e300, "unit": ""}', ("n", 1e300, None)),
    (b'{"name": "n", "value": 2, "extra": [1, 2]}', ("n", 2.0, None)),  # other keys: ignored
    ('{"name": "débit", "value": 1, "unit": "µs"}'.encode(), ("débit", 1.0, "µs")),
]


@pytest.mark.parametrize(("line", "expected"), GOOD)
def test_a_good_line_gives_its_figure(line: bytes, expected: tuple[str, float, str | None]) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize("line", [b"", b"   ", b"\r"])
def test_a_blank_line_is_nothing(line: bytes) -> None:
    assert parse_line(line) is None


BAD = [
    (b"bw_mib 812.5", "not a JSON object"),
    (b'{"name": "x", "value": 1', "not a JSON object"),
    (b"[1, 2]", "not a JSON object"),
    (b'"just text"', "not a JSON object"),
    (b"\xff\xfe{}", "not a JSON object"),  # not UTF-8
    (b"[" * 100_000 + b"]" * 100_000, "not a JSON object"),  # nesting without end
    (b'{"value": 1}', 'no "name"'),
    (b'{"name": "", "value": 1}', 'no "name"'),
    (b'{"name": "  ", "value": 1}', 'no "name"'),
    (b'{"name": 7, "value": 1}', 'no "name"'),
    (b'{"name": "a\\nb", "value": 1}', "printable"),  # a newline would break a table
    (b'{"name": "a\\u001b[31m", "value": 1}', "printable"),  # a terminal escape
    (json.dumps({"name": "n" * 201, "value": 1}).encode(), "at most 200"),
    (b'{"name": "x"}', "\"value\" of 'x' is not a finite number"),
    (b'{"name": "x", "value": "812.5"}', "not a finite number"),
    (b'{"name": "x", "value": true}', "not a finite number"),
    (b'{"name": "x", "value": null}', "not a finite number"),
    (b'{"name": "x", "value": NaN}', "not a finite number"),
    (b'{"name": "x", "value": Infinity}', "not a finite number"),
    (b'{"name": "x", "value": -Infinity}', "not a finite number"),
    (b'{"name": "x", "value": 1e999}', "not a finite number"),
    (b'{"name": "x", "value": 1' + b"0" * 400 + b"}", "not a finite number"),  # no float
    (b'{"name": "x", "value": 1' + b"0" * 5000 + b"}", "not a JSON object"),  # int too long
    (b'{"name": "x", "value": [1]}', "not a finite number"),
    (b'{"name": "x", "value": 1, "unit": 5}', "\"unit\" of 'x'"),
    (json.dumps({"name": "x", "value": 1, "unit": "u" * 41}).encode(), "at most 40"),
    (b'{"name": "x", "value": 1, "unit": "\\t"}', "printable"),
]


@pytest.mark.parametrize(("line", "why"), BAD)
def test_a_bad_line_says_why_and_never_raises(line: bytes, why: str) -> None:
    reason = parse_line(line)
    assert isinstance(reason, str)
    assert why in reason


def test_lines_are_read_in_order_and_bad_ones_counted_with_the_first_number() -> None:
    data = b"\n".join(
        [
            b'{"name": "a", "value": 1}',
            b"oops",
            b"",
            b'{"name": "b", "value": 2, "unit": "s"}',
            b'{"name": "c"}',
            b'{"name": "a", "value": 3}',
        ]
    )
    reading = parse(data + b"\n", "step", 2)
    assert reading.metrics == [
        Metric("step", 2, "a", 1.0),
        Metric("step", 2, "b", 2.0, "s"),
        Metric("step", 2, "a", 3.0),
    ]
    assert reading.bad_lines == 2
    assert reading.first_bad == (2, "not a JSON object")
    assert reading.cut is None


def test_a_file_cut_at_the_byte_limit_drops_its_partial_last_line_and_says_so() -> None:
    data = b'{"name": "a", "value": 1}\n{"name": "b", "val'
    reading = parse(data, "s", 1, complete=False)
    assert reading.metrics == [Metric("s", 1, "a", 1.0)]
    assert reading.bad_lines == 0  # the cut line is not the step's fault
    assert reading.cut is not None and f"{MAX_BYTES // 1024} KiB" in reading.cut


def test_no_more_than_max_metrics_figures_are_kept() -> None:
    data = b"".join(b'{"name": "n", "value": %d}\n' % i for i in range(MAX_METRICS + 5))
    reading = parse(data, "s", 1)
    assert len(reading.metrics) == MAX_METRICS
    assert reading.metrics[-1].value == MAX_METRICS - 1
    assert reading.cut == f"only the first {MAX_METRICS} figures are kept"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("train.3.jsonl", ("train", 3)),
        ("a.b.12.jsonl", ("a.b", 12)),  # a step's name may hold a '.'
        (metrics.file_name("fio-read_1", 7), ("fio-read_1", 7)),
        ("train.jsonl", None),
        ("train.x.jsonl", None),
        ("train.3.json", None),
        (".3.jsonl", None),
        ("train.-1.jsonl", None),
        ("notes.txt", None),
    ],
)
def test_a_metrics_file_name_gives_its_step_and_attempt(
    name: str, expected: tuple[str, int] | None
) -> None:
    assert parse_name(name) == expected


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (812.5, "812.5"),
        (3.0, "3"),
        (-2.0, "-2"),
        (812.4871826171875, "812.487"),
        (1e15, "1e+15"),
        (123456789.0, "123456789"),
        (0.000123456789, "0.000123457"),
    ],
)
def test_a_figure_is_shown_whole_or_to_six_digits(value: float, shown: str) -> None:
    assert figure(value) == shown


@pytest.mark.parametrize(
    ("action", "data", "expected"),
    [
        (
            "metrics_skipped",
            {"attempt": 2, "line": 4, "reason": "not a JSON object", "lines": 1, "path": "/m"},
            "! s (attempt 2): metrics line 4 passed over: not a JSON object — /m",
        ),
        (
            "metrics_skipped",
            {"attempt": 1, "line": 1, "reason": "r", "lines": 3, "path": "/m"},
            "! s (attempt 1): metrics line 1 passed over: r (3 such lines) — /m",
        ),
        (
            "metrics_cut",
            {"attempt": 1, "reason": "only the first 1000 figures are kept", "kept": 1000},
            "! s (attempt 1): metrics file not read to its end: only the first 1000 figures "
            "are kept",
        ),
    ],
)
def test_what_was_passed_over_is_one_line(
    action: str, data: dict[str, object], expected: str
) -> None:
    assert metrics_note(Event(1.0, "exec_x", action, "s", data)) == expected
