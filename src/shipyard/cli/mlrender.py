"""Pure formatting of ``shipyard metrics`` and ``shipyard models``: records in, text out."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from shipyard.spec.quantities import format_duration, format_size
from shipyard.wording import counted, plural

if TYPE_CHECKING:
    from shipyard.mlregistry import ModelInfo, ModelVersion, StageChange
    from shipyard.pipelinemetrics import DurationStats, PipelineMetrics


def _seconds(value: float | None) -> str:
    return "—" if value is None else format_duration(value)


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _stats(stats: DurationStats) -> str:
    return f"p50 {_seconds(stats.p50)}  p95 {_seconds(stats.p95)}  p99 {_seconds(stats.p99)}"


def metrics_text(report: PipelineMetrics) -> str:
    lines = [f"{report.name}   {counted(report.runs, 'run')} ({report.basis})"]
    if report.since is not None:
        lines.append(f"since {_when(report.since)}")
    states = ", ".join(f"{count} {state}" for state, count in report.states.items())
    lines.append(
        f"success rate {_rate(report.success_rate)}   failure rate {_rate(report.failure_rate)}"
        f"   ({states})"
    )
    per_day = report.throughput_per_day
    lines.append(
        "throughput "
        + ("—" if per_day is None else f"{per_day:g} runs/day")
        + f" over {_seconds(report.window_seconds)}"
    )
    runs = report.durations
    lines.append(f"duration of {counted(runs.count, 'successful run')}: {_stats(runs)}")
    if report.steps:
        width = max(len(step) for step in report.steps)
        lines.append("steps (where they succeeded):")
        for step, stats in report.steps.items():
            runs_word = plural("run", stats.count)
            lines.append(f"  {step:<{width}}  {stats.count:>4} {runs_word:<4}  {_stats(stats)}")
    if report.anomalies:
        lines.append(f"anomalies (robust z-score past {report.threshold:g}):")
        for found in report.anomalies:
            what = f"step {found.step}" if found.step else "run"
            lines.append(
                f"  {found.execution_id}  {what}: {found.value:.3f}s, median {found.median:.3f}s, "
                f"MAD {found.mad:.3f}s, z {found.z:.1f}"
                + (" (mean absolute deviation: MAD was 0)" if found.scale == "meanAD" else "")
            )
    else:
        lines.append("anomalies: none")
    lines.extend(f"note: {note}" for note in report.notes)
    if report.chart_path:
        lines.append(f"chart: {report.chart_path}")
    return "\n".join(lines)


def version_line(version: ModelVersion) -> str:
    made = f"  from {version.execution_id}/{version.step}" if version.execution_id else ""
    figures = ", ".join(f"{name}={value:g}" for name, value in version.metrics.items())
    return (
        f"  v{version.version:<3} {version.stage.value:<10} {version.digest[:12]}  "
        f"{version.kind} {format_size(version.size)}"
        + (f" ({counted(version.files, 'file')})" if version.kind == "folder" else "")
        + f"  {_when(version.registered_at)} by {version.registered_by}{made}"
        + (f"  {figures}" if figures else "")
    )


def registered_text(version: ModelVersion) -> str:
    return (
        f"registered {version.model} version {version.version} ({version.stage.value}), "
        f"sha256 {version.digest}, {format_size(version.size)}\nstored at {version.stored_path}"
    )


def models_text(models: list[ModelInfo]) -> str:
    if not models:
        return "no models registered (shipyard models register NAME PATH)"
    lines = []
    for model in models:
        production = "none" if model.production is None else f"v{model.production}"
        lines.append(
            f"{model.name}   {counted(len(model.versions), 'version')}, latest v{model.latest}, "
            f"production {production}"
        )
    return "\n".join(lines)


def model_text(model: ModelInfo) -> str:
    production = "none" if model.production is None else f"version {model.production}"
    lines = [f"{model.name}   production: {production}   latest: version {model.latest}"]
    lines.append("versions:")
    lines.extend(version_line(version) for version in model.versions)
    if model.events:
        lines.append("events:")
        for event in model.events:
            before = event.from_stage.value if event.from_stage else "—"
            lines.append(
                f"  {_when(event.at)}  {event.actor}  {event.action} v{event.version}: "
                f"{before} → {event.to_stage.value}"
                + (f"  ({event.detail})" if event.detail else "")
            )
    return "\n".join(lines)


def change_text(change: StageChange) -> str:
    if change.previous is None:
        return f"{change.model}: version {change.production} is in production"
    return (
        f"{change.model}: version {change.production} is in production "
        f"(version {change.previous} archived)"
    )
