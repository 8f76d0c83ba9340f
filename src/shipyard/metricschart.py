"""A pipeline's durations over time (``shipyard metrics NAME --chart FILE``): the runs that
succeeded and each step, one line each, anomalies ringed in red. PNG through matplotlib's Agg
backend, or a self-contained HTML page (the same figure as inline SVG, then the anomalies as a
table: no script, no file beside it).

Imported only when a chart is asked for: matplotlib costs ~0.3 s to import.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError, from_os_error
from shipyard.wording import counted

if TYPE_CHECKING:
    from shipyard.pipelinemetrics import PipelineMetrics

#: The formats by file suffix.
FORMATS = {".png": "png", ".html": "html", ".htm": "html"}


def chart_format(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ShipyardError(
            f"the chart {path} is neither .png nor .html",
            hint="give --chart durations.png (a picture) or durations.html (a page)",
        )
    return FORMATS[suffix]


def write_chart(report: PipelineMetrics, path: str) -> str:
    """Draw ``report``'s durations into ``path`` (its suffix picks the format); returns it."""
    kind = chart_format(path)
    figure = _figure(report)
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "png":
            figure.savefig(target, format="png", dpi=100)
        else:
            target.write_text(_page(report, figure), encoding="utf-8")
    except OSError as error:
        raise from_os_error(error, "write the chart", target) from None
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)
    return str(target)


def _figure(report: PipelineMetrics) -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4.5))
    axis: Any = axes  # matplotlib's stubs take no datetimes, which it plots as dates
    runs = [p for p in report.points if p.state == "succeeded" and p.duration_seconds is not None]
    axis.plot(
        [p.created_at for p in runs],
        [p.duration_seconds for p in runs],
        "o-",
        color="black",
        label="run (succeeded)",
    )
    for step in report.steps:
        points = [p for p in report.points if step in p.steps]
        axis.plot(
            [p.created_at for p in points],
            [p.steps[step] for p in points],
            ".--",
            alpha=0.8,
            label=step,
        )
    if report.anomalies:
        axis.scatter(
            [a.at for a in report.anomalies],
            [a.value for a in report.anomalies],
            s=160,
            facecolors="none",
            edgecolors="red",
            linewidths=2,
            label=f"anomaly (|z| > {report.threshold:g})",
            zorder=5,
        )
    axis.set_ylabel("seconds")
    axis.set_xlabel("execution created (UTC)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="upper left")
    figure.autofmt_xdate()
    figure.suptitle(
        f"{report.name}: durations over time ({counted(report.runs, 'run')})", fontsize=10
    )
    figure.tight_layout()
    return figure


def _page(report: PipelineMetrics, figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]  # the XML prolog and doctype do not belong inside HTML
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(cell))}</td>"
            for cell in (
                a.execution_id,
                a.step or "(run)",
                a.at.isoformat(timespec="seconds"),
                f"{a.value:.3f}",
                f"{a.median:.3f}",
                f"{a.mad:.3f}",
                f"{a.z:.2f}",
            )
        )
        + "</tr>"
        for a in report.anomalies
    )
    table = (
        "<table><tr><th>execution</th><th>step</th><th>created</th><th>seconds</th>"
        f"<th>median</th><th>MAD</th><th>z</th></tr>{rows}</table>"
        if report.anomalies
        else "<p>No anomalies.</p>"
    )
    title = html.escape(f"{report.name}: durations over time")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{title}</title>"
        "<style>body{font-family:sans-serif;margin:1.5em}td,th{padding:2px 8px;"
        "text-align:left}</style></head><body>"
        f"<h1>{title}</h1><p>{html.escape(report.basis)}; {counted(report.runs, 'run')}.</p>"
        f"{svg}<h2>Anomalies</h2>{table}</body></html>\n"
    )
