"""What every command of the CLI shares (consoles, JSON output, error reports), and ``status``
and ``ps`` answered without Typer.

``shipyard status`` is the command people and scripts run most, and its budget is 80 ms
(docs/performance.md). Importing Typer and Click alone costs ~50 ms of that, so a plain
``status`` line (an id, ``--all``/``-a``, ``--json``, ``--home``) is parsed here; anything else —
``--help``, an unknown option, a second argument — goes to the Typer app, which gives the same
answer or the same error as always. Nothing here imports Typer or Rich until it prints a table.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from rich.console import Console

    from shipyard.api import Operations


@functools.cache
def _console(*, stderr: bool = False) -> Console:
    """Rich colours follow NO_COLOR; off a terminal, lines are not wrapped at 80 columns.

    Made on first use: commands that print JSON or one plain line never import Rich.
    """
    from rich.console import Console

    probe = Console(stderr=stderr)
    width = None if probe.is_terminal or os.environ.get("COLUMNS") else 200
    # markup=False, emoji=False: user text (commands, reasons, log lines) is printed as it is,
    # never parsed (":fire:" in a reason stays text; and Rich's emoji table, ~3 ms to import,
    # is left out).
    return Console(stderr=stderr, highlight=False, markup=False, emoji=False, width=width)


def console() -> Console:
    return _console()


def error_console() -> Console:
    return _console(stderr=True)


def ops(home: Path | None) -> Operations:
    """The operations every command uses: of the server named by ``--server`` (or
    ``$SHIPYARD_SERVER``; its token from ``--token``, ``$SHIPYARD_TOKEN`` or the token file
    under ``home``), else in this process on ``home``."""
    from shipyard import connect

    server = os.environ.get("SHIPYARD_SERVER")
    if server:
        return connect(home, url=server)
    return connect(home)


def dump(value: Any) -> None:
    """The JSON form of a result (record, plan, or list of them), to stdout."""
    from shipyard.models import to_jsonable

    sys.stdout.write(json.dumps(to_jsonable(value), indent=2) + "\n")


#: errno values of a disk or folder that refuses: ENOSPC, EDQUOT, EROFS, EACCES, EPERM, EIO.
DISK_FAULTS = frozenset({28, 122, 30, 13, 1, 5})


def report(error: ShipyardError) -> int:
    error_console().print(f"error: {error.message}", style="bold red", markup=False)
    if error.hint:
        error_console().print(f"  hint: {error.hint}", style="dim", markup=False)
    return error.exit_code


def guarded(command: Callable[[], None]) -> int:
    """Run one command and return its exit code: errors a user can cause as one message."""
    try:
        command()
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except ShipyardError as error:
        return report(error)
    except OSError as error:
        # The last line of defence: a fault of the disk that no boundary below translated
        # (each should) is still one message, not a traceback.
        if error.errno not in DISK_FAULTS:
            raise
        from shipyard.errors import from_os_error

        return report(from_os_error(error, "use"))
    except KeyboardInterrupt:
        error_console().print("interrupted", style="yellow")
        return 130
    return 0


def show_status(
    execution_id: str | None, *, show_all: bool, home: Path | None, as_json: bool
) -> None:
    """``shipyard status``: one execution (the latest when no id is given), unit by unit."""
    result = ops(home).status(execution_id)
    if as_json:
        dump(result)
        return
    from shipyard.cli import render

    console().print(render.status_header(result))
    console().print(render.status_table(result, show_all=show_all))
    figures = render.metrics_table(result, show_all=show_all)
    if figures is not None:
        console().print(figures)


def show_services(execution_id: str | None, *, home: Path | None, as_json: bool) -> None:
    """``shipyard ps``: a fleet's services (the latest fleet's when no id is given)."""
    operations = ops(home)
    status = operations.status(execution_id or operations.latest_fleet(active=False))
    if as_json:
        dump(status.units)
        return
    from shipyard.cli import render

    console().print(render.status_header(status))
    console().print(render.services_table(status))


def quick(argv: list[str]) -> Callable[[], None] | None:
    """The command ``argv`` names when it can run without Typer, or None (Typer's to parse)."""
    if not argv or argv[0] not in ("status", "ps"):
        return None
    status = argv[0] == "status"
    parsed = parse_status(argv[1:], os.environ.get("SHIPYARD_HOME"), with_all=status)
    if parsed is None:
        return None
    execution_id, show_all, home, as_json = parsed
    if not status:
        return functools.partial(show_services, execution_id, home=home, as_json=as_json)
    return functools.partial(
        show_status, execution_id, show_all=show_all, home=home, as_json=as_json
    )


def parse_status(
    args: list[str], home_env: str | None, *, with_all: bool = True
) -> tuple[str | None, bool, Path | None, bool] | None:
    """``status``'s (or, without ``--all``, ``ps``'s) arguments as Typer reads them — (id,
    --all, --home, --json) — or None for anything else, left to Typer (help, errors, forms
    this does not know)."""
    execution_id: str | None = None
    show_all = as_json = False
    home = home_env or None  # Click's envvar: an empty variable counts as unset
    words = iter(args)
    for word in words:
        if with_all and word in ("--all", "-a"):
            show_all = True
        elif word == "--json":
            as_json = True
        elif word == "--home" or word.startswith("--home="):
            home = word.partition("=")[2] if "=" in word else next(words, "")
            if not home:
                return None  # missing or empty: Typer says what is wrong
        elif word.startswith("-") or execution_id is not None:
            return None
        else:
            execution_id = word
    return execution_id, show_all, Path(home) if home else None, as_json
