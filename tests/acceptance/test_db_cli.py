"""shipyard db upgrade|downgrade|current on a real PostgreSQL, through the installed command."""

from __future__ import annotations

import json

import pytest

from tests.acceptance.conftest import Shipyard
from tests.postgres import Cluster, pg_cluster, pg_url  # noqa: F401  (fixtures)


def _tables(cluster: Cluster, url: str) -> set[str]:
    database = url.rsplit("/", 1)[1]
    listed = cluster.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", database)
    return set(listed.split())


def _at(shipyard: Shipyard, *args: str) -> list[str]:
    done = shipyard("db", *args, "--json")
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout)["current"])


def test_upgrade_downgrade_upgrade(shipyard: Shipyard, pg_url: str, pg_cluster: Cluster) -> None:  # noqa: F811
    assert _at(shipyard, "current", "--db", pg_url) == []
    assert _at(shipyard, "upgrade", "0001_tasks", "--db", pg_url) == ["0001_tasks"]
    assert {"tasks", "attempts", "workers", "artifacts"} <= _tables(pg_cluster, pg_url)
    assert _at(shipyard, "downgrade", "base", "--db", pg_url) == []
    assert _tables(pg_cluster, pg_url) == {"alembic_version"}
    head = _at(shipyard, "upgrade", "--db", pg_url)
    assert head and "tasks" in _tables(pg_cluster, pg_url)
    plain = shipyard("db", "current", "--db", pg_url)
    assert plain.returncode == 0 and plain.stdout.startswith(head[0])


def test_the_url_comes_from_shipyard_db_too(
    shipyard: Shipyard,
    pg_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHIPYARD_DB", pg_url)
    done = shipyard("db", "upgrade")
    assert done.returncode == 0, done.stderr
    shown = json.loads(shipyard("db", "current", "--db", pg_url, "--json").stdout)
    assert shown["current"] == shown["head"] != []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["db", "current"], "no database given"),
        (["db", "current", "--db", "mysql://root@127.0.0.1/x"], "must be PostgreSQL"),
        (["db", "current", "--db", "sqlite:///tmp/x.db"], "must be PostgreSQL"),
        (["db", "current", "--db", "postgresql://nobody@127.0.0.1:1/x"], "cannot read"),
    ],
)
def test_bad_input_is_one_message(shipyard: Shipyard, args: list[str], said: str) -> None:
    done = shipyard(*args)
    assert done.returncode != 0
    assert said in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_an_unknown_revision_is_refused(shipyard: Shipyard, pg_url: str) -> None:  # noqa: F811
    done = shipyard("db", "upgrade", "0099_nothing", "--db", pg_url)
    assert done.returncode != 0
    assert "0099_nothing" in done.stderr and "Traceback" not in done.stderr
