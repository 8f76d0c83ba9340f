"""A new user's trial of ``shipyard serve``, ``--server`` and the coordinator (issue 13): what
the trial found answering with a traceback or a misleading hint, each driven through the
installed command."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard
from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)
from tests.serving import Served, served

PASSWORD = "correct horse battery"

#: URLs a typo makes: each was a Python traceback (urllib's or httpx's ValueError), or — the
#: port out of range — "connection refused", which sends the user looking for a dead server.
BAD_SERVER_URLS = [
    ("http://[::1", "does not parse"),
    ("http://127.0.0.1:abc", "does not parse"),
    ("http://127.0.0.1:99999", "does not parse"),
    ("http://127.0.0.1:8420?x=1", "query"),
]


def _one_message(done: subprocess.CompletedProcess[str], said: str) -> None:
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert said in done.stderr, done.stderr
    assert "hint:" in done.stderr, done.stderr


@pytest.mark.parametrize(("url", "said"), BAD_SERVER_URLS)
@pytest.mark.parametrize(
    "command", [["status"], ["tasks", "list"], ["worker", "--group", "lab", "--max-tasks", "1"]]
)
def test_a_server_url_that_does_not_parse_is_one_message(
    shipyard: Shipyard, url: str, said: str, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_TOKEN", "x" * 20)
    monkeypatch.setenv("SHIPYARD_WORKER_TOKEN", "x" * 20)
    if command[0] == "worker":
        done = shipyard(*command, "--server", url)
    else:
        done = shipyard("--server", url, *command)
    _one_message(done, said)
    assert url in done.stderr, done.stderr


BAD_DB_URLS = [
    ("postgresql://[::1/x", "does not parse"),
    ("postgresql://u@127.0.0.1:abc/x", "does not parse"),
]


@pytest.mark.parametrize(("url", "said"), BAD_DB_URLS)
@pytest.mark.parametrize(
    "command",
    [
        ["db", "current"],
        ["db", "upgrade"],
        ["admin", "create-user", "root"],
        ["serve", "--port", "0"],
    ],
)
def test_a_database_url_that_does_not_parse_is_one_message(
    shipyard: Shipyard, url: str, said: str, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_PASSWORD", PASSWORD)
    done = shipyard(*command, "--db", url, timeout=30)
    _one_message(done, said)


def test_a_host_that_does_not_resolve_is_not_said_to_be_a_port_in_use(
    shipyard: Shipyard,
) -> None:
    done = shipyard("serve", "--host", "no-such-host.invalid", "--allow-remote", "--port", "0")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "no-such-host.invalid" in done.stderr
    assert "hold that port" not in done.stderr, done.stderr  # the port is not the problem
    assert "--host" in done.stderr, done.stderr


@pytest.fixture
def coordinator(
    shipyard: Shipyard,
    tmp_path: Path,
    pg_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Served]:
    monkeypatch.setenv("SHIPYARD_PASSWORD", PASSWORD)
    for args in (["db", "upgrade"], ["admin", "create-user", "root", "--admin"]):
        done = shipyard(*args, "--db", pg_url)
        assert done.returncode == 0, done.stderr
    # What it says to do next must exist: the route is /api/v1/login (it said POST /login).
    assert "shipyard --server URL tasks login root" in done.stdout, done.stdout
    assert "POST /api/v1/login" in done.stdout, done.stdout
    with served(tmp_path / "coordinator", args=("--db", pg_url)) as server:
        yield server


def test_the_coordinators_refusals_keep_their_own_hints(
    shipyard: Shipyard, coordinator: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_SERVER", coordinator.url)
    monkeypatch.setenv("SHIPYARD_PASSWORD", "not the password")
    wrong = shipyard("tasks", "login", "root")
    assert wrong.returncode != 0 and "wrong name or password" in wrong.stderr, wrong.stderr
    # Telling someone who is logging in to "log in again" helps nobody.
    assert "log in again" not in wrong.stderr, wrong.stderr
    assert "SHIPYARD_PASSWORD" in wrong.stderr, wrong.stderr

    monkeypatch.setenv("SHIPYARD_PASSWORD", PASSWORD)
    login = shipyard("tasks", "login", "root", "--json")
    assert login.returncode == 0, login.stderr
    monkeypatch.setenv("SHIPYARD_TOKEN", json.loads(login.stdout)["token"])
    unknown = shipyard("tasks", "list", "--group", "nope")
    assert unknown.returncode != 0 and "no group named 'nope'" in unknown.stderr
    # The coordinator answered (its group is unknown): it is there, and its hint is the one.
    assert "serves no coordinator" not in unknown.stderr, unknown.stderr
    assert "GET /groups" in unknown.stderr, unknown.stderr


def test_a_worker_whose_token_is_refused_is_told_where_tokens_come_from(
    shipyard: Shipyard, coordinator: Served, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHIPYARD_WORKER_TOKEN", "not.a.token")
    args = ("--server", coordinator.url, "--group", "lab", "--folder", str(tmp_path / "w"))
    done = shipyard("worker", *args, "--max-tasks", "1", timeout=60)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert "401" in done.stderr, done.stderr
    assert "hint:" in done.stderr and "SHIPYARD_WORKER_TOKEN" in done.stderr, done.stderr


def test_a_revision_past_the_ends_names_the_revisions_there_are(
    shipyard: Shipyard,
    pg_url: str,  # noqa: F811
) -> None:
    assert shipyard("db", "upgrade", "--db", pg_url).returncode == 0
    for args in (["downgrade", "0001_tasks-9"], ["upgrade", "+9"], ["downgrade", "0009"]):
        done = shipyard("db", *args, "--db", pg_url)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        # Alembic's words ("Walked too far") were all it said; the hint named two revisions.
        assert "0002_auth, 0003_task_keys" in done.stderr, done.stderr
        assert "base" in done.stderr, done.stderr


def test_a_typo_among_the_uuids_to_cancel_does_not_save_the_others(
    shipyard: Shipyard, coordinator: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    monkeypatch.setenv("SHIPYARD_SERVER", coordinator.url)
    monkeypatch.setenv("SHIPYARD_PASSWORD", PASSWORD)
    token = shipyard("tasks", "login", "root").stdout.strip()
    monkeypatch.setenv("SHIPYARD_TOKEN", token)
    made = httpx.post(f"{coordinator.url}/api/v1/groups", json={"name": "lab"},
                      headers={"Authorization": f"Bearer {token}"}, timeout=30)  # fmt: skip
    assert made.status_code == 201, made.text
    submitted = shipyard("tasks", "submit", "--group", "lab", "--", "true")
    assert submitted.returncode == 0, submitted.stderr
    uuid = submitted.stdout.strip()
    done = shipyard("tasks", "cancel", uuid, "nope")
    # The whole request was a 400 for 'nope', and the real task stayed queued.
    assert done.returncode == 1, done.stderr
    assert "cancelled 1" in done.stdout, (done.stdout, done.stderr)
    assert "nope: is not a task uuid" in done.stdout, done.stdout
    listed = shipyard("tasks", "list", "--state", "cancelled", "--count")
    assert listed.stdout.strip() == "1", listed.stdout
