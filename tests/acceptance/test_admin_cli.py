"""shipyard admin create-user on a real PostgreSQL, through the installed command: the first
administrator exists and can log in; bad input is one message, never a traceback."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import time
from pathlib import Path

import pytest

from shipyard.coordinator import passwords
from tests.acceptance.conftest import Shipyard, shipyard_executable
from tests.postgres import Cluster, pg_cluster, pg_url  # noqa: F401  (fixtures)

PASSWORD = "first admin's password"


@pytest.fixture
def migrated(shipyard: Shipyard, pg_url: str) -> str:  # noqa: F811
    done = shipyard("db", "upgrade", "--db", pg_url)
    assert done.returncode == 0, done.stderr
    return pg_url


def _stored(cluster: Cluster, url: str, name: str) -> tuple[str, bool] | None:
    database = url.rsplit("/", 1)[1]
    row = cluster.psql(f"SELECT password_hash, admin FROM users WHERE name = '{name}'", database)
    if not row.strip():
        return None
    hashed, admin = row.strip().split("|")
    return hashed, admin == "t"


def test_the_first_admin_is_created_with_the_password_from_the_environment(
    shipyard: Shipyard,
    migrated: str,
    pg_cluster: Cluster,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHIPYARD_PASSWORD", PASSWORD)
    done = shipyard("admin", "create-user", "root", "--admin", "--db", migrated, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"name": "root", "admin": True}
    stored = _stored(pg_cluster, migrated, "root")
    assert stored is not None and stored[1] is True
    assert passwords.verify_password(PASSWORD, stored[0])
    assert PASSWORD not in stored[0]

    monkeypatch.setenv("SHIPYARD_DB", migrated)
    plain = shipyard("admin", "create-user", "ada")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == (
        "created ada, a user; log in with: shipyard --server URL tasks login ada "
        "(or POST /api/v1/login)\n"
    )
    ada = _stored(pg_cluster, migrated, "ada")
    assert ada is not None and ada[1] is False
    again = shipyard("admin", "create-user", "root", "--db", migrated)
    assert again.returncode == 2
    assert "error: a user named 'root' exists" in again.stderr


@pytest.mark.parametrize(
    ("args", "password", "words"),
    [
        (["../etc"], PASSWORD, "user name '../etc' is not allowed"),
        (["root"], "short", "the password is 5 characters; it needs at least 8"),
        (["root"], None, "no password given"),
        (["root", "--db", "mysql://u@h/x"], PASSWORD, "must be PostgreSQL, got 'mysql://…'"),
    ],
)
def test_bad_input_is_one_message(
    shipyard: Shipyard,
    migrated: str,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    password: str | None,
    words: str,
) -> None:
    if password is None:
        monkeypatch.delenv("SHIPYARD_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("SHIPYARD_PASSWORD", password)
    db = [] if "--db" in args else ["--db", migrated]
    done = shipyard("admin", "create-user", *args, *db, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stdout
    assert words in done.stderr
    assert "Traceback" not in done.stderr


def test_a_database_not_migrated_says_how_to_migrate_it(
    shipyard: Shipyard,
    pg_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHIPYARD_PASSWORD", PASSWORD)
    done = shipyard("admin", "create-user", "root", "--db", pg_url)
    assert done.returncode == 2
    assert "the database has no coordinator tables yet" in done.stderr
    assert "shipyard db upgrade --db URL" in done.stderr


def _typed(args: list[str], answers: list[str], home: Path) -> tuple[int, str]:
    """Run the command on a terminal of its own, typing each answer when asked."""
    env = {**os.environ, "SHIPYARD_HOME": str(home), "NO_COLOR": "1"}
    env.pop("SHIPYARD_PASSWORD", None)
    pid, terminal = pty.fork()
    if pid == 0:  # the child: the command, its terminal the pty
        os.execve(shipyard_executable(), [shipyard_executable(), *args], env)
    seen, deadline = b"", time.monotonic() + 60
    for asked, answer in enumerate(answers, start=1):
        # Each prompt ends with ": " (getpass does not echo what is typed).
        while seen.count(b": ") < asked and time.monotonic() < deadline:
            seen += os.read(terminal, 1024)
        os.write(terminal, answer.encode() + b"\n")
    while True:
        try:
            chunk = os.read(terminal, 1024)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")


def test_the_password_is_asked_twice_on_a_terminal(
    migrated: str,
    pg_cluster: Cluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    args = ["admin", "create-user", "root", "--admin", "--db", migrated]
    code, shown = _typed(args, [PASSWORD, "something else"], tmp_path)
    assert code == 2, shown
    assert "the two passwords differ" in shown
    assert _stored(pg_cluster, migrated, "root") is None

    code, shown = _typed(args, [PASSWORD, PASSWORD], tmp_path)
    assert code == 0, shown
    assert PASSWORD not in shown  # not echoed
    stored = _stored(pg_cluster, migrated, "root")
    assert stored is not None and passwords.verify_password(PASSWORD, stored[0])
