"""The root Typer app of ``shipyard`` and the options its command modules share.

A module of its own so that the command modules (:mod:`shipyard.cli.commands` and the
``*_cli`` groups it imports) all depend on it rather than on each other. No ``from __future__
import annotations``: Typer reads the options' annotations at each start (see commands.py).
"""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from shipyard.api import ValidationReport
    from shipyard.plan.model import RunMode

#: Every Typer app here (the root, its groups, a single command run alone) behaves alike.
_SETTINGS: dict[str, Any] = {
    "no_args_is_help": True,
    "add_completion": False,
    "pretty_exceptions_enable": False,
    "rich_markup_mode": None,
    "context_settings": {"help_option_names": ["-h", "--help"]},
}

app = typer.Typer(
    name="shipyard",
    help="Deploy, run and watch pipelines from one declarative YAML file.",
    **_SETTINGS,
)


HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar="SHIPYARD_HOME",
        help="Folder of the state database and run directories [default: ./.shipyard]",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (stable, documented).")]
#: The largest ``--limit`` a listing takes: SQLite's integers are 64-bit, and a larger number
#: reached it as an OverflowError traceback; no listing needs more rows than this.
MAX_LIMIT = 100_000
ParamOption = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Set a parameter: -p name=value (repeatable)."),
]
SecretParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        help="Give a secret parameter again: -p name=value (never stored; "
        "$SHIPYARD_PARAM_<NAME> keeps it off the command line).",
    ),
]
ModeOption = Annotated[
    str,
    typer.Option(
        "--mode",
        envvar="SHIPYARD_RUN_MODE",
        help="normal | debug (verbose, keep temp files) | profile (fast sampling, resource "
        "table) | test (parameters take their test: values)",
    ),
]
MaxParallelOption = Annotated[
    int | None,
    typer.Option(
        "--max-parallel",
        envvar="SHIPYARD_MAX_PARALLEL",
        min=1,
        help="Most units running at once [default: the spec's, else the machine's cores]",
        show_default=False,
    ),
]
SpecArgument = Annotated[
    Path,
    typer.Argument(
        help="The spec file (YAML), a registered pipeline's name (shipyard pipelines list) or "
        "index:REPO/NAME.",
        show_default=False,
    ),
]

FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="Read the file as this format: a2a | atoll | process-compose | jarvis | mitosis | "
        "shipyard [default: detected from its content; docs/importing.md]",
        show_default=False,
    ),
]

_MODES = ("normal", "debug", "profile", "test")


def _mode(value: str) -> "RunMode":
    if value not in _MODES:
        raise ShipyardError(
            f"--mode {value} is not a run mode", hint=f"use one of: {', '.join(_MODES)}"
        )
    return value  # type: ignore[return-value]  # one of _MODES: a RunMode


def _params(pairs: list[str] | None) -> dict[str, str]:
    from shipyard.spec.params import parse_assignments

    return parse_assignments(pairs or [])


def _duration(option: str, text: str) -> float:
    from shipyard.spec.quantities import parse_duration

    try:
        return parse_duration(text)
    except ValueError as error:
        raise ShipyardError(f"{option}: {error}") from None


def _show_validation(report: "ValidationReport", *, as_json: bool) -> None:
    """A validation report as JSON or as the problems' table; exit 1 when it is not valid
    (`validate` and `pipelines validate` alike)."""
    from shipyard.cli.front import console, dump

    if as_json:
        dump(report)
    else:
        from shipyard.cli import render

        console().print(render.validation(report))
    if not report.valid:
        raise typer.Exit(1)
