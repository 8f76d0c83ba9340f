"""Parameter sweeps end to end: real executions (supervisor processes, steps, SQLite), metrics
the steps report, the failure threshold, resume by parameter hash, timeouts, a detached sweep
watched and stopped from another process, the plot."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.engine.liveness import pid_alive
from shipyard.errors import ShipyardError
from shipyard.sweep import SweepSettings
from tests.conftest import SpecWriter

# Each point reports score = n * 10 (+1 in mode b) through $SHIPYARD_METRICS.
METRIC_SPEC = """
name: scored
parameters:
  n: {type: int, default: 1}
  mode: {type: str, default: a, choices: [a, b]}
steps:
  score:
    run: |
      extra=0; [ "$SHIPYARD_PARAM_MODE" = b ] && extra=1
      value=$((SHIPYARD_PARAM_N * 10 + extra))
      echo "{\\"name\\": \\"score\\", \\"value\\": $value}" >> "$SHIPYARD_METRICS"
    shell: true
"""

# Sleeps t seconds; fails (exit 3) when n is in the FAIL_ON list and the flag file is absent.
SLEEP_SPEC = """
name: sleeper
parameters:
  t: {type: float, default: 0}
  n: {type: int, default: 0}
  fail_on: {type: str, default: ""}
steps:
  work:
    run: |
      sleep "$SHIPYARD_PARAM_T"
      case " $SHIPYARD_PARAM_FAIL_ON " in
        *" $SHIPYARD_PARAM_N "*) [ -e flag ] || exit 3 ;;
      esac
    shell: true
"""


@pytest.fixture
def sweeps(ops: Operations) -> Iterator[Operations]:
    """The operations; a sweep a failed test left running is stopped."""
    yield ops
    with contextlib.suppress(ShipyardError):
        for report in ops.sweep_list():
            if report.state in ("pending", "running"):
                with contextlib.suppress(ShipyardError):
                    ops.sweep_stop(report.id)


def _wait_for(predicate: object, what: str, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_four_points_with_repeats_metrics_stats_and_best(
    sweeps: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(METRIC_SPEC)
    settings = SweepSettings(
        matrix={"n": ["1", "2"], "mode": ["a", "b"]},
        repeat=2,
        max_parallel_runs=4,
        objective="score:max",
    )
    report = sweeps.sweep(spec, settings)
    assert report.state == "succeeded", report
    assert len(report.points) == 8
    ids = {point.execution_id for point in report.points}
    assert len(ids) == 8 and None not in ids  # each point a real execution of its own
    for point in report.points:
        assert point.execution_id is not None
        status = sweeps.status(point.execution_id)
        assert status.state.value == "succeeded"
        assert Path(status.run_dir).is_dir()
        expected = point.parameters["n"] * 10 + (point.parameters["mode"] == "b")  # type: ignore[operator]
        assert point.metrics == {"score": expected}
        assert point.duration_seconds is not None and point.duration_seconds > 0
    stats = {(s.parameter, s.value): s for s in report.stats}
    assert (stats[("n", 1)].count, stats[("n", 1)].mean) == (4, 10.5)
    assert (stats[("n", 1)].min, stats[("n", 1)].max) == (10.0, 11.0)
    assert (stats[("mode", "b")].mean, stats[("mode", "b")].count) == (16.0, 4)
    assert report.best is not None and report.best.parameters == {"n": 2, "mode": "b"}
    assert report.best_value == 21.0
    again = sweeps.sweep_status(report.id)
    assert [p.execution_id for p in again.points] == [p.execution_id for p in report.points]
    assert sweeps.sweep_list()[0].id == report.id


def test_failure_threshold_stops_starting_points(
    sweeps: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(SLEEP_SPEC)
    before = len(sweeps.list_executions(limit=1000))
    settings = SweepSettings(
        matrix={"n": [1, 2, 3, 4, 5]}, max_parallel_runs=1, failure_threshold=0.2
    )
    report = sweeps.sweep(spec, settings, {"fail_on": "1 2 3 4 5"})
    assert report.state == "stopped_early"
    assert [p.state for p in report.points] == ["failed", "failed", "skipped", "skipped", "skipped"]
    assert "2 of 5 points failed (40%), past the failure threshold of 20%" in (report.reason or "")
    assert "work: exited with code 3" in (report.points[0].reason or "")
    # The skipped points never became executions.
    assert len(sweeps.list_executions(limit=1000)) - before == 2


def test_resume_reruns_only_what_did_not_succeed(
    sweeps: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(SLEEP_SPEC)
    settings = SweepSettings(matrix={"n": [1, 2, 3]}, repeat=2, max_parallel_runs=3)
    first = sweeps.sweep(spec, settings, {"fail_on": "2"})
    assert first.state == "failed"
    assert [p.state for p in first.points] == ["succeeded"] * 2 + ["failed"] * 2 + ["succeeded"] * 2
    (tmp_path / "flag").touch()  # point n=2 succeeds from now on
    count = len(sweeps.list_executions(limit=1000))
    # The same matrix with its values spelt otherwise and in another order: the same points.
    respelt = SweepSettings(matrix={"n": ["0x3", "2", "1"]}, repeat=2, max_parallel_runs=3)
    second = sweeps.sweep(spec, respelt, {"fail_on": "2"}, resume=first.id)
    assert second.state == "succeeded" and second.resumed_from == first.id
    assert len(sweeps.list_executions(limit=1000)) - count == 2  # only n=2's two repeats ran
    kept = {
        (p.point_hash, p.repeat): p.execution_id for p in first.points if p.state == "succeeded"
    }
    for point in second.points:
        key = (point.point_hash, point.repeat)
        if key in kept:
            assert point.execution_id == kept[key]
            assert point.reason == f"kept from {first.id}"
        else:
            assert point.parameters["n"] == 2 and point.execution_id not in kept.values()
    # A changed fixed parameter is another point: nothing is kept.
    third = sweeps.sweep(spec, settings, {"fail_on": "9"}, resume=second.id)
    assert all(p.reason is None for p in third.points)


def test_a_point_past_its_timeout_is_stopped(sweeps: Operations, write_spec: SpecWriter) -> None:
    spec = write_spec(SLEEP_SPEC)
    settings = SweepSettings(matrix={"t": [0, 60]}, max_parallel_runs=2, timeout_per_run=0.5)
    report = sweeps.sweep(spec, settings)
    assert report.state == "failed"
    quick, slow = report.points
    assert quick.state == "succeeded"
    assert slow.state == "failed" and "timed out" in (slow.reason or "")
    assert slow.execution_id is not None
    status = sweeps.status(slow.execution_id)
    assert status.state.value == "cancelled"
    assert all(not unit.pid or not pid_alive(unit.pid) for unit in status.units)


def _other_process(home: Path, code: str) -> dict[str, object]:
    """Run ``code`` in another Python process against the same home; its printed JSON."""
    program = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "import shipyard\n"
        "from shipyard.models import to_jsonable\n"
        f"ops = shipyard.connect(Path({str(home)!r}))\n"
        f"print(json.dumps(to_jsonable({code})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_detached_sweep_watched_and_stopped_from_another_process(
    sweeps: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(SLEEP_SPEC)
    settings = SweepSettings(matrix={"t": [60, 61, 62, 63, 64]}, max_parallel_runs=2)
    started = sweeps.sweep(spec, settings, detach=True)
    assert started.state in ("pending", "running")
    home = tmp_path / ".shipyard"
    row = sweeps.store.sweep_row(started.id)  # type: ignore[attr-defined]
    pid = row["supervisor_pid"]
    assert pid is not None and pid != os.getpid() and pid_alive(pid)

    def two_running() -> bool:
        seen = _other_process(home, f"ops.sweep_status({started.id!r})")
        return [p["state"] for p in seen["points"]].count("running") == 2  # type: ignore[union-attr,index]

    _wait_for(two_running, "two points running")
    stopped = _other_process(home, f"ops.sweep_stop({started.id!r})")
    assert stopped["state"] == "cancelled"
    states = [p["state"] for p in stopped["points"]]  # type: ignore[union-attr,index]
    assert states.count("cancelled") == 5
    _wait_for(lambda: not pid_alive(pid), "the sweep process to exit")
    for point in sweeps.sweep_status(started.id).points:
        if point.execution_id:
            status = sweeps.status(point.execution_id)
            assert status.state.value == "cancelled"
            assert all(not unit.pid or not pid_alive(unit.pid) for unit in status.units)
    with pytest.raises(ShipyardError, match="already ended"):
        sweeps.sweep_stop(started.id)


def test_a_dead_sweep_process_is_detected(sweeps: Operations, write_spec: SpecWriter) -> None:
    spec = write_spec(SLEEP_SPEC)
    settings = SweepSettings(matrix={"t": [0.2, 60]}, max_parallel_runs=1)
    started = sweeps.sweep(spec, settings, detach=True)
    pid = sweeps.store.sweep_row(started.id)["supervisor_pid"]  # type: ignore[attr-defined]
    _wait_for(
        lambda: sweeps.sweep_status(started.id).points[1].state == "running", "the second point"
    )
    os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: not pid_alive(pid), "the sweep process to die")
    report = sweeps.sweep_status(started.id)
    assert report.state == "lost"
    assert f"pid {pid}" in (report.reason or "") and "--resume" in (report.reason or "")
    # Its running point goes on in its own supervisor; stop it.
    running = report.points[1].execution_id
    assert running is not None
    sweeps.stop(running, force=True)


def test_plot_is_a_png(sweeps: Operations, write_spec: SpecWriter, tmp_path: Path) -> None:
    spec = write_spec(METRIC_SPEC)
    report = sweeps.sweep(spec, SweepSettings(matrix={"n": [1, 2, 3]}, max_parallel_runs=3))
    target = tmp_path / "out.png"
    assert sweeps.sweep_plot(report.id, str(target)) == str(target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ShipyardError, match="no figures of metric 'nope'"):
        sweeps.sweep_plot(report.id, str(target), metric="nope")


def test_the_spec_sweep_block_is_taken(sweeps: Operations, write_spec: SpecWriter) -> None:
    spec = write_spec(
        METRIC_SPEC
        + "sweep:\n  matrix: {n: [1, 3], mode: [a, b]}\n  zip: [[n, mode]]\n"
        + "  objective: score:min\n  timeout_per_run: 5m\n"
    )
    report = sweeps.sweep(spec)
    assert [p.parameters for p in report.points] == [{"n": 1, "mode": "a"}, {"n": 3, "mode": "b"}]
    assert report.settings.timeout_per_run == 300.0
    assert report.best is not None and report.best_value == 10.0


@pytest.mark.parametrize(
    ("matrix", "params", "message"),
    [
        ({"nn": [1]}, {}, "'nn' is not a parameter of the spec"),
        ({"mode": ["c"]}, {}, "must be one of a, b; the sweep gives c"),
        ({"n": ["x"]}, {}, "'n' is an int, and 'x' is not"),
        ({}, {}, "no parameters to vary"),
        ({"n": [1]}, {"n": "2"}, "both swept and fixed"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(
    sweeps: Operations, write_spec: SpecWriter, matrix: dict, params: dict, message: str
) -> None:
    spec = write_spec(METRIC_SPEC)
    with pytest.raises(ShipyardError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sweeps.sweep(spec, SweepSettings(matrix=matrix), params)
    assert sweeps.list_executions() == []
    with pytest.raises(ShipyardError, match="there is no sweep yet"):
        sweeps.sweep_status()


def test_no_sweep_block_and_no_matrix(sweeps: Operations, write_spec: SpecWriter) -> None:
    spec = write_spec(METRIC_SPEC)
    with pytest.raises(ShipyardError, match="has no sweep: block") as caught:
        sweeps.sweep(spec)
    assert "-m name=v1,v2" in (caught.value.hint or "")
    with pytest.raises(ShipyardError, match="there is no sweep 'nope'"):
        sweeps.sweep_status("nope")


def test_a_registered_pipeline_is_swept_by_name(sweeps: Operations, write_spec: SpecWriter) -> None:
    spec = write_spec(METRIC_SPEC)
    sweeps.pipeline_add("scores", spec)
    sweeps.pipeline_set("scores", {"mode": "b"})  # a stored default: part of every point
    report = sweeps.sweep("scores", SweepSettings(matrix={"n": [1, 2]}, max_parallel_runs=2))
    assert report.state == "succeeded"
    assert [p.metrics["score"] for p in report.points] == [11.0, 21.0]
    assert [p.parameters for p in report.points] == [{"mode": "b", "n": 1}, {"mode": "b", "n": 2}]
    for point in report.points:
        assert point.execution_id is not None
        assert sweeps.status(point.execution_id).pipeline == "scores"


def test_a_template_of_the_index_is_swept(sweeps: Operations) -> None:
    settings = SweepSettings(matrix={"seed": [1, 2]}, max_parallel_runs=2)
    report = sweeps.sweep("index:builtin/parallel-sort", settings, {"count": "2000"})
    assert report.state == "succeeded", report
    template = sweeps.index_show("builtin/parallel-sort")
    assert report.spec_path == str(Path(template.path).resolve())
    for point in report.points:
        assert point.execution_id is not None
        status = sweeps.status(point.execution_id)
        assert status.spec_path == report.spec_path and len(status.units) == 8


def test_sweep_stop_leaves_a_live_but_slow_sweep_to_stop_its_own_points(
    sweeps: Operations, write_spec: SpecWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep's process is alive (held with SIGSTOP: its heartbeat is still fresh) past
    the wait: `sweep stop` says so rather than stop its points from here too, racing it
    (for an array, scancelling the array under its follow loop). Let go, it stops them."""
    import shipyard.operations.sweeping as sweeping

    monkeypatch.setattr(sweeping, "STOP_WAIT", 1.0)
    spec = write_spec(SLEEP_SPEC)
    started = sweeps.sweep(spec, SweepSettings(matrix={"t": [60, 61]}), detach=True)
    pid = sweeps.store.sweep_row(started.id)["supervisor_pid"]  # type: ignore[attr-defined]
    _wait_for(
        lambda: any(p.state == "running" for p in sweeps.sweep_status(started.id).points),
        "a point running",
    )
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(ShipyardError) as slow:
            sweeps.sweep_stop(started.id)
        assert "is still stopping" in slow.value.message, slow.value.message
        report = sweeps.sweep_status(started.id)
        assert report.state == "running", f"the CLI did not end it in its stead: {report}"
        assert [p.state for p in report.points].count("running") == 1, report.points
    finally:
        os.kill(pid, signal.SIGCONT)
    _wait_for(lambda: sweeps.sweep_status(started.id).state == "cancelled", "its own stop", 60)
    assert {p.state for p in sweeps.sweep_status(started.id).points} == {"cancelled"}
