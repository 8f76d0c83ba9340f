"""``pipeline_metrics`` (issue 15 §3), mixed into LocalOperations: a pipeline's executions read
from the store and judged by :mod:`shipyard.pipelinemetrics` (pure). Nothing is estimated:
every figure is a recorded execution's or step's start and end."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shipyard.errors import ExecutionNotFound, ShipyardError
from shipyard.operations.core import Core

if TYPE_CHECKING:
    from shipyard.analysis import HistoryEntry
    from shipyard.pipelinemetrics import PipelineMetrics, RunPoint

#: The newest executions looked at, at most, when no --limit is given.
DEFAULT_LIMIT = 1000
#: The largest --limit taken (what one report holds in memory: every run with its steps).
MAX_LIMIT = 100_000


class MetricsOperations:
    def pipeline_metrics(
        self: Core,
        name: str,
        *,
        since: str | None = None,
        limit: int = DEFAULT_LIMIT,
        chart: str | None = None,
    ) -> PipelineMetrics:
        """Rates, p50/p95/p99 durations overall and per step (of the runs and steps that
        succeeded), runs per day and anomalous durations of the executions of ``name`` (a
        registered pipeline, else a spec name) created since ``since`` (a duration ago or an
        ISO 8601 time); ``chart``: also draw the durations over time there (.png or .html)."""
        import dataclasses

        from shipyard.loglines import parse_since
        from shipyard.pipelinemetrics import PipelineMetrics, anomalies, duration_stats
        from shipyard.pipelinemetrics import throughput_per_day as per_day

        _check_limit(limit)
        if chart is not None and (not isinstance(chart, str) or not chart.strip()):
            raise ShipyardError("the chart path is empty", hint="give --chart durations.png")
        if chart is not None:
            from shipyard.metricschart import chart_format

            chart_format(chart)  # refused before anything is read
        now = self.clock.now()
        start = parse_since(since, now=now) if since is not None else None
        entries, basis = _entries(self, name, limit)
        if start is not None:
            entries = [e for e in entries if e.created_at.timestamp() >= start]
        entries.sort(key=lambda entry: entry.created_at)  # oldest first
        if not entries:
            raise ExecutionNotFound(
                f"no executions of '{name}' since {_shown_time(start)}",
                hint="give an earlier --since, or leave it out to look at every execution",
            )
        finished = [e for e in entries if e.state not in ("pending", "running")]
        good = [e for e in finished if e.state == "succeeded"]
        states: dict[str, int] = {}
        for entry in entries:
            states[entry.state] = states.get(entry.state, 0) + 1
        spans = self.store.step_spans([e.execution_id for e in entries])
        per_run: dict[str, dict[str, float]] = {}
        for execution_id, step, seconds in spans:
            per_run.setdefault(execution_id, {})[step] = round(seconds, 6)
        created = {e.execution_id: e.created_at for e in entries}
        runs = [(e.execution_id, e.created_at, e.duration_seconds) for e in good]
        timed = [(i, at, float(d)) for i, at, d in runs if d is not None]
        step_series: dict[str, list[tuple[str, datetime, float]]] = {}
        for execution_id, steps in per_run.items():
            for step, seconds in steps.items():
                step_series.setdefault(step, []).append(
                    (execution_id, created[execution_id], seconds)
                )
        found = anomalies(timed)
        for step, series in sorted(step_series.items()):
            series.sort(key=lambda item: item[1])
            found.extend(anomalies(series, step=step))
        window = now - (start if start is not None else entries[0].created_at.timestamp())
        report = PipelineMetrics(
            name=name,
            basis=basis,
            since=datetime.fromtimestamp(start, UTC) if start is not None else None,
            window_seconds=round(window, 3),
            runs=len(entries),
            finished=len(finished),
            succeeded=len(good),
            failed=len(finished) - len(good),
            states=dict(sorted(states.items())),
            success_rate=round(len(good) / len(finished), 4) if finished else None,
            failure_rate=round(1 - len(good) / len(finished), 4) if finished else None,
            throughput_per_day=per_day(len(entries), window),
            durations=duration_stats([seconds for _, _, seconds in timed]),
            steps={
                step: duration_stats([s for _, _, s in series])
                for step, series in sorted(step_series.items())
            },
            anomalies=found,
            notes=_notes(len(timed), step_series),
            points=[_point(entry, per_run.get(entry.execution_id, {})) for entry in entries],
        )
        if chart is None:
            return report
        from shipyard.metricschart import write_chart

        return dataclasses.replace(report, chart_path=write_chart(report, chart))


def _entries(self: Core, name: str, limit: int) -> tuple[list[HistoryEntry], str]:
    """The executions of registered pipeline ``name``, else of spec ``name``, and which."""
    if self._has_state():
        entries = self.store.execution_history(pipeline=name, limit=limit)
        if entries:
            return entries, f"executions run as the registered pipeline '{name}'"
        entries = self.store.execution_history(name=name, limit=limit)
        if entries:
            return entries, f"executions of the spec named '{name}'"
        known = sorted(
            {p.name for p in self.store.pipeline_list()} | set(self.store.execution_names())
        )
    else:
        known = []
    shown = ", ".join(known[:20]) + (" …" if len(known) > 20 else "") if known else "none yet"
    raise ExecutionNotFound(
        f"no executions of a pipeline or spec named '{name}' in {self.workspace.home}",
        hint=f"known names: {shown}",
    )


def _point(entry: HistoryEntry, steps: dict[str, float]) -> RunPoint:
    from shipyard.pipelinemetrics import RunPoint

    return RunPoint(
        entry.execution_id, entry.created_at, entry.state, entry.duration_seconds, steps
    )


def _notes(runs: int, steps: dict[str, list[tuple[str, datetime, float]]]) -> list[str]:
    """What could not be judged for want of runs (the anomaly search needs MIN_SAMPLES)."""
    from shipyard.pipelinemetrics import MIN_SAMPLES

    notes = []
    if runs < MIN_SAMPLES:
        notes.append(
            f"too few runs to judge anomalies: {runs} succeeded with a duration, "
            f"{MIN_SAMPLES} needed"
        )
    short = sorted(step for step, series in steps.items() if len(series) < MIN_SAMPLES)
    if short and runs >= MIN_SAMPLES:
        notes.append(
            f"too few successful runs of {', '.join(short)} to judge its anomalies "
            f"({MIN_SAMPLES} needed)"
        )
    return notes


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ShipyardError(
            f"metrics limit {limit!r} is not a whole number from 1 to {MAX_LIMIT:,}",
            hint=f"give --limit 1 to {MAX_LIMIT:,} (the newest executions looked at)",
        )


def _shown_time(start: float | None) -> str:
    if start is None:
        return "the start"
    return datetime.fromtimestamp(start, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
