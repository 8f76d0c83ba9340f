"""The HTML report of ``shipyard analyze --html`` (issue 12 §4): one self-contained file.

A Gantt timeline of every attempt, plotted with matplotlib (Agg: no display needed) from the
attempt records and embedded as a base64 PNG, then the analysis' tables. Every text taken from
the records (step names, reasons) is HTML-escaped. matplotlib is imported here only, when a
report is asked for: matplotlib with pyplot took 0.65-0.80 s to import (three runs, on the
shared 2-core machine this was written on).
"""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError, from_os_error
from shipyard.spec.quantities import format_duration, format_size
from shipyard.wording import counted

if TYPE_CHECKING:
    from shipyard.analysis import AnalysisReport
    from shipyard.models import Attempt

#: Bar colour of an attempt by its state.
COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "running": "#0277bd",
    "cancelled": "#f9a825",
}


def gantt_png(
    attempts: list[Attempt], *, now: datetime, critical: frozenset[str] = frozenset()
) -> bytes:
    """A PNG of every attempt as a bar from its start to its end (one still running: to
    ``now``), one row per unit (in the order they first started); critical-path units are
    labelled with a ``*``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    timed = [a for a in attempts if a.started_at is not None]
    rows = list(dict.fromkeys(a.unit for a in timed))
    origin = min((a.started_at for a in timed if a.started_at), default=None)
    figure, axes = plt.subplots(figsize=(10, 1.2 + 0.4 * max(1, len(rows))))
    try:
        for attempt in timed:
            assert attempt.started_at is not None and origin is not None
            start = (attempt.started_at - origin).total_seconds()
            end = (attempt.ended_at or now) - origin
            axes.barh(
                rows.index(attempt.unit),
                max(end.total_seconds() - start, 0.001),
                left=start,
                color=COLOURS.get(attempt.state.value, "#757575"),
                edgecolor="black",
                linewidth=0.5,
            )
        axes.set_yticks(range(len(rows)))
        axes.set_yticklabels([f"{row} *" if row in critical else row for row in rows])
        axes.invert_yaxis()
        axes.set_xlabel("seconds since the first attempt started")
        axes.set_title("attempts (green succeeded, red failed; * on the critical path)")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(figure)
    return buffer.getvalue()


def render_html(report: AnalysisReport, png: bytes) -> str:
    """The report's page: the timeline image inline, then its figures as tables."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Shipyard analysis of {e(report.execution_id)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:.2em .6em;text-align:right}"
        "td:first-child,th:first-child{text-align:left}</style></head><body>",
        f"<h1>{e(report.name)} — {e(report.execution_id)} ({e(report.state)})</h1>",
        f"<p>{_summary(report)}</p>",
        f'<img alt="Gantt timeline of every attempt" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode("ascii")}">',
        _steps_table(report),
        _list("Failures", [f"{e(u)}: {e(r)}" for u, r in report.failures.items()]),
        _list(
            "Recommendations",
            [f"{e(r.message)} <em>({e(r.evidence)})</em>" for r in report.recommendations],
        ),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _summary(report: AnalysisReport) -> str:
    e = html.escape
    bits = [f"wall {format_duration(report.duration_seconds or 0.0)}"]
    if report.critical_path_seconds is not None:
        path = " → ".join(report.critical_path)
        bits.append(f"critical path {e(path)} ({format_duration(report.critical_path_seconds)})")
    if report.cpu_efficiency is not None:
        cores = f" of {counted(report.cores, 'core')}" if report.cores else ""
        bits.append(f"CPU efficiency {report.cpu_efficiency:.1%}{cores}")
    bits.append(f"baseline: {e(report.baseline_id or 'none')} — {e(report.baseline_basis or '')}")
    return "; ".join(bits)


def _steps_table(report: AnalysisReport) -> str:
    e = html.escape
    head = (
        "<h2>Steps</h2><table><tr><th>step</th><th>time</th><th>cpu</th><th>peak rss</th>"
        "<th>attempts</th><th>critical</th><th>baseline</th><th>delta</th></tr>"
    )
    rows = []
    for step in report.steps:
        cells = [
            e(step.unit),
            _seconds(step.duration_seconds),
            "—" if step.cpu_seconds is None else f"{step.cpu_seconds:.2f}s",
            "—" if step.rss_peak_bytes is None else format_size(step.rss_peak_bytes),
            str(step.attempts),
            "yes" if step.on_critical_path else "",
            _seconds(step.baseline_seconds),
            "—" if step.delta_seconds is None else f"{step.delta_seconds:+.2f}s",
        ]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return head + "".join(rows) + "</table>"


def _seconds(value: float | None) -> str:
    return "—" if value is None else format_duration(value)


def _list(title: str, items: list[str]) -> str:
    if not items:
        return f"<h2>{title}</h2><p>none</p>"
    return f"<h2>{title}</h2><ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def write_report(
    report: AnalysisReport, attempts: list[Attempt], target: Path, *, now: datetime
) -> Path:
    """Write the report to ``target``; returns where it went."""
    if target.is_dir():
        raise ShipyardError(
            f"{target} is a folder", hint="give the report's file name: --html report.html"
        )
    png = gantt_png(attempts, now=now, critical=frozenset(report.critical_path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_html(report, png), encoding="utf-8")
    except OSError as error:
        if error.errno in DISK_FAULTS:
            raise from_os_error(error, "write the HTML report", target) from None
        raise ShipyardError(
            f"cannot write the HTML report {target}: {error.strerror or error}",
            hint="give --html a file path in a folder you can write to",
        ) from None
    return target


#: ENOSPC, EDQUOT, EROFS, EIO: the disk's fault, said as such (from_os_error's wording).
DISK_FAULTS = frozenset({28, 122, 30, 5})
