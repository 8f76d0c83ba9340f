"""shipyard monitor, analyze and history (issue 12 §4).

Commands registered on :data:`shipyard.cli.commands.app` when that module is imported.
Import heavy modules inside the commands: every command line pays for what is imported here.

No ``from __future__ import annotations``: Typer reads the commands' annotations (see
commands.py).
"""

import json
import math
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli.app import MAX_LIMIT, HomeOption, JsonOption, app
from shipyard.cli.front import console
from shipyard.cli.front import dump as _dump
from shipyard.cli.front import ops as _ops
from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from shipyard.analysis import MonitorSnapshot
    from shipyard.api import Operations

ExecOption = Annotated[
    str | None,
    typer.Argument(
        help="Execution id or pipeline name [default: the latest execution]", show_default=False
    ),
]

#: The bounds of ``monitor --interval``, seconds.
INTERVAL_BOUNDS = (0.1, 3600.0)


def _interval(value: float) -> float:
    low, high = INTERVAL_BOUNDS
    if not math.isfinite(value) or not low <= value <= high:
        raise ShipyardError(
            f"--interval {value:g} is outside {low:g}-{high:g} seconds",
            hint="give the seconds between two snapshots, e.g. --interval 2",
        )
    return value


@app.command()
def monitor(
    execution_id: ExecOption = None,
    interval: Annotated[
        float,
        typer.Option(
            "--interval",
            envvar="SHIPYARD_MONITOR_INTERVAL",
            help="Seconds between two snapshots.",
        ),
    ] = 2.0,
    home: HomeOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON snapshot per line (stable, documented).")
    ] = False,
) -> None:
    """Watch an execution until it ends: each unit's state, measured CPU and memory (with
    sparklines over the snapshots seen), the estimated end and any alerts."""
    pause = _interval(interval)
    ops = _ops(home)
    if as_json:
        _stream_json(ops, execution_id, pause)
    else:
        _live(ops, execution_id, pause)


def _stream_json(ops: "Operations", execution_id: str | None, pause: float) -> None:
    from shipyard.models import to_jsonable

    snapshot = ops.monitor(execution_id)
    while True:
        sys.stdout.write(json.dumps(to_jsonable(snapshot)) + "\n")
        sys.stdout.flush()
        if snapshot.status.state.finished:
            return
        time.sleep(pause)
        snapshot = ops.monitor(snapshot.execution_id)


def _live(ops: "Operations", execution_id: str | None, pause: float) -> None:
    from rich.live import Live

    from shipyard.cli.analysis_render import Trend, monitor_view

    trend = Trend()
    snapshot: MonitorSnapshot = ops.monitor(execution_id)
    trend.add(snapshot)
    with Live(monitor_view(snapshot, trend), console=console(), auto_refresh=False) as live:
        while not snapshot.status.state.finished:
            time.sleep(pause)
            snapshot = ops.monitor(snapshot.execution_id)
            trend.add(snapshot)
            live.update(monitor_view(snapshot, trend), refresh=True)


@app.command()
def analyze(
    execution_id: ExecOption = None,
    baseline: Annotated[
        str,
        typer.Option(
            "--baseline",
            help="Compare with: an execution id, auto (the previous success of the same "
            "pipeline with the same parameters) or none.",
        ),
    ] = "auto",
    html: Annotated[
        str | None,
        typer.Option(
            "--html",
            help="Also write a self-contained HTML report (Gantt timeline of every attempt).",
            show_default=False,
        ),
    ] = None,
    cores: Annotated[
        int | None,
        typer.Option(
            "--cores",
            help="Cores the CPU efficiency is counted against [default: this machine's]",
            show_default=False,
        ),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Judge an execution: critical path, bottlenecks, CPU efficiency, failures, per-step
    deltas against a baseline, and recommendations that each quote the figure they rest on."""
    report = _ops(home).analyze(execution_id, baseline=baseline, html=html, cores=cores)
    if as_json:
        _dump(report)
        return
    from shipyard.cli.analysis_render import analysis_view

    console().print(analysis_view(report))


@app.command()
def history(
    name: Annotated[
        str,
        typer.Argument(help="A registered pipeline's name, or a spec's name.", show_default=False),
    ],
    limit: Annotated[
        int, typer.Option("--limit", max=MAX_LIMIT, help="The newest executions looked at.")
    ] = 100,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """A pipeline's executions: success rate, and p50/p95/p99 durations overall and per step
    (of the successful runs)."""
    found = _ops(home).history(name, limit=limit)
    if as_json:
        _dump(found)
        return
    from shipyard.cli.analysis_render import history_view

    console().print(history_view(found))
