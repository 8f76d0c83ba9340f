"""The auth revision (0002_auth) creates what :mod:`shipyard.coordinator.authschema` declares,
and goes down to the queue's revision and up again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool

import shipyard.coordinator.authschema  # noqa: F401  (declares the tables)
from shipyard.coordinator import migrate
from shipyard.coordinator.schema import metadata
from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)

AUTH_TABLES = {"users", "groups", "memberships", "principals", "signing_keys"}


def _ours(item: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
    table = item if kind == "table" else getattr(item, "table", None)
    return getattr(table, "name", name) in AUTH_TABLES


def _differences(url: str) -> list[object]:
    engine = create_engine(migrate.sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_object": _ours})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(migrate.sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_auth_tables_are_what_the_schema_declares(pg_url: str) -> None:  # noqa: F811
    migrate.upgrade(pg_url, "0002_auth")
    assert _differences(pg_url) == []


def test_the_auth_revision_goes_down_and_up(pg_url: str) -> None:  # noqa: F811
    assert migrate.upgrade(pg_url, "0002_auth") == ["0002_auth"]
    assert _tables(pg_url) >= AUTH_TABLES
    assert migrate.downgrade(pg_url, "0001_tasks") == ["0001_tasks"]
    assert not AUTH_TABLES & _tables(pg_url)
    assert migrate.upgrade(pg_url, "0002_auth") == ["0002_auth"]
    assert _tables(pg_url) >= AUTH_TABLES
