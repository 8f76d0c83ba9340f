"""shipyard metrics NAME (issue 15 §3) and shipyard models register|list|show|promote|rollback|
path (issue 15 §4).

Commands registered on :data:`shipyard.cli.commands.app` when that module is imported.
Import heavy modules inside the commands: every command line pays for what is imported here.

No ``from __future__ import annotations``: Typer reads the commands' annotations (see
commands.py).
"""

import sys
from typing import Annotated

import typer

from shipyard.cli.app import _SETTINGS, HomeOption, JsonOption, app
from shipyard.cli.front import dump as _dump
from shipyard.cli.front import ops as _ops


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


@app.command()
def metrics(
    name: Annotated[
        str,
        typer.Argument(help="A registered pipeline's name, or a spec's name.", show_default=False),
    ],
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only executions created since: a duration ago (7d, 12h) or an ISO 8601 time.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="The newest executions looked at, at most.")
    ] = 1000,
    chart: Annotated[
        str | None,
        typer.Option(
            "--chart",
            help="Also draw the durations over time: FILE.png, or FILE.html (self-contained).",
            show_default=False,
        ),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """A pipeline's record: runs, success and failure rates, p50/p95/p99 durations overall
    and per step, runs per day, and anomalies — runs or steps whose duration's robust z-score
    (0.6745·(x − median)/MAD) is past 3.5, each with its figures."""
    from shipyard.cli.mlrender import metrics_text

    report = _ops(home).pipeline_metrics(name, since=since, limit=limit, chart=chart)
    if as_json:
        _dump(report)
        return
    _say(metrics_text(report))


models_app = typer.Typer(
    help="The model registry: versions of a model's file or folder, stored by content under "
    "the home, with the step that made them, their metrics and their stage (staging, "
    "production, archived).",
    **_SETTINGS,
)
app.add_typer(models_app, name="models")

ModelArgument = Annotated[str, typer.Argument(help="The model's name.", show_default=False)]


@models_app.command("register")
def models_register(
    name: ModelArgument,
    path: Annotated[str, typer.Argument(help="The model's file or folder.", show_default=False)],
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="The EXEC/STEP that made it (checked to exist).",
            show_default=False,
        ),
    ] = None,
    metrics_text: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            help="Its figures: NAME=VALUE,… (accuracy=0.91,loss=0.2).",
            show_default=False,
        ),
    ] = None,
    metrics_from: Annotated[
        str | None,
        typer.Option(
            "--metrics-from",
            help="Take its figures from what EXEC/STEP reported ($SHIPYARD_METRICS).",
            show_default=False,
        ),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Store PATH as the next version of NAME (1, 2, …), in staging. The same content twice
    is stored once."""
    from shipyard.cli.mlrender import registered_text
    from shipyard.mlregistry import parse_metrics

    figures = parse_metrics(metrics_text) if metrics_text is not None else None
    version = _ops(home).model_register(
        name, path, source=source, metrics=figures, metrics_from=metrics_from
    )
    if as_json:
        _dump(version)
        return
    _say(registered_text(version))


@models_app.command("list")
def models_list(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """The registered models, their versions and which one is in production."""
    from shipyard.cli.mlrender import models_text

    found = _ops(home).model_list()
    if as_json:
        _dump(found)
        return
    _say(models_text(found))


@models_app.command("show")
def models_show(
    name: ModelArgument,
    version: Annotated[
        int | None,
        typer.Option("--version", help="Only this version (and its events).", show_default=False),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """A model's versions (digest, size, where it came from, metrics, stage) and every stage
    change with who made it and when."""
    from shipyard.cli.mlrender import model_text

    found = _ops(home).model_show(name, version=version)
    if as_json:
        _dump(found)
        return
    _say(model_text(found))


@models_app.command("promote")
def models_promote(
    name: ModelArgument,
    to: Annotated[
        int, typer.Option("--to", help="The version to put in production.", show_default=False)
    ],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Put a version in production; the one in production until now is archived."""
    from shipyard.cli.mlrender import change_text

    change = _ops(home).model_promote(name, to)
    if as_json:
        _dump(change)
        return
    _say(change_text(change))


@models_app.command("rollback")
def models_rollback(
    name: ModelArgument,
    to: Annotated[
        int | None,
        typer.Option(
            "--to",
            help="The version to go back to [default: the one in production before]",
            show_default=False,
        ),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Production goes back to the version in production before the current one (or the
    one named); the current one is archived."""
    from shipyard.cli.mlrender import change_text

    change = _ops(home).model_rollback(name, version=to)
    if as_json:
        _dump(change)
        return
    _say(change_text(change))


@models_app.command("path")
def models_path(
    name: ModelArgument,
    stage: Annotated[
        str,
        typer.Option("--stage", help="The stage whose latest version is meant."),
    ] = "production",
    version: Annotated[
        int | None,
        typer.Option("--version", help="This version, whatever its stage.", show_default=False),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print where the registry keeps the model's file (or folder), for a deploy step."""
    found = _ops(home).model_path(name, stage=stage, version=version)
    if as_json:
        _dump({"path": found})
        return
    _say(found)
