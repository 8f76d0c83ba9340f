"""How ``shipyard sweep`` reads its options and shows a sweep: pure functions from text to
settings and from a report to text (tables, CSV, progress lines), tested with tables."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from rich.table import Table

    from shipyard.sweep import ParameterStats, SweepPoint, SweepReport


def parse_matrix(pairs: list[str]) -> dict[str, list[str]]:
    """``["a=1,2", "b=x"]`` → ``{"a": ["1", "2"], "b": ["x"]}``; the values are coerced to
    the parameters' types by the sweep itself."""
    matrix: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, values = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ShipyardError(
                f"'-m {pair}' is not a sweep parameter", hint="write it as -m name=v1,v2,v3"
            )
        if name in matrix:
            raise ShipyardError(
                f"parameter '{name}' is given twice with -m",
                hint=f"list all its values at once: -m {name}=v1,v2",
            )
        items = values.split(",")
        if any(not item.strip() for item in items):
            raise ShipyardError(
                f"'-m {pair}' has an empty value",
                hint="separate values with single commas: -m name=v1,v2",
            )
        matrix[name] = [item.strip() for item in items]
    return matrix


def parse_zip(groups: list[str]) -> list[list[str]]:
    """``["a,b", "c,d"]`` → ``[["a", "b"], ["c", "d"]]``."""
    result = []
    for group in groups:
        names = [name.strip() for name in group.split(",")]
        if len(names) < 2 or not all(names):
            raise ShipyardError(
                f"--zip {group} does not name two parameters or more",
                hint="write --zip a,b to move a and b together",
            )
        result.append(names)
    return result


def counts(report: SweepReport) -> dict[str, int]:
    tally: dict[str, int] = {}
    for point in report.points:
        tally[point.state] = tally.get(point.state, 0) + 1
    return tally


def progress_line(report: SweepReport) -> str:
    """``sweep ID: 5/8 done (1 failed), 2 running, 1 pending``."""
    tally = counts(report)
    finished = sum(n for state, n in tally.items() if state not in ("pending", "running"))
    line = f"sweep {report.id}: {finished}/{len(report.points)} done"
    failed = tally.get("failed", 0)
    if failed:
        line += f" ({failed} failed)"
    return line + f", {tally.get('running', 0)} running, {tally.get('pending', 0)} pending"


def _swept(report: SweepReport) -> list[str]:
    return list(report.settings.matrix)


def _metric_names(report: SweepReport) -> list[str]:
    return sorted({name for point in report.points for name in point.metrics})


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.6g}"


def csv_text(report: SweepReport) -> str:
    """Every point as a CSV row: position, repeat, parameters, state, duration, metrics,
    execution id, reason."""
    swept, metrics = _swept(report), _metric_names(report)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["point", "repeat", *swept, "state", "duration_s", *metrics, "execution_id", "reason"]
    )
    for index, point in enumerate(report.points, start=1):
        writer.writerow(
            [
                index,
                point.repeat,
                *(_shown(point.parameters.get(name)) for name in swept),
                point.state,
                _number(point.duration_seconds),
                *(_number(point.metrics.get(name)) for name in metrics),
                point.execution_id or "",
                point.reason or "",
            ]
        )
    return out.getvalue()


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def best_line(report: SweepReport) -> str | None:
    """``best for score:max: n=2 mode=b, score 21 (mean of 2 repeats), exec_…``."""
    objective = report.settings.objective
    if objective is None:
        return None
    best = report.best
    if best is None:
        return f"best for {objective}: none (no succeeded point reported it)"
    metric = objective.rpartition(":")[0]
    params = " ".join(f"{name}={_shown(best.parameters.get(name))}" for name in _swept(report))
    mean = _number(report.best_value)
    repeats = report.settings.repeat
    over = f" (mean of {repeats} repeats)" if repeats > 1 else ""
    return f"best for {objective}: {params}, {metric} {mean}{over}, {best.execution_id}"


def end_line(report: SweepReport) -> str:
    line = f"sweep {report.id} {report.state}"
    return line + (f": {report.reason}" if report.reason else "")


def points_table(report: SweepReport) -> Table:
    from rich.table import Table

    swept, metrics = _swept(report), _metric_names(report)
    table = Table(title=f"sweep {report.id} ({report.name})", title_justify="left", expand=False)
    jobs = ["slurm job"] if any(point.slurm_job for point in report.points) else []
    for column in ["#", *swept, "repeat", "state", "duration", *metrics, "execution", *jobs]:
        table.add_column(column, justify="right" if column in metrics else "left")
    for index, point in enumerate(report.points, start=1):
        table.add_row(
            str(index),
            *(_shown(point.parameters.get(name)) for name in swept),
            str(point.repeat),
            _state(point),
            _duration(point.duration_seconds),
            *(_number(point.metrics.get(name)) for name in metrics),
            point.execution_id or "",
            *([point.slurm_job or ""] if jobs else []),
        )
    return table


def _state(point: SweepPoint) -> str:
    return f"{point.state} ({point.reason})" if point.reason else point.state


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    from shipyard.spec.quantities import format_duration

    return format_duration(seconds)


def shown_stats(report: SweepReport) -> tuple[list[ParameterStats], int]:
    """The statistics the table shows — of the objective's metric only, when there is one and
    it was reported (a point may report many figures) — and how many are left out."""
    objective = report.settings.objective
    metric = objective.rpartition(":")[0] if objective else None
    shown = [s for s in report.stats if s.metric == metric] if metric else report.stats
    if not shown:
        shown = report.stats
    return shown, len(report.stats) - len(shown)


def stats_table(report: SweepReport) -> Table | None:
    from rich.table import Table

    shown, left = shown_stats(report)
    if not shown:
        return None
    caption = f"{left} more rows of other metrics: --json or --csv" if left else None
    table = Table(
        title="per parameter value",
        title_justify="left",
        expand=False,
        caption=caption,
        caption_justify="left",
    )
    for column in ("parameter", "value", "metric", "n", "mean", "std", "min", "max"):
        left_aligned = column in ("parameter", "value", "metric")
        table.add_column(column, justify="left" if left_aligned else "right")
    for stat in shown:
        table.add_row(
            stat.parameter,
            _shown(stat.value),
            stat.metric,
            str(stat.count),
            *(_number(x) for x in (stat.mean, stat.std, stat.min, stat.max)),
        )
    return table


def list_table(reports: list[SweepReport]) -> Table:
    from rich.table import Table

    table = Table(expand=False)
    for column in ("sweep", "name", "state", "points", "failed", "created"):
        table.add_column(column)
    for report in reports:
        tally = counts(report)
        table.add_row(
            report.id,
            report.name,
            report.state,
            str(len(report.points)),
            str(tally.get("failed", 0)),
            report.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    return table
