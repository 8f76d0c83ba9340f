"""The ``shipyard`` command's entry point.

Kept free of Typer: a plain ``shipyard status`` is answered by :mod:`shipyard.cli.front` without
importing it (~50 ms of an 80 ms budget); every other line goes to the Typer app in
:mod:`shipyard.cli.commands`, whose names stay reachable from here (``main.app``).
"""

from __future__ import annotations

import os
import sys
from typing import Any


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code (no ``sys.exit``: testable)."""
    args = server_options(sys.argv[1:] if argv is None else list(argv))
    from shipyard.cli.front import guarded, quick

    command = quick(args)
    if command is not None:
        return guarded(command)
    from shipyard.cli.commands import main as typer_main

    return typer_main(args)


#: Root options naming a server (docs/server.md): before the command, as ``--server URL``.
_SERVER_OPTIONS = {"--server": "SHIPYARD_SERVER", "--token": "SHIPYARD_TOKEN"}


def server_options(args: list[str]) -> list[str]:
    """``args`` without the leading ``--server URL`` and ``--token TOKEN``, which become
    ``$SHIPYARD_SERVER`` and ``$SHIPYARD_TOKEN`` (every command, the fast ``status`` too,
    reads them where it gets its operations: :func:`shipyard.cli.front.ops`)."""
    while args:
        name, equals, value = args[0].partition("=")
        if name not in _SERVER_OPTIONS:
            break
        if not equals:
            if len(args) < 2:
                break  # left to Typer, which says the value is missing
            value = args[1]
            args = args[1:]
        os.environ[_SERVER_OPTIONS[name]] = value
        args = args[1:]
    return args


def run_cli() -> None:
    code = main()
    # Leave without the interpreter's teardown, which frees every module and object one by one
    # (30-40 ms here, on every command). Nothing is lost: what Shipyard writes to the store is
    # committed when written, and the standard streams are flushed here.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader went away (`shipyard logs … | head`)
        code = code or 1
    os._exit(code)


def __getattr__(name: str) -> Any:
    """The Typer app and its commands, as before they moved to :mod:`shipyard.cli.commands`."""
    if name.startswith("__"):
        # The import system asks for __path__ & co. on every `from shipyard.cli.main import`:
        # answering would import Typer for nothing.
        raise AttributeError(name)
    from shipyard.cli import commands

    return getattr(commands, name)
