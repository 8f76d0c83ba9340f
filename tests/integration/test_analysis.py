"""Monitor, alerts, analysis and history (issue 12 §4) over real runs: real processes, the
real SQLite store, the engine's own sampling. Under SHIPYARD_WIRE_CHECK=1 every call also
crosses JSON text."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.errors import ExecutionNotFound, ShipyardError
from shipyard.models import ExecutionState
from tests.conftest import SpecWriter

DAG = """
name: dag
parameters:
  slow: {type: float, default: 0.8}
execution: {failure_strategy: continue, sample_interval: 0.2}
steps:
  fetch: {run: [python3, -c, "pass"]}
  crunch:
    run: [python3, -c, "import sys, time; time.sleep(float(sys.argv[1]))", "{{ slow }}"]
    needs: [fetch]
  light: {run: [python3, -c, "pass"], needs: [fetch]}
  report: {run: [python3, -c, "pass"], needs: [crunch, light]}
"""


def test_analyze_finds_the_slow_step_on_the_critical_path_and_compares_with_a_baseline(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(DAG)
    first = ops.run(spec)
    assert first.state == ExecutionState.SUCCEEDED
    second = ops.run(spec)
    report = ops.analyze(second.id, cores=2)
    assert report.critical_path == ["fetch", "crunch", "report"]
    steps = {step.unit: step for step in report.steps}
    assert report.bottlenecks[0] == "crunch"
    assert steps["crunch"].on_critical_path and not steps["light"].on_critical_path
    assert steps["crunch"].duration_seconds is not None
    assert steps["crunch"].duration_seconds >= 0.8  # it slept that long: a measured figure
    assert report.critical_path_seconds == pytest.approx(
        sum(steps[name].duration_seconds or 0.0 for name in report.critical_path)
    )
    # the baseline: the earlier success with the same parameters, step by step
    assert report.baseline_id == first.id
    assert report.baseline_basis is not None and "same parameters" in report.baseline_basis
    before = ops.status(first.id).unit("crunch").duration_seconds
    assert steps["crunch"].baseline_seconds == before
    assert steps["crunch"].delta_seconds == pytest.approx(
        (steps["crunch"].duration_seconds or 0.0) - (before or 0.0)
    )
    # CPU efficiency from the attempts' measured CPU seconds
    cpu = sum(step.cpu_seconds or 0.0 for step in report.steps)
    assert report.cores == 2 and report.duration_seconds
    assert report.cpu_efficiency == pytest.approx(cpu / (report.duration_seconds * 2), rel=1e-3)
    dominant = [r for r in report.recommendations if "sets the pace" in r.message]
    assert [r.message.split("'")[1] for r in dominant] == ["crunch"]
    assert re.search(r"of the [\d.]+s critical path \(\d+%\)", dominant[0].evidence)


def test_no_baseline_with_other_parameters_and_an_explicit_one_is_used(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(DAG)
    first = ops.run(spec, {"slow": 0.1})
    other = ops.run(spec, {"slow": 0.2})
    report = ops.analyze(other.id)
    assert report.baseline_id is None
    assert report.baseline_basis == (
        "no earlier successful execution of spec 'dag' with the same parameters "
        "(1 with other parameters)"
    )
    assert all(step.delta_seconds is None for step in report.steps)
    chosen = ops.analyze(other.id, baseline=first.id)
    assert chosen.baseline_id == first.id and chosen.baseline_basis == f"asked for: {first.id}"
    assert ops.analyze(other.id, baseline="none").baseline_basis == "no baseline asked for"


def test_failures_are_reported_with_their_reasons_and_the_log_to_read(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        """
        name: broken
        execution: {failure_strategy: continue}
        steps:
          ok: {run: [true]}
          bad: {run: [sh, -c, "exit 3"]}
          after: {run: [true], needs: [bad]}
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.FAILED
    report = ops.analyze(status.id)
    assert report.failures == {"bad": status.unit("bad").reason}
    assert "3" in (status.unit("bad").reason or "")
    (advice,) = [r for r in report.recommendations if "failed" in r.message]
    assert f"shipyard logs {status.id} bad" in advice.message
    assert advice.evidence == f"attempt 1: {status.unit('bad').reason}"


def test_the_html_report_embeds_a_gantt_png_of_every_attempt(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    status = ops.run(write_spec(DAG), {"slow": 0.1})
    report = ops.analyze(status.id, html="out/report.html")
    written = tmp_path / "out" / "report.html"
    assert report.html_path == str(written)
    page = written.read_text(encoding="utf-8")
    found = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert found is not None
    png = base64.b64decode(found.group(1))
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 2000
    for step in ("fetch", "crunch", "light", "report"):
        assert f"<td>{step}</td>" in page


def test_an_html_report_where_no_file_can_be_written_says_so(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    status = ops.run(write_spec(DAG), {"slow": 0.0})
    (tmp_path / "plain").write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(ShipyardError, match="cannot write the HTML report") as raised:
        ops.analyze(status.id, html="plain/report.html")
    assert raised.value.hint == "give --html a file path in a folder you can write to"
    with pytest.raises(ShipyardError, match="is a folder"):
        ops.analyze(status.id, html=str(tmp_path))


MEMORY_HOG = """
name: hog
execution: {sample_interval: 0.1}
steps:
  hog:
    run: [python3, -c, "import time; b = b'x' * (150 << 20); time.sleep(1.2)"]
    resources: {memory: 64M}
  modest:
    run: [python3, -c, "import time; time.sleep(1.2)"]
    resources: {memory: 512M}
"""


def test_a_step_past_its_memory_limit_raises_one_alert_shown_by_status(
    ops: Operations, write_spec: SpecWriter
) -> None:
    status = ops.run(write_spec(MEMORY_HOG))
    assert status.state == ExecutionState.SUCCEEDED
    (alert,) = status.alerts  # once, though every sample after the first was over too
    assert (alert.unit, alert.kind, alert.attempt) == ("hog", "memory", 1)
    assert re.fullmatch(
        r"RSS [\d.]+MiB passed its memory limit 61\.0MiB \(resources\.memory\)", alert.message
    )
    events = [e for e in ops.events(status.id).events if e.action == "alert"]
    assert [(e.unit, e.data["kind"]) for e in events] == [("hog", "memory")]
    assert ops.monitor(status.id).alerts == status.alerts
    ops.rebuild_store()  # events.jsonl keeps them: a rebuilt store still has the alert
    assert [(a.unit, a.kind, a.message) for a in ops.status(status.id).alerts] == [
        (alert.unit, alert.kind, alert.message)
    ]


SLEEPER = """
name: sleeper
parameters:
  secs: {type: float, default: 0.1}
execution: {sample_interval: 0.1}
steps:
  nap: {run: [sleep, "{{ secs }}"]}
  steady: {run: [sleep, "0.1"]}
"""


def test_a_step_running_past_the_p95_of_its_history_raises_a_duration_alert(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(SLEEPER)
    for _ in range(3):  # the history: three real runs of about 0.1 s
        earlier = ops.run(spec)
        assert earlier.state == ExecutionState.SUCCEEDED and earlier.alerts == []
    status = ops.run(spec, {"secs": 1.5})
    (alert,) = status.alerts
    assert (alert.unit, alert.kind) == ("nap", "duration")
    assert re.fullmatch(
        r"running for [\d.]+m?s, longer than the p95 \([\d.]+m?s\) of its 3 earlier "
        r"successful runs",
        alert.message,
    )


def test_the_history_an_alert_rests_on_is_read_step_by_step(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(SLEEPER)
    runs = [ops.run(spec) for _ in range(3)]
    broken = write_spec(SLEEPER.replace('[sleep, "0.1"]', "[sh, -c, 'exit 1']"), "b.yaml")
    ops.run(broken)  # a failed execution is no history
    found = ops.store.step_durations("sleeper", ["nap", "nope"], last=2)  # type: ignore[attr-defined]
    assert list(found) == ["nap"]
    naps = [
        a.duration_seconds
        for run in runs[1:]
        for a in ops.store.attempts(run.id, "nap")  # type: ignore[attr-defined]
    ]
    assert found["nap"] == pytest.approx(naps, abs=1e-5)  # the last two successes, oldest first
    many = [f"s{i}" for i in range(1200)] + ["steady"]  # more names than SQLite binds at once
    assert list(ops.store.step_durations("sleeper", many)) == ["steady"]  # type: ignore[attr-defined]


def test_history_counts_successes_and_gives_percentiles_overall_and_per_step(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(SLEEPER)
    runs = [ops.run(spec, {"secs": secs}) for secs in (0.1, 0.2, 0.3)]
    broken = write_spec(
        SLEEPER.replace('[sleep, "0.1"]', "[sh, -c, 'exit 1']").replace(
            "sample_interval: 0.1", "sample_interval: 0.1, failure_strategy: continue"
        ),
        "b.yaml",
    )
    failed = ops.run(broken)
    assert failed.state == ExecutionState.FAILED
    history = ops.history("sleeper")
    assert [entry.execution_id for entry in history.executions] == [
        failed.id,
        *[run.id for run in reversed(runs)],
    ]
    assert history.success_rate == 0.75
    assert history.basis == "executions of the spec named 'sleeper'"
    # a step's successes count in a failed run too ('nap' did its part in the broken one)
    naps = sorted(run.unit("nap").duration_seconds or 0.0 for run in [*runs, failed])
    assert history.steps["nap"].count == 4
    assert history.steps["nap"].p50 == pytest.approx((naps[1] + naps[2]) / 2, abs=1e-5)
    assert history.steps["nap"].p99 == pytest.approx(naps[2] + (naps[3] - naps[2]) * 0.97, abs=1e-5)
    assert history.steps["steady"].count == 3  # it failed in the broken run
    assert history.durations.count == 3
    assert [e.execution_id for e in ops.history("sleeper", limit=2).executions] == [
        failed.id,
        runs[2].id,
    ]


def test_the_monitor_shows_a_running_units_measured_cpu_and_memory(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        """
        name: busy
        execution: {sample_interval: 0.1}
        steps:
          spin:
            run: [python3, -c, "import time; t = time.time() + 30\\nwhile time.time() < t: pass"]
        """
    )
    status = ops.run(spec, detach=True)
    deadline = time.monotonic() + 20
    sample = None
    while time.monotonic() < deadline:
        snapshot = ops.monitor(status.id)
        (unit,) = snapshot.units
        if unit.cpu_percent and unit.rss_bytes:  # measured, and the loop has begun
            sample = unit
            break
        time.sleep(0.1)
    ops.stop(status.id, force=True)
    assert sample is not None, "no measured figure reached the monitor in 20 s"
    # a busy loop used CPU (how much depends on the machine's load: no bound asserted)
    assert sample.state == "running" and sample.cpu_percent > 0
    assert sample.rss_bytes is not None and sample.rss_bytes > 1024 * 1024
    assert sample.elapsed_seconds is not None and sample.elapsed_seconds > 0
    ended = ops.monitor(status.id)
    assert ended.status.state.finished
    assert [(u.cpu_percent, u.rss_bytes) for u in ended.units] == [(None, None)]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda ops: ops.analyze("exec_nope"), ExecutionNotFound, "exec_nope"),
        (lambda ops: ops.analyze(baseline="exec_nope"), ExecutionNotFound, "exec_nope"),
        (lambda ops: ops.analyze(cores=0), ShipyardError, "cores 0"),
        (lambda ops: ops.analyze(html=""), ShipyardError, "path is empty"),
        (lambda ops: ops.history("nothing-ran"), ExecutionNotFound, "nothing-ran"),
        (lambda ops: ops.history("dag", limit=0), ShipyardError, "limit 0"),
        (lambda ops: ops.monitor("exec_nope"), ExecutionNotFound, "exec_nope"),
    ],
)
def test_bad_input_is_a_clear_error(
    ops: Operations, write_spec: SpecWriter, call: object, error: type, message: str
) -> None:
    ops.run(write_spec(DAG), {"slow": 0.0})
    with pytest.raises(error, match=message) as raised:
        call(ops)  # type: ignore[operator]
    assert raised.value.hint  # says what to do


def test_the_baseline_cannot_be_the_execution_itself(
    ops: Operations, write_spec: SpecWriter
) -> None:
    status = ops.run(write_spec(DAG), {"slow": 0.0})
    with pytest.raises(ShipyardError, match="is the execution analysed itself"):
        ops.analyze(status.id, baseline=status.id)


def test_a_registered_pipeline_is_its_own_history_and_baseline(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(DAG)
    by_file = ops.run(spec, {"slow": 0.0})  # the same spec, not run by the name
    ops.pipeline_add("nightly", str(spec))
    first = ops.run("nightly", {"slow": 0.0})
    second = ops.run("nightly", {"slow": 0.0})
    assert second.pipeline == "nightly"
    report = ops.analyze("nightly")  # a name where an id goes: its latest execution
    assert report.execution_id == second.id and report.baseline_id == first.id
    assert report.baseline_basis == (
        "the previous successful execution of pipeline 'nightly' with the same parameters"
    )
    history = ops.history("nightly")
    assert history.basis == "executions run as the registered pipeline 'nightly'"
    assert [e.execution_id for e in history.executions] == [second.id, first.id]
    by_name = ops.history("dag")  # the spec's name: every execution of it
    assert by_name.basis == "executions of the spec named 'dag'"
    assert [e.execution_id for e in by_name.executions] == [second.id, first.id, by_file.id]
