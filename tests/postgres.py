"""A throwaway PostgreSQL cluster for the tests that need one (the coordinator, issue 13).

Made with the server's own tools — ``initdb`` then ``pg_ctl start`` — in a temporary folder, on
a free port of 127.0.0.1 (and a Unix socket in that folder), once per test session; each test
gets a database of its own. ``initdb`` refuses to run as root, so as root the cluster belongs to
the ``postgres`` system user (``runuser``). No binaries: the test is skipped locally and fails
under ``CI=true`` (:func:`tests.conftest.missing_component`); ``scripts/setup.sh`` installs them.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import missing_component

SUPERUSER = "shipyard"


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
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        missing_component(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return found[-1]


def _owner_prefix() -> list[str]:
    """Run as ``postgres`` when we are root (initdb refuses root)."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _as_owner(command: list[str], folder: Path) -> str:
    done = subprocess.run(
        [*_owner_prefix(), *command], capture_output=True, text=True, cwd=folder, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr}")
    return done.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A running cluster, stopped and removed on exit."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    folder = Path(tempfile.mkdtemp(prefix="shipyard-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    port = _free_port()
    try:
        _as_owner([initdb, "-D", str(data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8",
                   "--no-sync"], folder)  # fmt: skip
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        _as_owner([pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w",
                   "start"], folder)  # fmt: skip
        yield Cluster("127.0.0.1", port, folder)
    finally:
        with contextlib.suppress(RuntimeError):
            _as_owner([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], folder)
        shutil.rmtree(folder, ignore_errors=True)


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
