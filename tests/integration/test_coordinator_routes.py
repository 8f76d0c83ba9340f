"""The coordinator served (issue 13 §3–§5): a real ``shipyard serve --db`` subprocess on a free
127.0.0.1 port over the throwaway PostgreSQL, bootstrapped with the real ``shipyard db
upgrade`` and ``shipyard admin create-user``; everything through HTTP as a client sees it.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.postgres import Cluster, pg_cluster, pg_url  # noqa: F401  (fixtures)
from tests.serving import _executable, _stop, _url, _wait_healthy

PASSWORD = "a fine password"


def _env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    return env | {"SHIPYARD_HOME": str(home), "NO_COLOR": "1", "SHIPYARD_PASSWORD": PASSWORD}


def _shipyard(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_executable(), *args], env=_env(home), capture_output=True, text=True, timeout=120
    )


@dataclass
class Served:
    url: str
    http: httpx.Client
    log: Path

    def login(self, name: str) -> dict[str, str]:
        answer = self.http.post("/api/v1/login", json={"name": name, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    def user(self, admin: dict[str, str], name: str) -> dict[str, str]:
        made = self.http.post(
            "/api/v1/users", json={"name": name, "password": PASSWORD}, headers=admin
        )
        assert made.status_code == 201, made.text
        return self.login(name)

    def metric(self, name: str, labels: str = "") -> float:
        text = self.http.get("/metrics").text
        found = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
        assert found is not None, f"{name}{labels} not in /metrics:\n{text}"
        return float(found.group(1))


@contextlib.contextmanager
def serve_db(home: Path, db: str, *extra: str) -> Iterator[subprocess.Popen[str]]:
    log = home.parent / "server.log"
    with open(log, "w") as errors:
        process = subprocess.Popen(
            [_executable(), "serve", "--port", "0", "--home", str(home), "--db", db, *extra],
            stdout=subprocess.PIPE, stderr=errors, text=True, env=_env(home),
            start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        _stop(process)


@pytest.fixture
def served(pg_url: str, tmp_path: Path) -> Iterator[Served]:  # noqa: F811
    with _serving(pg_url, tmp_path) as served:
        yield served


@pytest.fixture(scope="module")
def served_to_refuse(
    pg_cluster: Cluster,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Served, dict[str, str]]]:
    """One server (and database, with the group 'lab') for the bad-input cases: each only reads
    or is refused, so they need not pay a server's start-up each."""
    name = f"refusals_{os.getpid()}"
    pg_cluster.psql(f"CREATE DATABASE {name}")
    try:
        with _serving(pg_cluster.url(name), tmp_path_factory.mktemp("refusals")) as served:
            root = served.login("root")
            _group(served, root)
            yield served, root
    finally:
        with contextlib.suppress(RuntimeError):
            pg_cluster.psql(f"DROP DATABASE {name} WITH (FORCE)")


#: The settings of the coordinators here: fetch_poll past any wait, so that a waiting fetch is
#: woken by NOTIFY or not at all.
SETTINGS = "[coordinator]\nmax_artifact_bytes = 100000\nfetch_poll = 600\nmax_fetch_wait = 600\n"


@contextlib.contextmanager
def _serving(db_url: str, tmp_path: Path, settings: str = SETTINGS) -> Iterator[Served]:
    """A migrated database with the admin "root", served by ``shipyard serve --db`` with
    ``settings`` (a settings file's text)."""
    home = tmp_path / "home"
    home.mkdir()
    assert _shipyard(home, "db", "upgrade", "--db", db_url).returncode == 0
    made = _shipyard(home, "admin", "create-user", "root", "--admin", "--db", db_url)
    assert made.returncode == 0, made.stderr
    (tmp_path / "settings.toml").write_text(settings)
    with serve_db(home, db_url, "--config", str(tmp_path / "settings.toml")) as process:
        url = _url(process, tmp_path / "server.log")
        _wait_healthy(url, process, tmp_path / "server.log", 30)
        with httpx.Client(base_url=url, timeout=30) as http:
            yield Served(url, http, tmp_path / "server.log")


def _group(served: Served, admin: dict[str, str], writer: dict[str, str] | None = None) -> str:
    made = served.http.post("/api/v1/groups", json={"name": "lab"}, headers=admin)
    assert made.status_code == 201, made.text
    return "lab"


def _worker(served: Served, headers: dict[str, str], group: str, tags: list[str]) -> dict[str, str]:
    issued = served.http.post(f"/api/v1/groups/{group}/workers", headers=headers)
    assert issued.status_code == 201, issued.text
    worker = {"Authorization": f"Bearer {issued.json()['token']}"}
    registered = served.http.post("/api/v1/workers/register", json={"tags": tags}, headers=worker)
    assert registered.status_code == 200, registered.text
    assert registered.json()["worker_id"] == issued.json()["id"]
    return worker


def _task(**fields: Any) -> dict[str, Any]:
    return {"group": "lab", "command": ["echo", "hi"], **fields}


def test_a_batch_is_fetched_run_reported_and_its_results_and_artifacts_read(
    served: Served,
) -> None:
    root = served.login("root")
    _group(served, root)
    batch = served.http.post(
        "/api/v1/tasks/batch",
        json={"tasks": [
            _task(tags=["cpu"], labels={"run": 1}),
            _task(local_path="/etc/passwd"),  # absolute: refused, the others still go
            {"group": "lab", "command": "not a list"},
            _task(group="elsewhere"),
            _task(tags=["cpu"], priority=5),
        ]},
        headers=root,
    )  # fmt: skip
    assert batch.status_code == 200, batch.text
    answer = batch.json()
    assert [a["index"] for a in answer["accepted"]] == [0, 4]
    refused = {r["index"]: r["msg"] for r in answer["refused"]}
    assert set(refused) == {1, 2, 3}
    assert "absolute" in refused[1] and "command" in refused[2] and "elsewhere" in refused[3]

    worker = _worker(served, root, "lab", ["cpu", "linux"])
    fetched = served.http.post("/api/v1/workers/fetch", json={"limit": 1}, headers=worker)
    assert fetched.status_code == 200, fetched.text
    (claimed,) = fetched.json()["tasks"]
    assert claimed["uuid"] == answer["accepted"][1]["uuid"]  # priority 5 first
    assert claimed["attempt"] == 1 and claimed["command"] == ["echo", "hi"]

    upload = served.http.put(
        f"/api/v1/tasks/{claimed['uuid']}/artifacts/out.bin", content=b"\x00\x01" * 1000,
        headers=worker,
    )  # fmt: skip
    assert upload.status_code == 201, upload.text
    assert upload.json()["size"] == 2000
    stale = served.http.post(
        "/api/v1/workers/report",
        json={"uuid": claimed["uuid"], "attempt": 2, "exit_status": 0},
        headers=worker,
    )
    assert stale.status_code == 409 and "msg" in stale.json()
    done = served.http.post(
        "/api/v1/workers/report",
        json={"uuid": claimed["uuid"], "attempt": 1, "exit_status": 0, "output": "x" * 10 + "end",
              "result": {"score": 0.5}},
        headers=worker,
    )  # fmt: skip
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "succeeded"

    result = served.http.get(f"/api/v1/tasks/{claimed['uuid']}/result", headers=root).json()
    assert result["exit_status"] == 0 and result["result"] == {"score": 0.5}
    assert result["output_tail"].endswith("end")
    assert [a["outcome"] for a in result["attempts"]] == ["succeeded"]
    listed = served.http.get(f"/api/v1/tasks/{claimed['uuid']}/artifacts", headers=root).json()
    assert [(a["name"], a["size"]) for a in listed] == [("out.bin", 2000)]
    got = served.http.get(f"/api/v1/tasks/{claimed['uuid']}/artifacts/out.bin", headers=root)
    assert got.status_code == 200 and got.content == b"\x00\x01" * 1000

    query = served.http.post(
        "/api/v1/tasks/query", json={"labels": {"run": 1}, "states": ["queued"]}, headers=root
    ).json()
    assert query["count"] == 1 and query["tasks"][0]["uuid"] == answer["accepted"][0]["uuid"]
    assert query["tasks"][0]["group"] == "lab" and query["tasks"][0]["creator"] == "root"
    counted = served.http.post("/api/v1/tasks/query", json={"count": True}, headers=root).json()
    assert counted == {"count": 2, "tasks": []}


def test_edit_after_start_is_409_and_cancel_before_it_works(served: Served) -> None:
    root = served.login("root")
    _group(served, root)
    made = [
        served.http.post("/api/v1/tasks", json=_task(), headers=root).json()["uuid"]
        for _ in range(3)
    ]
    edited = served.http.put(f"/api/v1/tasks/{made[2]}", json={"priority": 9}, headers=root)
    assert edited.status_code == 200 and edited.json()["priority"] == 9
    worker = _worker(served, root, "lab", [])
    (claimed,) = served.http.post("/api/v1/workers/fetch", json={}, headers=worker).json()["tasks"]
    assert claimed["uuid"] == made[2]
    late = served.http.put(f"/api/v1/tasks/{made[2]}", json={"priority": 1}, headers=root)
    assert late.status_code == 409 and "started" in late.json()["msg"]
    assert served.http.post(f"/api/v1/tasks/{made[2]}/cancel", headers=root).status_code == 409
    assert served.http.post(f"/api/v1/tasks/{made[0]}/cancel", headers=root).status_code == 200
    listed = served.http.post(
        "/api/v1/tasks/cancel", json={"uuids": [made[0], made[1]]}, headers=root
    ).json()
    assert listed["cancelled"] == [made[1]] and made[0] in listed["refused"]
    assert served.http.get(f"/api/v1/tasks/{made[1]}", headers=root).json()["state"] == "cancelled"


def test_permissions_read_cannot_submit_and_a_worker_token_is_no_user(served: Served) -> None:
    root = served.login("root")
    _group(served, root)
    reader = served.user(root, "reader")
    member = served.http.put(
        "/api/v1/groups/lab/members/reader", json={"role": "Read"}, headers=root
    )
    assert member.status_code == 200, member.text
    uuid = served.http.post("/api/v1/tasks", json=_task(), headers=root).json()["uuid"]
    assert served.http.get(f"/api/v1/tasks/{uuid}", headers=reader).status_code == 200
    refused = served.http.post("/api/v1/tasks", json=_task(), headers=reader)
    assert refused.status_code == 403 and "Write" in refused.json()["msg"]
    assert served.http.post(f"/api/v1/tasks/{uuid}/cancel", headers=reader).status_code == 403
    stranger = served.user(root, "stranger")
    assert served.http.get(f"/api/v1/tasks/{uuid}", headers=stranger).status_code == 404
    worker = _worker(served, root, "lab", [])
    as_user = served.http.post("/api/v1/tasks/query", json={}, headers=worker)
    assert as_user.status_code == 403 and "msg" in as_user.json()
    as_worker = served.http.post("/api/v1/workers/fetch", json={}, headers=root)
    assert as_worker.status_code == 403
    assert served.http.post("/api/v1/workers/fetch", json={}).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/tasks", {"group": "lab", "command": []}),
        ("post", "/api/v1/tasks", {"group": "lab", "command": ["x"], "local_path": "../up"}),
        ("post", "/api/v1/tasks", {"group": "lab", "command": ["x"], "env": {"1X": "y"}}),
        ("post", "/api/v1/tasks", {"group": "lab", "command": ["x"], "priority": 2**40}),
        ("post", "/api/v1/tasks", {"group": "nope' OR 1=1 --", "command": ["x"]}),
        ("post", "/api/v1/tasks", "not json"),
        ("get", "/api/v1/tasks/not-a-uuid", None),
        ("get", "/api/v1/tasks/00000000-0000-0000-0000-000000000000", None),
        ("post", "/api/v1/tasks/query", {"states": ["bogus"]}),
        ("post", "/api/v1/tasks/query", {"exit_status": ">>3"}),
        ("post", "/api/v1/tasks/query", {"limit": 0}),
        ("post", "/api/v1/tasks/cancel", {}),
        ("post", "/api/v1/tasks/cancel", {"uuids": ["\x00"]}),
        ("post", "/api/v1/tasks/cancel", {"uuids": [str(n) for n in range(1001)]}),
        ("put", "/api/v1/tasks/00000000-0000-0000-0000-000000000000", {"colour": "red"}),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(
    served_to_refuse: tuple[Served, dict[str, str]], method: str, path: str, body: Any
) -> None:
    served, root = served_to_refuse
    if isinstance(body, str):
        answer = served.http.request(method, path, content=body, headers=root)
    else:
        answer = served.http.request(method, path, json=body, headers=root)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["msg"]


def test_worker_bad_input_and_artifact_limits(served: Served) -> None:
    root = served.login("root")
    _group(served, root)
    worker = _worker(served, root, "lab", [])
    uuid = served.http.post("/api/v1/tasks", json=_task(), headers=root).json()["uuid"]
    not_held = served.http.put(f"/api/v1/tasks/{uuid}/artifacts/a", content=b"x", headers=worker)
    assert not_held.status_code == 409
    served.http.post("/api/v1/workers/fetch", json={}, headers=worker)
    for name in ("..", ".%2E", "a%5Cb"):
        bad = served.http.put(f"/api/v1/tasks/{uuid}/artifacts/{name}", content=b"x",
                              headers=worker)  # fmt: skip
        assert 400 <= bad.status_code < 500, (name, bad.text)
    big = served.http.put(
        f"/api/v1/tasks/{uuid}/artifacts/big", content=b"x" * 100_001, headers=worker
    )
    assert big.status_code == 413 and "limit" in big.json()["msg"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts the bytes as read
        for _ in range(20):
            yield b"y" * 10_000

    streamed = served.http.put(f"/api/v1/tasks/{uuid}/artifacts/big", content=chunks(),
                               headers=worker)  # fmt: skip
    assert streamed.status_code == 413
    listed = served.http.get(f"/api/v1/tasks/{uuid}/artifacts", headers=root).json()
    assert listed == []
    # The storage cannot take it (its folder for the task is a file): 507, said, not a 500.
    blocked = served.log.parent / "home" / "coordinator-artifacts" / uuid
    blocked.rmdir()  # empty: the refused uploads above left nothing behind
    blocked.write_text("in the way")
    full = served.http.put(f"/api/v1/tasks/{uuid}/artifacts/a", content=b"x", headers=worker)
    assert full.status_code == 507 and "cannot store" in full.json()["msg"]
    for body in ({"limit": 0}, {"wait": 3600}, {"limit": "many"}):
        assert served.http.post("/api/v1/workers/fetch", json=body, headers=worker).status_code in (
            400,
            422,
        )
    bad_report = served.http.post(
        "/api/v1/workers/report", json={"uuid": uuid, "attempt": 1, "exit_status": 2**40},
        headers=worker,
    )  # fmt: skip
    assert 400 <= bad_report.status_code < 500 and bad_report.json()["msg"]


def test_a_waiting_fetch_is_woken_by_a_submit(served: Served) -> None:
    root = served.login("root")
    _group(served, root)
    worker = _worker(served, root, "lab", [])
    got: list[httpx.Response] = []
    waiting = threading.Thread(
        target=lambda: got.append(
            httpx.post(f"{served.url}/api/v1/workers/fetch", json={"wait": 300}, headers=worker,
                       timeout=330)
        ),
        daemon=True,
    )  # fmt: skip
    waiting.start()
    time.sleep(0.5)  # let the fetch find nothing and listen
    assert waiting.is_alive()
    uuid = served.http.post("/api/v1/tasks", json=_task(), headers=root).json()["uuid"]
    waiting.join(timeout=60)
    # The server's safety-net poll is longer than the wait (fetch_poll = 600): only the
    # submit's NOTIFY can end the 300 s wait within the join's bound (a bound, not a figure).
    assert not waiting.is_alive(), "the waiting fetch was not woken by the submit"
    assert [t["uuid"] for t in got[0].json()["tasks"]] == [uuid]


def test_metrics_move(served: Served) -> None:
    root = served.login("root")
    _group(served, root)
    assert served.metric("shipyard_queue_depth") == 0
    assert served.metric("shipyard_workers", '{state="active"}') == 0
    served.http.post("/api/v1/tasks/batch", json={"tasks": [_task(), _task()]}, headers=root)
    assert served.metric("shipyard_queue_depth") == 2
    assert served.metric("shipyard_tasks", '{state="queued"}') == 2
    worker = _worker(served, root, "lab", [])
    assert served.metric("shipyard_workers", '{state="active"}') == 1
    before = served.metric("shipyard_task_fetch_seconds_count")
    (claimed,) = served.http.post("/api/v1/workers/fetch", json={}, headers=worker).json()["tasks"]
    assert served.metric("shipyard_task_fetch_seconds_count") == before + 1
    assert served.metric("shipyard_tasks", '{state="running"}') == 1
    served.http.post(
        "/api/v1/workers/report",
        json={"uuid": claimed["uuid"], "attempt": 1, "exit_status": 0},
        headers=worker,
    )
    assert served.metric("shipyard_tasks", '{state="succeeded"}') == 1
    assert served.metric("shipyard_queue_depth") == 1
    assert (
        served.metric(
            "shipyard_http_requests_total",
            '{method="POST",route="/workers/report",status="200"}',
        )
        == 1
    )


def test_the_apps_connections_are_closed_when_it_stops(pg_url: str, tmp_path: Path) -> None:  # noqa: F811
    import psycopg
    from fastapi.testclient import TestClient

    from shipyard.coordinator import admin, migrate
    from shipyard.server.app import create_app
    from shipyard.server.settings import Settings

    migrate.upgrade(pg_url)
    admin.create_user(pg_url, "root", PASSWORD, admin=True)
    database = pg_url.rsplit("/", 1)[1]

    def open_connections() -> int:
        with psycopg.connect(pg_url) as look:
            row = look.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                "pg_backend_pid()",
                (database,),
            ).fetchone()
        assert row is not None
        return int(row[0])

    app = create_app(Settings(home=tmp_path / "home", db=pg_url), token="t" * 32)
    with TestClient(app) as client:
        login = client.post("/api/v1/login", json={"name": "root", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        assert client.post("/api/v1/tasks/query", json={}, headers=headers).status_code == 200
        assert open_connections() >= 2  # the engine's and a queue's
    assert open_connections() == 0
