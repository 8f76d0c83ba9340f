"""Bootstrapping the coordinator's users from the command line (``shipyard admin create-user``):
the first administrator has to exist before anyone can log in to create the others.

SQLAlchemy is imported inside the functions: the CLI imports this module on its commands' start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from shipyard.coordinator import passwords
from shipyard.coordinator.migrate import sqlalchemy_url
from shipyard.coordinator.tokens import name_problem
from shipyard.errors import BadRequest, Conflict, DatabaseUnavailable

if TYPE_CHECKING:
    from shipyard.coordinator.authstore import UserRow


def check_name(name: str) -> None:
    problem = name_problem("user", name)
    if problem:
        raise BadRequest(problem)


def check_new_user(name: str, password: str) -> None:
    """Refuse a name or a password the routes would refuse, before touching the database."""
    check_name(name)
    problem = passwords.password_problem(password)
    if problem:
        raise BadRequest(problem)


@contextlib.contextmanager
def _translated(url: str) -> Iterator[None]:
    """Driver errors as one message naming the server (never the URL's password)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except SQLAlchemyError as error:
        first = str(getattr(error, "orig", error)).strip().splitlines()[0]
        where = url.split("://", 1)[-1].rsplit("@", 1)[-1]
        raise DatabaseUnavailable(
            f"cannot create the user in {where}: {first}",
            hint="check that PostgreSQL runs there and the URL's user may connect",
        ) from None


def create_user(url: str, name: str, password: str, *, admin: bool) -> UserRow:
    """A new user of the coordinator at ``url`` (migrated to the auth revision at least)."""
    from sqlalchemy import create_engine, inspect, pool

    from shipyard.coordinator import authstore

    check_new_user(name, password)
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with _translated(url), engine.begin() as connection:
            if not inspect(connection).has_table("users"):
                raise BadRequest(
                    "the database has no coordinator tables yet",
                    hint="migrate it first: shipyard db upgrade --db URL",
                )
            row = authstore.create_user(
                connection, name, passwords.hash_password(password), admin=admin
            )
            if row is None:
                raise Conflict(
                    f"a user named {name!r} exists",
                    hint="choose another name; an administrator can reset a password through "
                    "POST /users/NAME/password",
                )
            return row
    finally:
        engine.dispose()
