"""shipyard admin create-user: the coordinator's first administrator (issue 13 §2).

Commands registered on :data:`shipyard.cli.app.app` when :mod:`shipyard.cli.commands` imports
this module. SQLAlchemy and the password hashing load inside the command: every command line
pays for what is imported here.

The password never comes from a flag (it would sit in the shell's history and in ``ps``):
``$SHIPYARD_PASSWORD``, else a prompt on the terminal, asked twice.

No ``from __future__ import annotations``: Typer reads the commands' annotations.
"""

import getpass
import json
import os
import sys
from typing import Annotated

import typer

from shipyard.cli.app import _SETTINGS, JsonOption, app
from shipyard.cli.db_cli import DbOption
from shipyard.errors import BadRequest

PASSWORD_VARIABLE = "SHIPYARD_PASSWORD"  # noqa: S105  (the variable's name, not a password)

admin_app = typer.Typer(
    help="The coordinator's users: create the first administrator (the others are made "
    "through the API, POST /users).",
    **_SETTINGS,
)
app.add_typer(admin_app, name="admin")


@admin_app.callback()
def admin_group() -> None:
    """The coordinator's users (a group of one command so far: Typer would otherwise make
    `shipyard admin` the command itself, and `create-user` an unexpected argument)."""


def _password() -> str:
    given = os.environ.get(PASSWORD_VARIABLE)
    if given:
        return given
    if not sys.stdin.isatty():
        raise BadRequest(
            "no password given",
            hint=f"set ${PASSWORD_VARIABLE}, or run the command in a terminal to be asked",
        )
    first = getpass.getpass("password: ")
    if getpass.getpass("the same again: ") != first:
        raise BadRequest("the two passwords differ", hint="run the command again")
    return first


@admin_app.command("create-user")
def create_user(
    name: Annotated[str, typer.Argument(help="The user's name.", show_default=False)],
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an administrator.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a user of the coordinator (password from $SHIPYARD_PASSWORD or a prompt)."""
    from shipyard.coordinator.admin import check_name, create_user

    if not db:
        raise BadRequest(
            "no database given",
            hint="pass --db postgresql://user@host:5432/name or set SHIPYARD_DB",
        )
    check_name(name)  # before asking for a password the command would refuse anyway
    row = create_user(db, name, _password(), admin=admin)
    if as_json:
        sys.stdout.write(json.dumps({"name": row.name, "admin": row.admin}) + "\n")
        return
    role = "an administrator" if row.admin else "a user"
    sys.stdout.write(
        f"created {row.name}, {role}; log in with: shipyard --server URL tasks login "
        f"{row.name} (or POST /api/v1/login)\n"
    )
