"""Parameter sweeps: shipyard sweep … (issue 12 §2).

Commands registered on :data:`shipyard.cli.commands.app` when that module is imported.
Import heavy modules inside the commands: every command line pays for what is imported here.

``shipyard sweep SPEC -m …`` runs a sweep, and ``shipyard sweep status|list|stop`` look at
sweeps: a group whose first word, when it is no command of the group, starts ``run``.

No ``from __future__ import annotations``: Typer reads the commands' annotations (see
commands.py); the records are imported for type checking only, hence the quoted names.
"""

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import click
import typer
from typer.core import TyperGroup

from shipyard.cli.app import _SETTINGS, MAX_LIMIT, HomeOption, JsonOption, ParamOption, app
from shipyard.cli.front import console, error_console
from shipyard.cli.front import dump as _dump
from shipyard.cli.front import ops as _ops
from shipyard.errors import ShipyardError
from shipyard.wording import counted

if TYPE_CHECKING:
    from shipyard.api import Operations
    from shipyard.sweep import SweepReport, SweepSettings

#: How often the foreground command looks at the sweep's progress.
POLL = 0.2


class _SweepGroup(TyperGroup):
    """``shipyard sweep SPEC …`` is ``shipyard sweep run SPEC …``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


sweep_app = typer.Typer(
    cls=_SweepGroup,
    help="Parameter sweeps: shipyard sweep SPEC -m name=v1,v2 … runs one execution per point "
    "of the matrix (see `shipyard sweep run --help`); status, list and stop look at sweeps.",
    **_SETTINGS,
)
app.add_typer(sweep_app, name="sweep")

CsvOption = Annotated[bool, typer.Option("--csv", help="Print every point as CSV.")]
PlotOption = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        help="Also write a PNG: the metric against each swept parameter.",
        show_default=False,
    ),
]
MetricOption = Annotated[
    str | None,
    typer.Option(
        "--metric",
        help="The metric to plot [default: the objective's, else the first reported]",
        show_default=False,
    ),
]
SweepIdArgument = Annotated[str, typer.Argument(help="The sweep's id.", show_default=False)]


@sweep_app.command("run")
def sweep_run(
    spec: Annotated[
        str,
        typer.Argument(
            help="The spec file, a registered pipeline's name, or index:REPO/NAME.",
            show_default=False,
        ),
    ],
    matrix: Annotated[
        list[str] | None,
        typer.Option(
            "--matrix", "-m", help="A swept parameter and its values: -m name=v1,v2 (repeatable)."
        ),
    ] = None,
    zip_: Annotated[
        list[str] | None,
        typer.Option(
            "--zip", help="Parameters that move together, not crossed: --zip a,b (repeatable)."
        ),
    ] = None,
    repeat: Annotated[int, typer.Option("--repeat", help="Executions of each point.")] = 1,
    max_parallel_runs: Annotated[
        int, typer.Option("--max-parallel-runs", help="Points running at once.")
    ] = 1,
    timeout_per_run: Annotated[
        str | None,
        typer.Option(
            "--timeout-per-run", help="Stop a point running longer (e.g. 30m).", show_default=False
        ),
    ] = None,
    failure_threshold: Annotated[
        float | None,
        typer.Option(
            "--failure-threshold",
            help="Start no more points once this share of all points failed (0.1 = 10%).",
            show_default=False,
        ),
    ] = None,
    objective: Annotated[
        str | None,
        typer.Option(
            "--objective", help="The best point for METRIC:max or METRIC:min.", show_default=False
        ),
    ] = None,
    slurm_array: Annotated[
        bool,
        typer.Option(
            "--slurm-array",
            help="Submit the points as one Slurm job array (--max-parallel-runs: its throttle).",
        ),
    ] = False,
    param: ParamOption = None,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Run it in the background and return at once.")
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            help="Keep the points of this earlier sweep that succeeded (same parameters).",
            show_default=False,
        ),
    ] = None,
    plot: PlotOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Run one execution per point of a parameter matrix: the Cartesian product of the -m
    parameters (those in a --zip group move together); without -m, the spec's sweep: block.

    Progress goes to stderr; then every point (parameters, state, duration, metrics), the
    statistics per parameter value and the best point. Exit code 0 only if every point
    succeeded. Ctrl-C stops the sweep and its running points.
    """
    from shipyard.cli.app import _duration, _params

    _one_format(as_json, as_csv)
    _plot_problem(plot, detach=detach)
    settings = _settings(
        matrix or [],
        zip_ or [],
        repeat=repeat,
        max_parallel_runs=max_parallel_runs,
        timeout=_duration("--timeout-per-run", timeout_per_run) if timeout_per_run else None,
        failure_threshold=failure_threshold,
        objective=objective,
        slurm_array=slurm_array,
    )
    ops = _ops(home)
    report = ops.sweep(spec, settings, _params(param), detach=True, resume=resume)
    if detach:
        _started(report, as_json=as_json)
        return
    report = _follow(ops, report)
    _show(ops, report, as_json=as_json, as_csv=as_csv, plot=plot, metric=None)
    if report.state != "succeeded":
        raise typer.Exit(1)


def _settings(
    pairs: list[str],
    groups: list[str],
    *,
    repeat: int,
    max_parallel_runs: int,
    timeout: float | None,
    failure_threshold: float | None,
    objective: str | None,
    slurm_array: bool = False,
) -> "SweepSettings | None":
    """The settings the options give; None (the spec's sweep: block) without -m."""
    from shipyard.cli.sweepview import parse_matrix, parse_zip
    from shipyard.sweep import SweepSettings

    if not pairs:
        given = [
            name
            for name, value, default in (
                ("--zip", groups, []),
                ("--repeat", repeat, 1),
                ("--max-parallel-runs", max_parallel_runs, 1),
                ("--timeout-per-run", timeout, None),
                ("--failure-threshold", failure_threshold, None),
                ("--objective", objective, None),
                ("--slurm-array", slurm_array, False),
            )
            if value != default
        ]
        if given:
            raise ShipyardError(
                f"{given[0]} goes with -m: without -m the spec's sweep: block is run as it is",
                hint="give the swept parameters with -m name=v1,v2, or set it in the sweep: block",
            )
        return None
    return SweepSettings(
        matrix=dict(parse_matrix(pairs)),  # type: ignore[arg-type]  # str values: coerced later
        zip_groups=parse_zip(groups),
        repeat=repeat,
        max_parallel_runs=max_parallel_runs,
        timeout_per_run=timeout,
        failure_threshold=failure_threshold,
        objective=objective,
        slurm_array=slurm_array,
    )


def _one_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise ShipyardError("--json and --csv both asked for", hint="choose one")


def _started(report: "SweepReport", *, as_json: bool) -> None:
    if as_json:
        _dump(report)
        return
    sys.stdout.write(
        f"{report.id} started in the background ({counted(len(report.points), 'point')})\n"
        f"  shipyard sweep status {report.id}\n  shipyard sweep stop {report.id}\n"
    )


def _follow(ops: "Operations", report: "SweepReport") -> "SweepReport":
    """Show progress on stderr until the sweep ends; Ctrl-C stops it (and its points)."""
    from shipyard.cli.sweepview import progress_line

    shown = ""

    def show(report: "SweepReport") -> str:
        line = progress_line(report)
        if line != shown:
            error_console().print(line, style="dim")
        return line

    try:
        while report.state in ("pending", "running"):
            shown = show(report)
            time.sleep(POLL)
            report = ops.sweep_status(report.id)
    except KeyboardInterrupt:
        error_console().print(f"stopping sweep {report.id} …", style="yellow")
        report = ops.sweep_stop(report.id)
    show(report)  # the last count: every point accounted for
    return report


def _show(
    ops: "Operations",
    report: "SweepReport",
    *,
    as_json: bool,
    as_csv: bool,
    plot: Path | None,
    metric: str | None,
) -> None:
    _print_report(report, as_json=as_json, as_csv=as_csv)
    # The plot comes after the results: a sweep's table is never lost to a plot that fails.
    if plot is not None:
        written = ops.sweep_plot(report.id, str(plot), metric=metric)
        error_console().print(f"plot: {written}", style="dim")


def _plot_problem(plot: Path | None, *, detach: bool) -> None:
    """Refuse a --plot that cannot be written before any point runs (it was found out only
    once the whole sweep had run), and --plot with --detach (nothing would draw it)."""
    if plot is None:
        return
    if detach:
        raise ShipyardError(
            "--plot with --detach: the sweep runs on in the background, nothing would draw it",
            hint="draw it once it ends: shipyard sweep status ID --plot FILE.png",
        )
    if not plot.name or plot.is_dir():
        raise ShipyardError(
            f"--plot {plot}: a folder, not a file", hint="give a PNG file: --plot sweep.png"
        )
    # Missing folders are made when the plot is drawn (as analyze --html and logs --export
    # make theirs); the nearest one that exists must be a folder.
    existing = next(folder for folder in plot.absolute().parents if folder.exists())
    if not existing.is_dir():
        raise ShipyardError(
            f"--plot {plot}: {existing} is a file, not a folder",
            hint="give a PNG file in a folder, e.g. --plot sweep.png",
        )


def _print_report(report: "SweepReport", *, as_json: bool, as_csv: bool) -> None:
    from shipyard.cli import sweepview

    if as_json:
        _dump(report)
        return
    if as_csv:
        sys.stdout.write(sweepview.csv_text(report))
        return
    console().print(sweepview.points_table(report))
    stats = sweepview.stats_table(report)
    if stats is not None:
        console().print(stats)
    best = sweepview.best_line(report)
    if best:
        console().print(best)
    console().print(sweepview.end_line(report))


@sweep_app.command("status")
def sweep_status(
    sweep_id: Annotated[
        str | None, typer.Argument(help="The sweep [default: the latest]", show_default=False)
    ] = None,
    plot: PlotOption = None,
    metric: MetricOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """A sweep's points, statistics per parameter value and best point (running or ended)."""
    _one_format(as_json, as_csv)
    ops = _ops(home)
    report = ops.sweep_status(sweep_id)
    _show(ops, report, as_json=as_json, as_csv=as_csv, plot=plot, metric=metric)


@sweep_app.command("list")
def sweep_list(
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=MAX_LIMIT, help="How many.")
    ] = 20,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """The latest sweeps, newest first."""
    from shipyard.cli.sweepview import list_table

    reports = _ops(home).sweep_list(limit=limit)
    if as_json:
        _dump(reports)
    elif reports:
        console().print(list_table(reports))
    else:
        sys.stdout.write("no sweeps yet\n")


@sweep_app.command("stop")
def sweep_stop(
    sweep_id: SweepIdArgument, home: HomeOption = None, as_json: JsonOption = False
) -> None:
    """Start no more points and stop the running ones (their stop signal, then SIGKILL)."""
    from shipyard.cli.sweepview import end_line

    report = _ops(home).sweep_stop(sweep_id)
    if as_json:
        _dump(report)
    else:
        sys.stdout.write(end_line(report) + "\n")
