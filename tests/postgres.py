"""A throwaway PostgreSQL cluster for the tests that need one (the coordinator, issue 13).

Made by :mod:`shipyard.coordinator.throwaway` — ``initdb`` then ``pg_ctl start`` — in a
temporary folder, on a free port of 127.0.0.1 (and a Unix socket in that folder), once per test
session; each test gets a database of its own. ``initdb`` refuses to run as root, so as root the
cluster belongs to the ``postgres`` system user (``runuser``). The cluster demo
(scripts/cluster_demo.py) makes its own the same way. No binaries: the test is skipped locally
and fails under ``CI=true`` (:func:`tests.conftest.missing_component`); ``scripts/setup.sh``
installs them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.coordinator import throwaway
from tests.conftest import missing_component

SUPERUSER = throwaway.SUPERUSER


@dataclass(frozen=True)
class Cluster:
    host: str
    port: int
    folder: Path

    def url(self, database: str = "postgres", *, driver: str = "postgresql") -> str:
        """``driver`` e.g. ``postgresql+psycopg`` for SQLAlchemy."""
        return f"{driver}://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        return _as_owner(
            [_binary("psql"), "-h", self.host, "-p", str(self.port), "-U", SUPERUSER, "-d",
             database, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
            self.folder,
        )  # fmt: skip


def _binary(name: str) -> str:
    try:
        return throwaway.binary(name)
    except throwaway.PostgresMissing as missing:
        missing_component(f"{missing.message} (apt-get install postgresql)")
        raise  # not reached: missing_component skips, or fails the test


def _as_owner(command: list[str], folder: Path) -> str:
    """As :func:`throwaway.run_as_owner`, but a refusal is a RuntimeError (the fixtures
    suppress it where a failed clean-up must not fail the test)."""
    done = subprocess.run(
        [*throwaway.owner_prefix(), *command],
        capture_output=True, text=True, cwd=folder, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr}")
    return done.stdout


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A running cluster, stopped and removed on exit."""
    _binary("initdb")  # skipped (failed under CI=true) when PostgreSQL is not installed
    with throwaway.throwaway_cluster() as made:
        yield Cluster(made.host, made.port, made.folder)


_databases = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """A fresh, empty database of the session's cluster (``postgresql://…``), dropped after."""
    name = f"test_{os.getpid()}_{next(_databases)}"
    pg_cluster.psql(f"CREATE DATABASE {name}")
    yield pg_cluster.url(name)
    with contextlib.suppress(RuntimeError):
        pg_cluster.psql(f"DROP DATABASE {name} WITH (FORCE)")


def stop(cluster: Cluster) -> None:
    """Stop the cluster now (``-m fast``: every client's connection is cut), as an outage."""
    _as_owner([_binary("pg_ctl"), "-D", str(cluster.folder / "data"), "-m", "fast", "-w",
               "stop"], cluster.folder)  # fmt: skip


def start(cluster: Cluster) -> None:
    """Start a stopped cluster again on its port, with the options it was made with
    (:mod:`shipyard.coordinator.throwaway`'s; ``pg_ctl start`` does not read them back, unlike
    ``restart``), waiting until it takes connections."""
    options = f"-p {cluster.port} -k {cluster.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    _as_owner([_binary("pg_ctl"), "-D", str(cluster.folder / "data"), "-o", options, "-l",
               str(cluster.folder / "log"), "-w", "start"], cluster.folder)  # fmt: skip


def restart(cluster: Cluster) -> None:
    """``pg_ctl restart -m fast``: clients cut off, the server back on the same port."""
    _as_owner([_binary("pg_ctl"), "-D", str(cluster.folder / "data"), "-m", "fast", "-l",
               str(cluster.folder / "log"), "-w", "restart"], cluster.folder)  # fmt: skip
