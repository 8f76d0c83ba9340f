"""shipyard rollout start|status|promote|abort (issue 15 §5): a canary of a running fleet's
service behind its measuring proxy.

Commands registered on :data:`shipyard.cli.commands.app` when that module is imported. No ``from
__future__ import annotations``: Typer reads the commands' annotations (see commands.py).
"""

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli.app import _SETTINGS, HomeOption, JsonOption, app
from shipyard.cli.front import dump as _dump
from shipyard.cli.front import ops as _ops
from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from shipyard.rollout.status import RolloutView

rollout_app = typer.Typer(
    help="Canary rollouts: a service's new version (the same service with its environment "
    "changed) beside the running one, behind a proxy on the service's port that measures "
    "both; promoted step by step while its KPIs hold, rolled back at once when one breaks.",
    **_SETTINGS,
)
app.add_typer(rollout_app, name="rollout")

ExecArgument = Annotated[
    str, typer.Argument(help="The running fleet's execution id or name.", show_default=False)
]
ServiceArgument = Annotated[
    str, typer.Argument(help="The service (it has rollout: in the spec).", show_default=False)
]


def parse_env(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` items as a mapping; a malformed one is an error naming it."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ShipyardError(
                f"--env {pair!r} is not KEY=VALUE", hint="like --env MODEL_VERSION=2"
            )
        env[key.strip()] = value
    return env


def view_text(view: "RolloutView") -> str:
    """A rollout in a few lines, for people."""
    lines = [f"{view.service}: {view.state.replace('_', ' ')}"]
    if view.port is not None:
        lines[0] += f" (port {view.port})"
    if view.state == "none":
        lines.append("  no rollout yet: shipyard rollout start EXEC SERVICE --env KEY=VALUE")
        return "\n".join(lines)
    if view.steps:
        lines.append(f"  steps {view.steps}, canary at {view.weight}%")
    if view.changes:
        shown = " ".join(f"{k}={v}" for k, v in view.changes.items())
        lines.append(f"  new version: {shown}")
    if view.reason:
        lines.append(f"  why: {view.reason}")
    for decision in view.decisions[-5:]:
        lines.append(f"  - {decision}")
    return "\n".join(lines)


def _show(views: "list[RolloutView]", as_json: bool) -> None:
    if as_json:
        _dump(views)
        return
    if not views:
        sys.stdout.write("no service of this execution has rollout settings\n")
    for view in views:
        sys.stdout.write(view_text(view) + "\n")


@rollout_app.command("start")
def start(
    execution: ExecArgument,
    service: ServiceArgument,
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env",
            "-e",
            help="KEY=VALUE: what the new version changes in the service's environment "
            "(repeat it).",
            show_default=False,
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Return once it is promoted, rolled back or aborted."),
    ] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start a canary of SERVICE: the same command with --env changes, on an internal port,
    taking the spec's steps of the traffic while its KPIs hold."""
    view = _ops(home).rollout_start(execution, service, env=parse_env(env or []), wait=wait)
    _show([view], as_json)
    if wait and view.state != "promoted":
        raise typer.Exit(1)


@rollout_app.command("status")
def status(
    execution: ExecArgument,
    service: Annotated[
        str | None, typer.Argument(help="Only this service.", show_default=False)
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """The latest rollout of each service with rollout settings: its state, the canary's
    share, the measured figures behind each decision, and why it ended."""
    _show(_ops(home).rollout_status(execution, service), as_json)


@rollout_app.command("promote")
def promote(
    execution: ExecArgument,
    service: ServiceArgument,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Skip the remaining steps: the canary becomes the service, the old version stops."""
    _show([_ops(home).rollout_promote(execution, service)], as_json)


@rollout_app.command("abort")
def abort(
    execution: ExecArgument,
    service: ServiceArgument,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send every request back to the stable version at once and stop the canary."""
    _show([_ops(home).rollout_abort(execution, service)], as_json)
