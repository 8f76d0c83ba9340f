"""The coordinator's database: shipyard db upgrade|downgrade|current (issue 13 §3).

Commands registered on :data:`shipyard.cli.app.app` when :mod:`shipyard.cli.commands` imports
this module. Alembic and SQLAlchemy load inside the commands (through
:mod:`shipyard.coordinator.migrate`): every command line pays for what is imported here.

No ``from __future__ import annotations``: Typer reads the commands' annotations.
"""

import json
import sys
from typing import Annotated

import typer

from shipyard.cli.app import _SETTINGS, JsonOption, app
from shipyard.errors import BadRequest

db_app = typer.Typer(
    help="The coordinator's PostgreSQL database: migrate it (upgrade, downgrade) and show its "
    "revision (current).",
    **_SETTINGS,
)
app.add_typer(db_app, name="db")

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="SHIPYARD_DB",
        help="The database: postgresql://user@host:5432/name",
        show_default=False,
    ),
]


def _url(db: str | None) -> str:
    if not db:
        raise BadRequest(
            "no database given",
            hint="pass --db postgresql://user@host:5432/name or set SHIPYARD_DB",
        )
    return db


def _show(revisions: list[str], *, as_json: bool, said: str) -> None:
    from shipyard.coordinator.migrate import heads

    latest = heads()
    if as_json:
        sys.stdout.write(json.dumps({"current": revisions, "head": latest}) + "\n")
        return
    at = ", ".join(revisions) or "no revision (empty database)"
    tail = "" if revisions == latest else f" (newest: {', '.join(latest)})"
    sys.stdout.write(f"{said}{at}{tail}\n")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[
        str, typer.Argument(help="The revision to reach [default: head, the newest].")
    ] = "head",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Migrate the database up to REVISION (the newest by default)."""
    from shipyard.coordinator.migrate import upgrade

    _show(upgrade(_url(db), revision), as_json=as_json, said="at ")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str,
        typer.Argument(
            help="The revision to go back to ('base': none, every table dropped).",
            show_default=False,
        ),
    ],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Migrate the database down to REVISION. Dropped tables lose their rows."""
    from shipyard.coordinator.migrate import downgrade

    _show(downgrade(_url(db), revision), as_json=as_json, said="at ")


@db_app.command("current")
def db_current(db: DbOption = None, as_json: JsonOption = False) -> None:
    """The revision the database is at, and the newest this Shipyard knows."""
    from shipyard.coordinator.migrate import current

    _show(current(_url(db)), as_json=as_json, said="")
