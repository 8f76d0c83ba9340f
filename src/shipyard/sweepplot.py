"""A sweep's plot: a metric against each swept parameter (PNG, matplotlib's Agg backend).

Imported only by ``sweep_plot``: matplotlib costs ~0.3 s to import, which no other command
should pay.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError, from_os_error

if TYPE_CHECKING:
    from shipyard.sweep import ParameterStats, SweepReport


def chosen_metric(report: SweepReport, metric: str | None) -> str:
    """The metric asked for, else the objective's, else the first one reported."""
    reported = sorted({stat.metric for stat in report.stats})
    if metric is None and report.settings.objective:
        metric = report.settings.objective.rpartition(":")[0]
    if metric is None and reported:
        metric = reported[0]
    if metric is None or metric not in reported:
        shown = ", ".join(reported) if reported else "none"
        raise ShipyardError(
            f"sweep {report.id} has no figures of metric '{metric}' to plot"
            if metric
            else f"sweep {report.id} has no metrics to plot",
            hint=f"metrics its succeeded points reported: {shown}; steps report them by "
            "appending JSON lines to $SHIPYARD_METRICS",
        )
    return metric


def plot(report: SweepReport, path: str, metric: str | None = None) -> str:
    """Write the PNG at ``path`` (one panel per swept parameter: the mean over the points
    holding each value, bars from min to max) and return the path."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt

    name = chosen_metric(report, metric)
    swept = list(report.settings.matrix)
    figure, axes = plt.subplots(1, len(swept), figsize=(4.5 * len(swept), 3.6), squeeze=False)
    for axis, parameter in zip(axes[0], swept, strict=True):
        _panel(
            axis,
            parameter,
            [s for s in report.stats if s.parameter == parameter and s.metric == name],
        )
        axis.set_ylabel(name)
    figure.suptitle(
        f"{report.name}: {name}, mean per value (bars: min to max) — {report.id}", fontsize=9
    )
    figure.tight_layout()
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)  # as analyze --html makes its folder
        figure.savefig(target, format="png", dpi=100)
    except OSError as error:
        raise from_os_error(error, "write the plot", target) from None
    finally:
        plt.close(figure)
    return str(target)


def _panel(axis: object, parameter: str, stats: list[ParameterStats]) -> None:
    from matplotlib.axes import Axes

    assert isinstance(axis, Axes)
    # Values as categories, in the sweep's order: 1M, 4M, 16M are no numbers to space out.
    positions = list(range(len(stats)))
    means = [s.mean for s in stats]
    below = [s.mean - s.min for s in stats]
    above = [s.max - s.mean for s in stats]
    axis.errorbar(positions, means, yerr=[below, above], fmt="o-", capsize=4)
    axis.set_xticks(positions, [str(s.value) for s in stats])
    axis.set_xlabel(parameter)
    axis.grid(alpha=0.3)
