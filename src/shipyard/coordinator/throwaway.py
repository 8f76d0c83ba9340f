"""A throwaway PostgreSQL cluster: ``initdb`` + ``pg_ctl start`` in a temporary folder, on a
free port of 127.0.0.1 (and a Unix socket in that folder), stopped and removed on exit.

Used by the cluster demo (``make cluster-demo``, scripts/cluster_demo.py), the tests'
fixtures (tests/postgres.py) and the benches. ``initdb`` refuses to run as root, so as root
the cluster belongs to the ``postgres`` system user (``runuser``). Durability is traded for
speed (``fsync=off``, ``--no-sync``): nothing here outlives the process that made it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import ShipyardError

SUPERUSER = "shipyard"
INSTALL_HINT = "apt-get install postgresql (scripts/setup.sh does it as root)"


class PostgresMissing(ShipyardError):
    """PostgreSQL's server binaries are not installed."""


class PostgresFailed(ShipyardError):
    """initdb, pg_ctl or psql refused; the message carries what it said."""


@dataclass(frozen=True)
class Cluster:
    host: str
    port: int
    folder: Path

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres", *, driver: str = "postgresql") -> str:
        """``driver`` e.g. ``postgresql+psycopg`` for SQLAlchemy."""
        return f"{driver}://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        return run_as_owner(
            [binary("psql"), "-h", self.host, "-p", str(self.port), "-U", SUPERUSER, "-d",
             database, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
            self.folder,
        )  # fmt: skip


def binary(name: str) -> str:
    """The newest installed PostgreSQL's ``name`` (Debian keeps them out of $PATH)."""
    installed = sorted(str(path) for path in Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    found = installed or [shutil.which(name) or ""]
    if not found[-1]:
        raise PostgresMissing(f"PostgreSQL's {name} is not installed", hint=INSTALL_HINT)
    return found[-1]


def owner_prefix() -> list[str]:
    """Run as ``postgres`` when we are root (initdb refuses root)."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def run_as_owner(command: list[str], folder: Path) -> str:
    done = subprocess.run(
        [*owner_prefix(), *command], capture_output=True, text=True, cwd=folder, check=False
    )
    if done.returncode != 0:
        raise PostgresFailed(
            f"{Path(command[0]).name} failed (exit {done.returncode}): {done.stderr.strip()}",
            hint=f"its files are in {folder}",
        )
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def throwaway_cluster(prefix: str = "shipyard-pg-") -> Iterator[Cluster]:
    """A running cluster, stopped (immediate mode: nothing to keep) and removed on exit."""
    initdb, pg_ctl = binary("initdb"), binary("pg_ctl")
    # In the system's temporary folder, not under a caller's: the postgres user must be able
    # to reach it, and a pytest tmp_path (0700, root's) is out of its reach.
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    port = free_port()
    try:
        run_as_owner([initdb, "-D", str(data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8",
                      "--no-sync"], folder)  # fmt: skip
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        run_as_owner([pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w",
                      "start"], folder)  # fmt: skip
        yield Cluster("127.0.0.1", port, folder)
    finally:
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(PostgresFailed):
                run_as_owner([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], folder)
        shutil.rmtree(folder, ignore_errors=True)
