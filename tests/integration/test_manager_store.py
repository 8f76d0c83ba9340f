"""Revision 0005_managers creates what tables.py declares for node managers, and goes down and
up again; its trigger tells channel shipyard_managers when a suite gets queued tasks."""

from __future__ import annotations

import json

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, pool

from shipyard.coordinator import migrate
from shipyard.coordinator.schema import metadata
from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)

MANAGER_TABLES = {"managers", "suite_managers", "suite_manager_events"}


def _ours(item: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
    table = item if kind == "table" else getattr(item, "table", None)
    return getattr(table, "name", name) in MANAGER_TABLES


def test_the_migrated_tables_are_what_tables_py_declares(pg_url: str) -> None:  # noqa: F811
    import shipyard.coordinator.tables  # noqa: F401  (declares them)

    migrate.upgrade(pg_url)
    engine = create_engine(migrate.sqlalchemy_url(pg_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_object": _ours})
            assert list(compare_metadata(context, metadata)) == []
    finally:
        engine.dispose()
    migrate.downgrade(pg_url, "0004_suites")
    migrate.upgrade(pg_url)


def test_a_suite_getting_queued_tasks_notifies_the_managers_channel(pg_url: str) -> None:  # noqa: F811
    migrate.upgrade(pg_url)
    url = migrate.libpq_url(pg_url)
    with psycopg.connect(url, autocommit=True) as listen, psycopg.connect(url) as db:
        listen.execute("LISTEN shipyard_managers")
        suite = db.execute(
            "INSERT INTO suites (group_id, creator_id) VALUES (1, 1) RETURNING id, uuid::text"
        ).fetchone()
        assert suite is not None
        db.execute(
            "INSERT INTO tasks (group_id, creator_id, command, suite_id) "
            "VALUES (1, 1, '{true}', %s), (1, 1, '{true}', %s)",
            (suite[0], suite[0]),
        )
        assert list(listen.notifies(timeout=0.2)) == [], "nothing before the commit"
        db.commit()
        got = [json.loads(n.payload) for n in listen.notifies(timeout=5, stop_after=1)]
        assert got == [{"recheck": suite[1]}]
        db.execute("INSERT INTO tasks (group_id, creator_id, command, suite_id) "
                   "VALUES (1, 1, '{true}', %s)", (suite[0],))  # fmt: skip
        db.commit()
        assert list(listen.notifies(timeout=0.5)) == [], "only when pending leaves 0"
