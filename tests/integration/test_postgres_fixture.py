"""The throwaway PostgreSQL the coordinator's tests use really runs, answers on 127.0.0.1, and
gives each test a database of its own."""

from __future__ import annotations

import psycopg

from tests.postgres import Cluster, pg_cluster, pg_url  # noqa: F401  (fixtures)


def test_a_database_of_its_own_that_answers(pg_url: str, pg_cluster: Cluster) -> None:  # noqa: F811
    with psycopg.connect(pg_url) as connection:
        row = connection.execute("SELECT current_database(), inet_server_addr()::text").fetchone()
    assert row is not None
    assert row[0] == pg_url.rsplit("/", 1)[1]
    assert row[1].startswith("127.0.0.1")
    assert row[0] in pg_cluster.psql("SELECT datname FROM pg_database")
