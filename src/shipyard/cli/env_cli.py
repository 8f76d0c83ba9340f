"""Named environments: shipyard env capture|list|show|rm (issue 16 §4).

Commands registered on :data:`shipyard.cli.commands.app` when that module is imported. The
capture reads this process's environment — the shell the user typed the command in — and
hands the chosen variables to the operations (``environment_save``): the front end knows the
shell, the home keeps the result, wherever it is.

No ``from __future__ import annotations``: Typer reads the commands' annotations.
"""

import os
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli.app import _SETTINGS, HomeOption, JsonOption, app
from shipyard.cli.front import console
from shipyard.cli.front import dump as _dump
from shipyard.cli.front import ops as _ops
from shipyard.wording import counted

if TYPE_CHECKING:
    from shipyard.environments import EnvironmentInfo

env_app = typer.Typer(
    help="Named environments: the variables that matter (PATH, LD_LIBRARY_PATH, what modules "
    "set …) captured from this shell, applied to units by a spec's `environment: NAME`.",
    **_SETTINGS,
)
app.add_typer(env_app, name="env")

NameArgument = Annotated[str, typer.Argument(help="The environment's name.", show_default=False)]


@env_app.command("capture")
def env_capture(
    name: NameArgument,
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var", help="Keep this variable too (repeatable; it must be set).", show_default=False
        ),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Keep this shell's PATH, LD_LIBRARY_PATH, LIBRARY_PATH, CPATH, PKG_CONFIG_PATH,
    PYTHONPATH, MANPATH, MODULEPATH, LOADEDMODULES, CUDA_HOME (those set), every variable a
    module system (Lmod, Environment Modules) set, and each --var, under NAME (over an earlier
    capture of that name). Stored owner-only in the Shipyard home."""
    from shipyard.environments import check_name, chosen_variables

    check_name(name)
    variables, modules = chosen_variables(dict(os.environ), list(var or []))
    info = _ops(home).environment_save(name, variables, from_modules=modules)
    if as_json:
        _dump(info)
        return
    noted = f", {len(info.from_modules)} set by modules" if info.from_modules else ""
    sys.stdout.write(
        f"captured {info.name}: {counted(len(info.variables), 'variable')} "
        f"({', '.join(info.variables)}){noted}\n"
    )


@env_app.command("list")
def env_list(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """The named environments: variables kept and when each was captured."""
    found = _ops(home).environment_list()
    if as_json:
        _dump(found)
        return
    if not found:
        sys.stdout.write("no environments yet: shipyard env capture NAME\n")
        return
    from rich.table import Table

    table = Table("name", "variables", "captured")
    for info in found:
        table.add_row(info.name, ", ".join(info.variables), _when(info.captured_at))
    console().print(table)


@env_app.command("show")
def env_show(name: NameArgument, home: HomeOption = None, as_json: JsonOption = False) -> None:
    """One environment's variables and values, as `export` lines a shell can read."""
    info = _ops(home).environment_show(name)
    if as_json:
        _dump(info)
        return
    sys.stdout.write(show_text(info))


@env_app.command("rm")
def env_rm(name: NameArgument, home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Forget an environment. Specs that name it fail to plan until it is captured again."""
    info = _ops(home).environment_remove(name)
    if as_json:
        _dump(info)
    else:
        sys.stdout.write(f"removed {info.name}\n")


def show_text(info: "EnvironmentInfo") -> str:
    """Pure: ``# name, captured …`` then one ``export NAME='value'`` line per variable."""
    import shlex

    lines = [f"# environment {info.name}, captured {_when(info.captured_at)}\n"]
    if info.from_modules:
        lines.append(f"# set by modules: {', '.join(info.from_modules)}\n")
    lines += [f"export {key}={shlex.quote(value)}\n" for key, value in info.variables.items()]
    return "".join(lines)


def _when(stamp: datetime | None) -> str:
    """A capture time in local time, as the other commands show times."""
    return stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S") if stamp else "unknown"
