"""Logs placed in time, merged and filtered, read from real runs: real steps write interleaved
timestamped and plain lines, real SQLite records their runs, the operations read the files."""

from __future__ import annotations

import itertools
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from shipyard.api import LogLine, Operations
from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState
from tests.conftest import SpecWriter

#: Two steps taking turns through token files, so the true order of their lines is known without
#: reading a clock in the test: a0, b0, a1, b1, ... Each turn writes a line stamped with the time
#: (ISO 8601, UTC) and a plain line after it, and flushes before handing the turn over.
PING_PONG = """\
import datetime, os, sys, time
me, turns, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def wait_for(name):
    deadline = time.monotonic() + 20
    while not os.path.exists(os.path.join(folder, name)):
        if time.monotonic() > deadline:
            sys.exit(f"{me}: {name} never came")
        time.sleep(0.005)

for turn in range(turns):
    if me == "b":
        wait_for(f"a{turn}")
    elif turn:
        wait_for(f"b{turn - 1}")
    now = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
    print(f"{now} INFO {me} turn {turn}")
    print(f"plain {me} {turn}", flush=True)
    open(os.path.join(folder, f"{me}{turn}"), "w").close()
"""

LEVELLED = """\
import logging, sys
logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.DEBUG)
print("no level yet", flush=True)
logging.debug("details")
logging.info("started")
print("plain before any warning", flush=True)
logging.warning("disk is slow")
print("  continued warning", flush=True)
logging.info("still going")
print("Traceback (most recent call last):", flush=True)
print('  File "x.py", line 1', flush=True)
print("ValueError: bad", flush=True)
"""


def _run(ops: Operations, write_spec: SpecWriter, tmp_path: Path, turns: int = 4) -> str:
    (tmp_path / "pingpong.py").write_text(PING_PONG)
    (tmp_path / "tokens").mkdir()
    script, tokens = tmp_path / "pingpong.py", tmp_path / "tokens"
    spec = write_spec(
        f"""
        name: merged
        steps:
          a: {{run: [{sys.executable}, {script}, a, "{turns}", {tokens}]}}
          b: {{run: [{sys.executable}, {script}, b, "{turns}", {tokens}]}}
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED, status.reason
    return status.id


def _shown(lines: list[LogLine]) -> list[str]:
    return [f"{line.unit}: {line.text.split('Z ', 1)[-1]}" for line in lines]


def test_all_merges_the_units_by_the_times_in_their_lines(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    execution_id = _run(ops, write_spec, tmp_path)
    merged = list(ops.logs(execution_id, merge=True))
    expected = []
    for turn in range(4):
        for unit in ("a", "b"):
            expected += [f"{unit}: INFO {unit} turn {turn}", f"{unit}: plain {unit} {turn}"]
    assert _shown(merged) == expected
    # a stamped line's time is its own; a plain line takes its unit's previous line's
    assert [line.time_source for line in merged[:2]] == ["line", "inferred"]
    assert merged[1].time == merged[0].time
    assert all(
        earlier.time is not None and later.time is not None and earlier.time <= later.time
        for earlier, later in itertools.pairwise(merged)
    )
    # each unit's lines keep their numbers (their places in the unit's own log)
    assert [line.number for line in merged if line.unit == "b"] == list(range(1, 9))
    # without merge: each unit in turn, as before, numbered the same
    separate = list(ops.logs(execution_id, annotate=True))
    assert [line.unit for line in separate] == ["a"] * 8 + ["b"] * 8
    assert {(line.unit, line.number, line.time) for line in separate} == {
        (line.unit, line.number, line.time) for line in merged
    }


def test_since_keeps_the_lines_placed_from_then_on(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    execution_id = _run(ops, write_spec, tmp_path)
    merged = list(ops.logs(execution_id, merge=True))
    cut = merged[6].time  # b's turn 1 (a1 and its plain line are before it)
    assert cut is not None
    since = list(ops.logs(execution_id, merge=True, since=cut.isoformat()))
    assert _shown(since) == _shown(merged[6:])
    later = (cut + timedelta(microseconds=1)).isoformat()
    assert _shown(ops.logs(execution_id, merge=True, since=later))[0] == "a: INFO a turn 2"
    assert list(ops.logs(execution_id, since="1h")) != []
    future = (cut + timedelta(days=1)).isoformat()
    assert list(ops.logs(execution_id, merge=True, since=future)) == []


def test_level_keeps_that_level_and_above_with_their_continuations(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    (tmp_path / "levelled.py").write_text(LEVELLED)
    spec = write_spec(f"name: levels\nsteps:\n  s: {{run: [{sys.executable}, levelled.py]}}\n")
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED, status.reason

    def texts(**options: object) -> list[str]:
        lines = ops.logs(status.id, "s", **options)  # type: ignore[arg-type]
        return [
            line.text.split(",", 1)[-1][4:] if line.text[:2] == "20" else line.text
            for line in lines
        ]

    assert texts(level="warning") == [
        "WARNING disk is slow",
        "  continued warning",
        "Traceback (most recent call last):",
        '  File "x.py", line 1',
        "ValueError: bad",
    ]
    assert texts(level="error") == texts(level="warning")[2:]
    assert len(texts(level="debug")) == 9  # of 10: the plain line before any level is dropped
    assert texts(level="warning", grep="continued") == ["  continued warning"]
    assert texts(level="warning", tail=2) == ['  File "x.py", line 1', "ValueError: bad"]
    levels = [line.level for line in ops.logs(status.id, annotate=True)]
    assert levels == [
        None,
        "debug",
        "info",
        "info",
        "warning",
        "warning",
        "info",
        "error",
        "error",
        "error",
    ]


def test_a_unit_without_times_sits_at_its_start(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """A plain log cannot be spread over its run: its lines are placed at the unit's start,
    in their order, after what a unit that started earlier stamped before it."""
    (tmp_path / "tokens").mkdir()
    (tmp_path / "pingpong.py").write_text(PING_PONG)
    spec = write_spec(
        f"""
        name: plain
        steps:
          first: {{run: [{sys.executable}, pingpong.py, a, "1", tokens]}}
          second:
            needs: [first]
            run: [sh, -c, "echo one; echo two"]
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED, status.reason
    merged = list(ops.logs(status.id, merge=True))
    assert [(line.unit, line.text.split("Z ", 1)[-1]) for line in merged] == [
        ("first", "INFO a turn 0"),
        ("first", "plain a 0"),
        ("second", "one"),
        ("second", "two"),
    ]
    second = ops.status(status.id).units[1]
    assert second.name == "second" and second.started_at is not None
    assert merged[2].time_source == "inferred"
    assert merged[2].time is not None
    assert abs((merged[2].time - second.started_at).total_seconds()) < 1.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"level": "loud"}, "is not a log level"),
        ({"since": "yesterday"}, "is neither a duration nor an ISO 8601 time"),
        ({"merge": True, "grep": "("}, "is not a valid regular expression"),
    ],
)
def test_bad_options_are_refused_before_anything_is_read(
    ops: Operations,
    write_spec: SpecWriter,
    tmp_path: Path,
    options: dict[str, object],
    message: str,
) -> None:
    spec = write_spec("name: one\nsteps:\n  s: {run: [echo, hi]}\n")
    status = ops.run(spec)
    with pytest.raises(ShipyardError, match=message):
        ops.logs(status.id, **options)  # type: ignore[arg-type]
    with pytest.raises(ShipyardError, match="has no unit 'nope'"):
        ops.logs(status.id, "nope", merge=True)


HOSTILE = r"""
print("0001-01-01T00:00:00+23:59 year one minus a day")
print("9999-12-31T23:59:59-23:59 past year 9999")
print('{"ts": 9999999999999999999, "level": 99999999999999999999}')
print('{"level": "\u0000", "time": "9999-99-99T99:99:99Z"}')
print("[" * 5000 + "WARN" + "]" * 5000)
print("ERROR" * 20000)
print("Jan 99 25:61:61 bad syslog")
"""


def test_lines_stating_impossible_times_or_levels_are_read_without_error(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    (tmp_path / "hostile.py").write_text(HOSTILE)
    spec = write_spec(f"name: hostile\nsteps:\n  h: {{run: [{sys.executable}, hostile.py]}}\n")
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED, status.reason
    lines = list(ops.logs(status.id, merge=True, annotate=True))
    assert len(lines) == 7
    unit = ops.status(status.id).units[0]
    assert unit.started_at is not None and unit.ended_at is not None
    for line in lines:  # every time kept within the unit's run
        assert line.time is not None
        assert unit.started_at <= line.time <= unit.ended_at
    assert [line.time_source for line in lines] == ["inferred"] * 7
    assert list(ops.logs(status.id, level="critical")) == []


FOLLOWED = """\
import sys, time
for i in range(3):
    print(f"INFO tick {i}", flush=True)
    print(f"WARNING tock {i}", flush=True)
    print("  under the warning", flush=True)
    time.sleep(0.2)
"""


def test_follow_keeps_its_lines_filtered_by_level(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    (tmp_path / "followed.py").write_text(FOLLOWED)
    spec = write_spec(f"name: followed\nsteps:\n  f: {{run: [{sys.executable}, followed.py]}}\n")
    status = ops.run(spec, detach=True)
    followed = list(ops.logs(status.id, follow=True, level="warning"))
    assert ops.status(status.id).state == ExecutionState.SUCCEEDED
    assert [line.text for line in followed] == [
        text for i in range(3) for text in (f"WARNING tock {i}", "  under the warning")
    ]
    assert {line.level for line in followed} == {"warning"}


def test_a_retrys_lines_are_placed_from_its_attempts_start(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """The engine writes `==> shipyard: attempt 2 of 2` before a retry's output: plain lines
    after it are placed at that attempt's start, not the first attempt's. Read through the
    registered pipeline's name (its latest execution)."""
    marker = tmp_path / "tried"
    spec = write_spec(
        f"""
        name: flaky
        steps:
          flaky:
            run: [sh, -c, "echo plain try; [ -f {marker} ] || {{ touch {marker}; exit 1; }}"]
            retries: {{count: 1, backoff: 0.3s, jitter: false}}
        """
    )
    ops.pipeline_add("flaky", spec)
    status = ops.run("flaky")
    assert status.state == ExecutionState.SUCCEEDED, status.reason
    first, second = ops.store.attempts(status.id, "flaky")  # type: ignore[attr-defined]
    lines = list(ops.logs("flaky", merge=True))
    assert [line.text for line in lines] == [
        "plain try",
        "==> shipyard: attempt 2 of 2",
        "plain try",
    ]
    expected = [first.started_at, second.started_at, second.started_at]
    for line, began in zip(lines, expected, strict=True):
        assert line.time is not None and began is not None
        assert abs((line.time - began).total_seconds()) < 1e-3, (line.text, line.time, began)
    assert first.started_at < second.started_at
