"""Migrating the coordinator's database from code: ``shipyard db upgrade|downgrade|current``.

Alembic's command API with a ``Config`` built here (``script_location`` inside the package, the
URL handed over in ``attributes``), so no ``alembic.ini`` has to sit next to whoever runs it.
Alembic and SQLAlchemy are imported inside the functions: the CLI imports this module on start.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import BadRequest, DatabaseUnavailable

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def sqlalchemy_url(url: str) -> str:
    """``postgresql://…`` as SQLAlchemy's psycopg 3 driver wants it; anything else refused."""
    if not url.startswith(_SCHEMES):
        shown = url.split("://", 1)[0] + "://…" if "://" in url else url[:40]
        raise BadRequest(
            f"the coordinator's database must be PostgreSQL, got {shown!r}",
            hint="give --db (or SHIPYARD_DB) a URL like postgresql://user@host:5432/shipyard",
        )
    from shipyard.serverurl import database_url_problem

    problem = database_url_problem(url) if "," not in url else None  # libpq's host1,host2
    if problem is not None:
        raise BadRequest(
            f"the database URL {_shown(url)!r} {problem}",
            hint="give --db (or SHIPYARD_DB) a URL like postgresql://user@host:5432/shipyard",
        )
    rest = url.split("://", 1)[1]
    return f"postgresql+psycopg://{rest}"


def _shown(url: str) -> str:
    """The URL without its password (it may be on a screen shared with others)."""
    scheme, _, rest = url.partition("://")
    credentials, at, where = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}{':…' if ':' in credentials else ''}{at}{where}"[:200]


def libpq_url(url: str) -> str:
    """The same URL as psycopg (libpq) reads it."""
    return "postgresql://" + sqlalchemy_url(url).split("://", 1)[1]


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config(stdout=io.StringIO())
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = sqlalchemy_url(url)
    return config


@contextlib.contextmanager
def _translated(url: str, doing: str) -> Iterator[None]:
    """Driver and Alembic errors as one ShipyardError with the URL's host, never a traceback."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except CommandError as error:
        raise BadRequest(
            f"cannot {doing}: {error}",
            hint=f"`shipyard db current` shows the revision; the revisions are {_revisions()} "
            "(base: none; head: the newest; N+1 / N-1 count from N)",
        ) from None
    except SQLAlchemyError as error:
        first = str(getattr(error, "orig", error)).strip().splitlines()[0]
        raise DatabaseUnavailable(
            f"cannot {doing} {_where(url)}: {first}",
            hint="check that PostgreSQL runs there and the URL's user may connect",
        ) from None


def _revisions() -> str:
    """Every revision this Shipyard ships, oldest first (the files' names say their order)."""
    names = sorted(path.stem for path in (MIGRATIONS / "versions").glob("[0-9]*.py"))
    return ", ".join(["base", *names])


def _where(url: str) -> str:
    """The URL without its password, to show."""
    rest = url.split("://", 1)[-1]
    return rest.rsplit("@", 1)[-1]


def upgrade(url: str, revision: str = "head") -> list[str]:
    """Bring the database to ``revision``; the revisions it is at afterwards."""
    from alembic import command

    with _translated(url, f"upgrade to {revision}"):
        command.upgrade(alembic_config(url), revision)
    return current(url)


def downgrade(url: str, revision: str) -> list[str]:
    """Take the database back to ``revision`` (``base``: no tables at all)."""
    from alembic import command

    with _translated(url, f"downgrade to {revision}"):
        command.downgrade(alembic_config(url), revision)
    return current(url)


def current(url: str) -> list[str]:
    """The revisions the database is at (empty: never migrated)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, pool

    with _translated(url, "read the revision of"):
        engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
        try:
            with engine.connect() as connection:
                return sorted(MigrationContext.configure(connection).get_current_heads())
        finally:
            engine.dispose()


def heads() -> list[str]:
    """The newest revisions this Shipyard knows."""
    from alembic.script import ScriptDirectory

    return sorted(ScriptDirectory.from_config(alembic_config("postgresql://")).get_heads())
