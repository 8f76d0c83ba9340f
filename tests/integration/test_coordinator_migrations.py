"""The coordinator's migrations create what its tables declare, and go down and up again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, pool

from shipyard.coordinator import migrate
from shipyard.coordinator.schema import metadata
from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)

#: The queue's tables (the auth part's have their own revision and check).
QUEUE_TABLES = {"tasks", "attempts", "workers", "artifacts", "suites"}


def _ours(item: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
    table = item if kind == "table" else getattr(item, "table", None)
    return getattr(table, "name", name) in QUEUE_TABLES


def _differences(url: str) -> list[object]:
    engine = create_engine(migrate.sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_object": _ours})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_the_migrated_database_is_what_the_tables_declare(pg_url: str) -> None:  # noqa: F811
    import shipyard.coordinator.tables  # noqa: F401  (declares them)

    migrate.upgrade(pg_url)
    assert _differences(pg_url) == []


def test_down_to_base_and_up_again(pg_url: str) -> None:  # noqa: F811
    assert migrate.upgrade(pg_url) == migrate.heads()
    assert migrate.downgrade(pg_url, "base") == []
    assert migrate.upgrade(pg_url) == migrate.heads()
