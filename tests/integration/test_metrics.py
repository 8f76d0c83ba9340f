"""Figures steps report through ``$SHIPYARD_METRICS``: real steps write them, the engine
stores them per attempt with the attempt's end, ``status`` returns them. Real processes, real
SQLite."""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.engine.metrics import MAX_BYTES, MAX_METRICS
from shipyard.models import ExecutionState, Metric
from tests.conftest import SpecWriter

PY = sys.executable


def report(*lines: str) -> str:
    """A step's command (argv) that appends ``lines`` to its metrics file."""
    text = "".join(line + "\n" for line in lines)
    code = f"import os; open(os.environ['SHIPYARD_METRICS'], 'a').write({text!r})"
    return json.dumps([PY, "-c", code])


def actions(ops: Operations, execution_id: str, action: str) -> list[dict[str, object]]:
    return [
        {"unit": e.unit, **e.data} for e in ops.events(execution_id).events if e.action == action
    ]


def test_figures_of_several_steps_and_attempts_are_stored_per_attempt_oldest_first(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    flaky = (
        "import os; a = os.environ['SHIPYARD_ATTEMPT'];"
        " open(os.environ['SHIPYARD_METRICS'], 'a').write("
        '\'{"name": "loss", "value": %s, "unit": "nats"}\\n\' % (1 / int(a)));'
        " open('paths.txt', 'a').write(os.environ['SHIPYARD_METRICS'] + '\\n');"
        " raise SystemExit(0 if a == '2' else 1)"
    )
    bench = report(
        '{"name": "bw_mib", "value": 812.5, "unit": "MiB/s"}', '{"name": "iops", "value": 203}'
    )
    spec = write_spec(
        f"""
        name: figures
        steps:
          bench: {{run: {bench}}}
          train:
            needs: [bench]
            run: {json.dumps([PY, "-c", flaky])}
            retries: {{count: 1, backoff: 0}}
          quiet: {{run: [true]}}
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED
    assert status.metrics == [
        Metric("bench", 1, "bw_mib", 812.5, "MiB/s"),
        Metric("bench", 1, "iops", 203.0),
        Metric("train", 1, "loss", 1.0, "nats"),
        Metric("train", 2, "loss", 0.5, "nats"),
    ]
    assert ops.status(status.id).metrics == status.metrics  # read back from the store
    # Each attempt has a file of its own under the run folder's metrics/.
    paths = (tmp_path / "paths.txt").read_text().split()
    assert [Path(p).name for p in paths] == ["train.1.jsonl", "train.2.jsonl"]
    assert all(Path(p).parent == Path(status.run_dir) / "metrics" for p in paths)
    assert not (Path(status.run_dir) / "metrics" / "quiet.1.jsonl").exists()
    assert not actions(ops, status.id, "metrics_skipped")


def test_a_failed_attempts_figures_are_kept_too(ops: Operations, write_spec: SpecWriter) -> None:
    line = '{"name": "partial", "value": 7}'
    code = f"import os; open(os.environ['SHIPYARD_METRICS'], 'a').write({line!r}); exit(3)"
    spec = write_spec(f"name: f\nsteps:\n  s: {{run: {json.dumps([PY, '-c', code])}}}\n")
    status = ops.run(spec)
    assert status.state == ExecutionState.FAILED
    assert status.metrics == [Metric("s", 1, "partial", 7.0)]  # no newline at the end: read


def test_bad_lines_are_passed_over_and_the_first_noted_once_with_its_number(
    ops: Operations, write_spec: SpecWriter
) -> None:
    lines = (
        '{"name": "ok", "value": 1}',
        "bw_mib=812",
        "",
        '{"name": "nan", "value": NaN}',
        '{"name": "ok2", "value": 2}',
    )
    spec = write_spec(
        f"""
        name: bad
        steps:
          s:
            run: {report(*lines)}
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED  # a bad figure never fails a step
    assert [(m.name, m.value) for m in status.metrics] == [("ok", 1.0), ("ok2", 2.0)]
    skipped = actions(ops, status.id, "metrics_skipped")
    assert len(skipped) == 1
    assert skipped[0]["unit"] == "s" and skipped[0]["line"] == 2 and skipped[0]["lines"] == 2
    assert skipped[0]["reason"] == "not a JSON object"


def huge_line(i: int, pad: int) -> str:
    return json.dumps({"name": f"n{i:05d}", "value": i, "pad": "x" * pad}) + "\n"


def whole_lines_within(limit: int, pad: int) -> int:
    """How many of :func:`huge_line`'s lines end within the first ``limit`` bytes."""
    total = count = 0
    while total + len(huge_line(count, pad)) <= limit:
        total += len(huge_line(count, pad))
        count += 1
    return count


@pytest.mark.parametrize(
    ("lines", "pad", "why"),
    [
        # 3.5 MiB of short lines: more figures than an attempt keeps.
        (80_000, 0, f"only the first {MAX_METRICS} figures are kept"),
        # 1.2 MiB of 2 KiB lines: the byte bound comes first (~510 whole lines in 1 MiB).
        (600, 2000, f"only the first {MAX_BYTES // 1024} KiB"),
    ],
)
def test_a_huge_metrics_file_is_read_only_up_to_its_bounds(
    ops: Operations, write_spec: SpecWriter, lines: int, pad: int, why: str
) -> None:
    kept = min(MAX_METRICS, whole_lines_within(MAX_BYTES, pad))
    code = f"""
import json, os
path = os.environ["SHIPYARD_METRICS"]
with open(path, "w") as f:
    for i in range({lines}):
        f.write(json.dumps({{"name": "n%05d" % i, "value": i, "pad": "x" * {pad}}}) + "\\n")
assert os.path.getsize(path) > 1.1 * 2**20, os.path.getsize(path)
"""
    spec = write_spec(f"name: huge\nsteps:\n  s: {{run: {json.dumps([PY, '-c', code])}}}\n")
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED, status.unit("s").reason
    assert len(status.metrics) == kept
    assert status.metrics[0].name == "n00000" and status.metrics[-1].value == kept - 1
    cut = actions(ops, status.id, "metrics_cut")
    assert len(cut) == 1 and cut[0]["kept"] == kept
    assert str(cut[0]["reason"]).startswith(why)
    assert not actions(ops, status.id, "metrics_skipped")  # the line cut in two is not bad


def test_the_engine_reads_no_more_than_the_bound_of_a_file_however_big(
    ops: Operations, write_spec: SpecWriter
) -> None:
    # A sparse 256 MiB file (no disk used): read whole, it would raise this process's peak RSS
    # (the engine runs in it) by 256 MiB; the bound reads 1 MiB of it.
    spec = write_spec(
        """
        name: sparse
        steps:
          s: {run: 'truncate -s 256M "$SHIPYARD_METRICS"', shell: true}
        """
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    status = ops.run(spec)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert status.state == ExecutionState.SUCCEEDED
    assert grown_mib < 64, f"peak RSS grew by {grown_mib:.0f} MiB"
    (skipped,) = actions(ops, status.id, "metrics_skipped")  # one line of NUL bytes
    assert skipped["line"] == 1
    (cut,) = actions(ops, status.id, "metrics_cut")
    assert str(cut["reason"]).startswith(f"only the first {MAX_BYTES // 1024} KiB")


def test_a_fifo_or_a_link_in_place_of_the_file_neither_hangs_nor_is_followed(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    secret = tmp_path / "elsewhere.jsonl"
    secret.write_text('{"name": "stolen", "value": 1}\n')
    spec = write_spec(
        f"""
        name: odd
        steps:
          fifo: {{run: 'mkfifo "$SHIPYARD_METRICS"', shell: true}}
          link: {{run: 'ln -s {secret} "$SHIPYARD_METRICS"', shell: true}}
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED
    assert status.metrics == []
    cut = {str(e["unit"]): str(e["reason"]) for e in actions(ops, status.id, "metrics_cut")}
    assert cut["fifo"] == "it is not a regular file"
    assert cut["link"].startswith("the file could not be opened")


def test_a_steps_figures_are_committed_before_a_step_that_needs_it_starts(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    # The dependant reads the store itself, the way another front end would.
    database = tmp_path / ".shipyard" / "state.db"
    check = (
        "import sqlite3, sys, os\n"
        f"db = sqlite3.connect({str(database)!r})\n"
        "rows = db.execute('SELECT name, value FROM metrics WHERE execution_id = ?',"
        " (os.environ['SHIPYARD_EXECUTION_ID'],)).fetchall()\n"
        "sys.exit(0 if rows == [('bw', 5.0)] else 1)\n"
    )
    spec = write_spec(
        f"""
        name: durable
        steps:
          first: {{run: {report('{"name": "bw", "value": 5}')}}}
          second: {{needs: [first], run: {json.dumps([PY, "-c", check])}}}
        """
    )
    status = ops.run(spec)
    assert status.unit("second").state.value == "succeeded", status.unit("second").reason


def test_a_rebuilt_store_has_the_figures_back_from_the_run_folder(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(
        f"""
        name: rebuilt
        steps:
          a: {{run: {report('{"name": "bw", "value": 5, "unit": "MiB/s"}', "junk")}}}
          b: {{needs: [a], run: {report('{"name": "t", "value": 0.5}')}}}
        """
    )
    before = ops.run(spec)
    assert len(before.metrics) == 2
    ops.close()
    home = tmp_path / ".shipyard"
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        (home / name).unlink(missing_ok=True)
    import shipyard

    again = shipyard.connect(home)
    try:
        report_ = again.rebuild_store()
        assert before.id in report_.rebuilt
        assert again.status(before.id).metrics == before.metrics
    finally:
        again.close()


def test_clean_deep_moves_the_metrics_files_like_logs(
    ops: Operations, write_spec: SpecWriter
) -> None:
    command = report('{"name": "x", "value": 1}')
    spec = write_spec(f"name: c\nsteps:\n  a: {{run: {command}}}\n")
    status = ops.run(spec)
    deep = ops.clean(status.id, level="deep", dry_run=True).runs[0]
    assert "metrics" in deep.paths
    kept = ops.clean(status.id, level="deep", preserve_logs=True, dry_run=True).runs[0]
    assert "metrics" not in kept.paths
    assert "metrics" not in ops.clean(status.id, level="standard", dry_run=True).runs[0].paths
    ops.clean(status.id, level="deep")
    assert not (Path(status.run_dir) / "metrics").exists()
    assert ops.status(status.id).metrics == status.metrics  # the figures stay in the store


def test_the_store_row_is_what_the_engine_read(ops: Operations, write_spec: SpecWriter) -> None:
    command = report('{"name": "x", "value": 2}')
    spec = write_spec(f"name: r\nsteps:\n  a: {{run: {command}}}\n")
    status = ops.run(spec)
    database = Path(status.run_dir).parents[1] / "state.db"
    rows = sqlite3.connect(database).execute(
        "SELECT unit, attempt, seq, name, value, unit_label, recorded_at FROM metrics"
    )
    (row,) = rows.fetchall()
    assert row[:6] == ("a", 1, 0, "x", 2.0, None)
    ended = ops.store.attempts(status.id, "a")[0].ended_at
    assert ended is not None and row[6] == ended.timestamp()
    assert os.path.isdir(Path(status.run_dir) / "metrics")


def _as_if_running(ops: Operations, execution_id: str) -> sqlite3.Connection:
    """The store as a supervisor killed mid-run leaves it: the execution running under a
    process that is gone, and no figure stored."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    db = sqlite3.connect(ops.workspace.home / "state.db")
    db.execute(
        "UPDATE executions SET state = 'running', ended_at = NULL, supervisor_pid = ?,"
        " heartbeat_at = ? WHERE id = ?",
        (dead.pid, time.time(), execution_id),
    )
    db.execute("DELETE FROM metrics WHERE execution_id = ?", (execution_id,))
    return db


def test_a_recovered_record_gets_back_the_figures_the_store_missed(
    ops: Operations, write_spec: SpecWriter
) -> None:
    """The execution ended but the store missed its last batch (a full disk): status replays
    events.jsonl, and the figures come back from metrics/."""
    first = report('{"name": "a", "value": 1}')
    second = report('{"name": "b", "value": 2, "unit": "s"}')
    spec = write_spec(f"name: rec\nsteps:\n  x: {{run: {first}}}\n  y: {{run: {second}}}\n")
    status = ops.run(spec)
    with _as_if_running(ops, status.id) as db:
        db.commit()
    assert ops.store.metrics(status.id) == []
    recovered = ops.status(status.id)
    assert recovered.state == ExecutionState.SUCCEEDED
    assert sorted(recovered.metrics, key=lambda m: m.unit) == sorted(
        status.metrics, key=lambda m: m.unit
    )


def test_a_lost_executions_ended_attempts_get_their_figures_from_the_journal(
    ops: Operations, write_spec: SpecWriter
) -> None:
    """The supervisor died after journaling `first`'s end, before the store had it: the attempt
    gets its row from attempts.log, and its figures from metrics/ as of that end; a file of an
    attempt never seen to end is read back too (as of its last write)."""
    first = report('{"name": "bw", "value": 5, "unit": "MiB/s"}')
    second = report('{"name": "t", "value": 1}')
    spec = write_spec(
        f"name: lost\nsteps:\n  first: {{run: {first}}}\n"
        f"  second: {{needs: [first], run: {second}}}\n"
    )
    status = ops.run(spec)
    run_dir = ops.workspace.run_dir(status.id)
    events = [json.loads(line) for line in run_dir.events.read_text().splitlines()]
    # Only the attempt journal saw `first` end: events.jsonl stops before it.
    cut = next(i for i, e in enumerate(events) if e.get("action") == "unit_finished")
    run_dir.events.write_text("".join(json.dumps(e) + "\n" for e in events[:cut]))
    attempts = run_dir.attempts.read_text().splitlines()
    run_dir.attempts.write_text("".join(f"{line}\n" for line in attempts if '"first"' in line))
    with _as_if_running(ops, status.id) as db:
        db.execute(
            "UPDATE units SET state = 'running', ended_at = NULL WHERE execution_id = ?"
            " AND name = 'first'",
            (status.id,),
        )
        db.execute("DELETE FROM attempts WHERE execution_id = ?", (status.id,))
        db.commit()
    lost = ops.status(status.id)
    assert lost.state == ExecutionState.LOST, lost.reason
    assert lost.metrics == [Metric("first", 1, "bw", 5.0, "MiB/s"), Metric("second", 1, "t", 1.0)]
    ended = ops.store.attempts(status.id, "first")[0].ended_at
    rows = sqlite3.connect(ops.workspace.home / "state.db").execute(
        "SELECT recorded_at FROM metrics WHERE execution_id = ? AND unit = 'first'", (status.id,)
    )
    assert ended is not None and rows.fetchall() == [(ended.timestamp(),)]


def test_a_resumed_execution_keeps_the_figures_of_earlier_attempts(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    code = (
        "import os, pathlib; a = os.environ['SHIPYARD_ATTEMPT'];"
        ' line = \'{"name": "try", "value": %s}\\n\' % a;'
        " open(os.environ['SHIPYARD_METRICS'], 'a').write(line);"
        " raise SystemExit(0 if pathlib.Path('fixed').exists() else 1)"
    )
    spec = write_spec(f"name: again\nsteps:\n  s: {{run: {json.dumps([PY, '-c', code])}}}\n")
    failed = ops.run(spec)
    assert failed.state == ExecutionState.FAILED
    (tmp_path / "fixed").touch()
    resumed = ops.resume(failed.id)
    assert resumed.state == ExecutionState.SUCCEEDED
    assert resumed.metrics == [Metric("s", 1, "try", 1.0), Metric("s", 2, "try", 2.0)]


def test_a_step_run_beside_services_reports_figures_too(
    ops: Operations, write_spec: SpecWriter
) -> None:
    """A spec with services and steps is run by the fleet executor, which hosts the steps."""
    probe = report('{"name": "up", "value": 1}')
    spec = write_spec(
        f"""
        name: mixed
        services:
          web:
            run: {PY} -m http.server "$PORT" --bind 127.0.0.1
            shell: true
            port: auto
            health: {{tcp: true}}
        steps:
          probe: {{needs: [web], run: {probe}}}
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED, status.reason
    assert status.metrics == [Metric("probe", 1, "up", 1.0)]


def test_clean_complete_and_its_undo_keep_the_figures(
    ops: Operations, write_spec: SpecWriter
) -> None:
    """complete removes the execution's records with the run folder (into the trash); undo puts
    them back, figures included."""
    command = report('{"name": "x", "value": 4, "unit": "s"}')
    spec = write_spec(f"name: gone\nsteps:\n  a: {{run: {command}}}\n")
    status = ops.run(spec)
    ops.clean(status.id, level="complete")
    assert ops.store.metrics(status.id) == []
    ops.clean_undo(status.id)
    assert ops.status(status.id).metrics == [Metric("a", 1, "x", 4.0, "s")]
