"""Pure formatting of the monitor's snapshots, an analysis and a pipeline's history for the
terminal (issue 12 §4). Nothing here runs or reads anything; Rich is imported by the caller
already (these render only when a table is printed)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text

from shipyard.analysis import AnalysisReport, MonitorSnapshot, PipelineHistory
from shipyard.cli.render import state_text, status_header
from shipyard.spec.quantities import format_duration, format_size
from shipyard.wording import counted

BARS = "▁▂▃▄▅▆▇█"
#: The snapshots a sparkline spans (the newest ones).
SPARK_WIDTH = 30


def sparkline(values: Sequence[float | None], *, top: float | None = None) -> str:
    """One character per value, scaled to ``top`` (default: the largest value); a value not
    measured is a space, so a gap in the samples shows as one."""
    known = [value for value in values if value is not None]
    ceiling = top if top is not None else max(known, default=0.0)
    chars = []
    for value in values:
        if value is None:
            chars.append(" ")
        elif ceiling <= 0:
            chars.append(BARS[0])
        else:
            index = round((len(BARS) - 1) * min(max(value, 0.0), ceiling) / ceiling)
            chars.append(BARS[index])
    return "".join(chars)


class Trend:
    """Each unit's CPU % and RSS over the snapshots the monitor has seen (the newest
    :data:`SPARK_WIDTH`)."""

    def __init__(self) -> None:
        self.cpu: dict[str, deque[float | None]] = {}
        self.rss: dict[str, deque[float | None]] = {}

    def add(self, snapshot: MonitorSnapshot) -> None:
        for unit in snapshot.units:
            cpu = self.cpu.setdefault(unit.name, deque(maxlen=SPARK_WIDTH))
            rss = self.rss.setdefault(unit.name, deque(maxlen=SPARK_WIDTH))
            # Only a running unit is sampled; the others' rows keep what was seen of them.
            if unit.state == "running":
                cpu.append(unit.cpu_percent)
                rss.append(None if unit.rss_bytes is None else float(unit.rss_bytes))


def monitor_view(snapshot: MonitorSnapshot, trend: Trend) -> Group:
    """The live view: the status header (state, progress, ETA, alerts), then a row per unit
    with its latest CPU and RSS and their sparklines."""
    table = Table(expand=False)
    for column in ("unit", "state", "time", "cpu", "cpu trend", "rss", "rss trend"):
        table.add_column(column, justify="right" if column in ("time", "cpu", "rss") else "left")
    for unit in snapshot.units:
        cpus = list(trend.cpu.get(unit.name, ()))
        sizes = list(trend.rss.get(unit.name, ()))
        table.add_row(
            unit.name,
            state_text(unit.state),
            "—" if unit.elapsed_seconds is None else format_duration(unit.elapsed_seconds),
            "—" if unit.cpu_percent is None else f"{unit.cpu_percent:.0f}%",
            sparkline(cpus, top=max([100.0, *(c for c in cpus if c is not None)])),
            "—" if unit.rss_bytes is None else format_size(unit.rss_bytes),
            sparkline(sizes),
        )
    return Group(status_header(snapshot.status), table)


def analysis_view(report: AnalysisReport) -> Group:
    head = Text()
    head.append(f"{report.execution_id}  ", style="bold")
    head.append_text(state_text(report.state))
    if report.duration_seconds is not None:
        head.append(f"   wall {format_duration(report.duration_seconds)}")
    if report.critical_path:
        head.append(
            f"\ncritical path: {' → '.join(report.critical_path)} "
            f"({format_duration(report.critical_path_seconds or 0.0)})"
        )
    if report.bottlenecks:
        head.append(f"\nbottlenecks: {', '.join(report.bottlenecks)}")
    if report.cpu_efficiency is not None:
        cores = f" of {counted(report.cores, 'core')}" if report.cores else ""
        head.append(f"\nCPU efficiency: {report.cpu_efficiency:.1%}{cores}")
    head.append(f"\nbaseline: {report.baseline_id or 'none'} ({report.baseline_basis})")
    for unit, reason in report.failures.items():
        head.append(f"\nfailed: {unit}: {reason}", style="bold red")
    if report.html_path:
        head.append(f"\nreport: {report.html_path}")
    parts: list[Text | Table] = [head, _steps_table(report)]
    if report.recommendations:
        advice = Text("recommendations:")
        for item in report.recommendations:
            advice.append(f"\n- {item.message}\n  measured: {item.evidence}")
        parts.append(advice)
    return Group(*parts)


def _steps_table(report: AnalysisReport) -> Table:
    table = Table(expand=False)
    for column in ("step", "time", "cpu time", "peak rss", "attempts", "baseline", "delta"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for step in report.steps:
        table.add_row(
            f"{step.unit} *" if step.on_critical_path else step.unit,
            _seconds(step.duration_seconds),
            "—" if step.cpu_seconds is None else f"{step.cpu_seconds:.2f}s",
            "—" if step.rss_peak_bytes is None else format_size(step.rss_peak_bytes),
            str(step.attempts),
            _seconds(step.baseline_seconds),
            "—" if step.delta_seconds is None else f"{step.delta_seconds:+.2f}s",
        )
    table.caption = "* on the critical path"
    table.caption_justify = "left"
    return table


def _seconds(value: float | None) -> str:
    return "—" if value is None else format_duration(value)


def history_view(history: PipelineHistory) -> Group:
    head = Text()
    head.append(f"{history.name}", style="bold")
    head.append(f"   {counted(len(history.executions), 'execution')} ({history.basis})")
    if history.success_rate is not None:
        head.append(f"\nsuccess rate: {history.success_rate:.0%}")
    stats = history.durations
    head.append(
        f"\nduration of {counted(stats.count, 'successful run')}: p50 {_seconds(stats.p50)}  "
        f"p95 {_seconds(stats.p95)}  p99 {_seconds(stats.p99)}"
    )
    steps = Table(title="steps (successful runs)", title_justify="left", expand=False)
    for column in ("step", "runs", "p50", "p95", "p99"):
        steps.add_column(column, justify="left" if column == "step" else "right")
    for name, found in history.steps.items():
        steps.add_row(
            name, str(found.count), _seconds(found.p50), _seconds(found.p95), _seconds(found.p99)
        )
    runs = Table(title="executions", title_justify="left", expand=False)
    for column in ("execution", "state", "created", "time"):
        runs.add_column(column, justify="right" if column == "time" else "left")
    for entry in history.executions:
        runs.add_row(
            entry.execution_id,
            state_text(entry.state),
            _when(entry.created_at),
            _seconds(entry.duration_seconds),
        )
    return Group(head, steps, runs)


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")
