"""Faults, each a test (issue 13 §6; docs/coordinator.md "When things die"): real ``shipyard
serve --db`` and ``shipyard worker`` processes over a throwaway PostgreSQL, killed with SIGKILL,
stopped with SIGSTOP, restarted — and the records checked row by row afterwards.

Leases are short here (``[coordinator] lease``) and the waiting fetches look again often
(``fetch_poll``), so a lost lease is found in seconds, not minutes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_coordinator_routes import PASSWORD, _env, _shipyard
from tests.postgres import pg_cluster, pg_url, throwaway_cluster  # noqa: F401  (fixtures)
from tests.postgres import start as start_postgres
from tests.postgres import stop as stop_postgres
from tests.serving import _executable, _wait_healthy

# slow as a file: a served coordinator on a throwaway PostgreSQL, with real workers or managers
# whose tests wait out leases, heartbeats and timeouts (make test-slow and CI run it)
pytestmark = pytest.mark.slow

#: Settings of the coordinators below: a 2 s lease, waiting fetches that look again every
#: 0.2 s (they also recover expired leases), waits of at most 2 s.
SETTINGS = "[coordinator]\nlease = 2\nfetch_poll = 0.2\nmax_fetch_wait = 5\n"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Site:
    """One coordinator on a fixed port (so it can be killed and started again at the same
    URL), its workers, and an HTTP client as a user sees it."""

    db: str
    folder: Path
    port: int = field(default_factory=_free_port)
    server: subprocess.Popen[str] | None = None
    workers: list[subprocess.Popen[str]] = field(default_factory=list)
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.home = self.folder / "home"
        self.home.mkdir()
        self.log = self.folder / "server.log"
        (self.folder / "settings.toml").write_text(SETTINGS)
        self.http = httpx.Client(base_url=self.url, timeout=60)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bootstrap(self) -> None:
        assert _shipyard(self.home, "db", "upgrade", "--db", self.db).returncode == 0
        made = _shipyard(self.home, "admin", "create-user", "root", "--admin", "--db", self.db)
        assert made.returncode == 0, made.stderr

    def start(self) -> None:
        with open(self.log, "a") as errors:
            self.server = subprocess.Popen(
                [_executable(), "serve", "--port", str(self.port), "--home", str(self.home),
                 "--db", self.db, "--config", str(self.folder / "settings.toml")],
                stdout=subprocess.DEVNULL, stderr=errors, text=True, env=_env(self.home),
                start_new_session=True,
            )  # fmt: skip
        _wait_healthy(self.url, self.server, self.log, 60)

    def kill_server(self) -> None:
        assert self.server is not None
        self.server.kill()  # SIGKILL: no shutdown of any kind
        self.server.wait(timeout=30)

    def login(self) -> dict[str, str]:
        answer = self.http.post("/api/v1/login", json={"name": "root", "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    def worker(self, name: str, root: dict[str, str], *extra: str) -> subprocess.Popen[str]:
        issued = self.http.post("/api/v1/groups/lab/workers", headers=root)
        assert issued.status_code == 201, issued.text
        env = _env(self.home) | {"SHIPYARD_WORKER_TOKEN": issued.json()["token"]}
        errors = open(self.folder / f"{name}.err", "w")  # noqa: SIM115 (kept by the process)
        process = subprocess.Popen(
            [_executable(), "worker", "--server", self.url, "--group", "lab",
             "--folder", str(self.folder / name), "--backoff-cap", "0.5", *extra],
            env=env, stdout=subprocess.PIPE, stderr=errors, text=True, start_new_session=True,
        )  # fmt: skip
        errors.close()
        self.workers.append(process)
        return process

    def said(self, name: str) -> str:
        return (self.folder / f"{name}.err").read_text()

    def close(self) -> None:
        for process in [*self.workers, *([self.server] if self.server else [])]:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
            if process.stdout is not None:
                process.stdout.close()
        self.http.close()


@pytest.fixture
def site(pg_url: str, tmp_path: Path) -> Iterator[Site]:  # noqa: F811
    made = Site(pg_url, tmp_path)
    made.bootstrap()
    made.start()
    try:
        yield made
    finally:
        made.close()


def _group(site: Site, root: dict[str, str]) -> None:
    made = site.http.post("/api/v1/groups", json={"name": "lab"}, headers=root)
    assert made.status_code == 201, made.text


def _until(what: str, check: Callable[[], Any], seconds: float = 60.0) -> Any:
    """Poll ``check`` until it returns something true; fail saying what never happened."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {seconds:g} s")


def _pid_in(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text())
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie is dead (this machine's init may not reap)
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    return False


def _kill_quietly(pid: int | None) -> None:
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _count(site: Site, root: dict[str, str], **query: Any) -> int | None:
    with contextlib.suppress(httpx.TransportError):
        answer = site.http.post("/api/v1/tasks/query", json={"count": True, **query}, headers=root)
        if answer.status_code == 200:
            return int(answer.json()["count"])
    return None


def _result(site: Site, root: dict[str, str], uuid: str) -> Any:
    return site.http.get(f"/api/v1/tasks/{uuid}/result", headers=root).json()


#: The first run marks itself (mkdir is atomic), notes its pid and sleeps; a later run ends.
FIRST_SLEEPS = (
    'if mkdir "$MARK" 2>/dev/null; then echo $$ > "$MARK/pid"; exec sleep 120; '
    "else echo second run; fi"
)


def test_a_worker_killed_mid_task_its_task_runs_on_another_after_the_lease(site: Site) -> None:
    root = site.login()
    _group(site, root)
    mark = site.folder / "mark"
    made = site.http.post(
        "/api/v1/tasks",
        json={"group": "lab", "command": ["sh", "-c", FIRST_SLEEPS], "env": {"MARK": str(mark)}},
        headers=root,
    )
    assert made.status_code == 201, made.text
    uuid = made.json()["uuid"]
    first = site.worker("first", root)
    pid = _until("the first attempt's start", lambda: _pid_in(mark / "pid"))
    try:
        first.kill()  # kill -9 mid-task: no leave, no report; only the lease can tell
        first.wait(timeout=30)
        second = site.worker("second", root)
        result = _until(
            "the task's second attempt on the second worker",
            lambda: (r := _result(site, root, uuid))["state"] == "succeeded" and r,
        )
    finally:
        _kill_quietly(pid)  # the first attempt's process outlived its worker (docs)
    assert result["output_tail"] == "second run\n"
    attempts = result["attempts"]
    assert [(a["number"], a["outcome"]) for a in attempts] == [(1, "lost"), (2, "succeeded")]
    assert attempts[0]["ended_at"] is not None and attempts[0]["exit_status"] is None
    assert attempts[0]["worker_id"] != attempts[1]["worker_id"]
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0, site.said("second")


def test_a_worker_that_lost_its_lease_kills_the_task_at_once_and_does_not_report(
    site: Site,
) -> None:
    root = site.login()
    _group(site, root)
    mark = site.folder / "mark"
    uuid = site.http.post(
        "/api/v1/tasks",
        json={"group": "lab", "command": ["sh", "-c", FIRST_SLEEPS], "env": {"MARK": str(mark)}},
        headers=root,
    ).json()["uuid"]
    worker = site.worker("paused", root)
    pid = _until("the first attempt's start", lambda: _pid_in(mark / "pid"))
    try:
        # The worker is paused (as a long GC pause or a partition would): no heartbeat, the
        # 2 s lease runs out, and another worker (this test, over HTTP) claims attempt 2.
        worker.send_signal(signal.SIGSTOP)
        issued = site.http.post("/api/v1/groups/lab/workers", headers=root).json()["token"]
        other = {"Authorization": f"Bearer {issued}"}
        site.http.post("/api/v1/workers/register", json={"tags": []}, headers=other)
        taken = _until(
            "attempt 2's claim by another worker",
            lambda: site.http.post("/api/v1/workers/fetch", json={"wait": 1}, headers=other).json()[
                "tasks"
            ],
        )
        assert [t["attempt"] for t in taken] == [2]

        def holding() -> None:  # attempt 2's holder heartbeats, as a live worker does
            site.http.post("/api/v1/workers/heartbeat", headers=other)

        worker.send_signal(signal.SIGCONT)
        # Its next heartbeat no longer lists the task: the task's group is killed at once.
        deadline = time.monotonic() + 20
        while _alive(pid) and time.monotonic() < deadline:
            holding()
            time.sleep(0.05)
        assert not _alive(pid), "the task whose lease was lost still runs on the old worker"
        said = _until(
            "the worker's word",
            lambda: holding() or "lease went to another" in site.said("paused"),
        )
        assert said
    finally:
        _kill_quietly(pid)
    # Nothing reported for attempt 1: still lost, and attempt 2 still holds the task.
    holding()
    result = _result(site, root, uuid)
    assert result["state"] == "running"
    assert [(a["number"], a["outcome"]) for a in result["attempts"]] == [
        (1, "lost"),
        (2, "running"),
    ]
    assert "result dropped" not in site.said("paused")  # it did not even try
    assert worker.poll() is None  # it goes on working
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0, site.said("paused")


# --- the coordinator killed during a 5,000-task submit -------------------------------------------

TASKS = 5_000
BATCH = 500


@dataclass
class Submitter:
    """A client sending the tasks in batches, each sent again until acknowledged: every task
    of it accepted, or refused with 409 because its key is there already."""

    site: Site
    root: dict[str, str]
    kill_before: int  # the batch whose sending lets the test kill the coordinator
    proceed: threading.Event = field(default_factory=threading.Event)  # workers are at work
    sending: threading.Event = field(default_factory=threading.Event)
    uuids: dict[str, str] = field(default_factory=dict)
    sent: int = 0  # requests, the repeats included
    repeats_refused: int = 0  # tasks of repeated batches found there already (409)
    errors: list[BaseException] = field(default_factory=list)

    def run(self) -> None:
        try:
            for first in range(0, TASKS, BATCH):
                if first // BATCH == self.kill_before:
                    assert self.proceed.wait(timeout=300), "the workers never got to work"
                    self.sending.set()
                self._send([f"t-{n}" for n in range(first, first + BATCH)])
        except BaseException as error:  # the test fails with it
            self.errors.append(error)

    def _send(self, keys: list[str]) -> None:
        body = {"tasks": [{"group": "lab", "command": ["true"], "key": key} for key in keys]}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            self.sent += 1
            try:
                answer = self.site.http.post("/api/v1/tasks/batch", json=body, headers=self.root)
            except httpx.TransportError:
                time.sleep(0.1)  # the coordinator is away: ask again
                continue
            if answer.status_code >= 500:
                time.sleep(0.1)
                continue
            assert answer.status_code == 200, answer.text
            self._take(keys, answer.json())
            return
        raise AssertionError(f"batch {keys[0]}… never acknowledged")

    def _take(self, keys: list[str], answer: dict[str, Any]) -> None:
        for accepted in answer["accepted"]:
            self.uuids[keys[accepted["index"]]] = accepted["uuid"]
        for refused in answer["refused"]:
            assert refused["status"] == 409 and refused["uuid"], refused  # only "already there"
            self.uuids[keys[refused["index"]]] = refused["uuid"]
            self.repeats_refused += 1


def _records(db: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(db) as connection:

        def one(sql: str) -> Any:
            row = connection.execute(sql.encode()).fetchone()
            assert row is not None
            return row[0]

        return {
            "tasks": one("SELECT count(*) FROM tasks"),
            "keys": one("SELECT count(DISTINCT key) FROM tasks"),
            "succeeded": one("SELECT count(*) FROM tasks WHERE state = 'succeeded'"),
            "succeeded attempts": one("SELECT count(*) FROM attempts WHERE outcome = 'succeeded'"),
            "tasks not succeeded exactly once": one(
                "SELECT count(*) FROM (SELECT t.id FROM tasks t LEFT JOIN attempts a ON "
                "a.task_id = t.id AND a.outcome = 'succeeded' GROUP BY t.id "
                "HAVING count(a.id) <> 1) AS odd"
            ),
            "attempts running": one("SELECT count(*) FROM attempts WHERE outcome = 'running'"),
            "by key": dict(connection.execute(b"SELECT key, uuid::text FROM tasks").fetchall()),
        }


@pytest.mark.slow
@pytest.mark.timeout(900)  # 5,000 real processes
def test_the_coordinator_killed_during_a_big_submit_every_task_completes_once(
    site: Site,
) -> None:
    root = site.login()
    _group(site, root)
    # No worker dies here: a 30 s lease, so that a loaded machine's late heartbeats do not lose
    # leases (and kill and rerun tasks) beside the coordinator's death this test is about.
    (site.folder / "settings.toml").write_text(SETTINGS.replace("lease = 2", "lease = 30"))
    site.kill_server()
    site.start()
    workers = [site.worker(name, root) for name in ("w1", "w2")]
    client = Submitter(site, root, kill_before=3)
    sender = threading.Thread(target=client.run, daemon=True)
    sender.start()
    # The workers registered and at work (a worker that never reached its coordinator stops:
    # a wrong --server), then the coordinator killed as the next batch goes out.
    _until("the workers at work", lambda: (_count(site, root, states=["succeeded"]) or 0) >= 20)
    client.proceed.set()
    assert client.sending.wait(timeout=120), client.errors
    site.kill_server()  # kill -9 while batch 4 is on its way, workers fetching and reporting
    site.start()
    sender.join(timeout=300)
    assert not sender.is_alive() and not client.errors, client.errors
    assert len(client.uuids) == TASKS
    _until(
        f"all {TASKS} tasks succeeded",
        lambda: _count(site, root, states=["succeeded"]) == TASKS,
        seconds=600,
    )
    records = _records(site.db)
    by_key = records.pop("by key")
    assert records == {
        "tasks": TASKS,
        "keys": TASKS,
        "succeeded": TASKS,
        "succeeded attempts": TASKS,
        "tasks not succeeded exactly once": 0,
        "attempts running": 0,
    }
    assert by_key == client.uuids  # the client's acknowledgements name the tasks queued
    for worker, name in zip(workers, ("w1", "w2"), strict=True):
        assert worker.poll() is None, site.said(name)  # they waited the coordinator out
    assert any("trying again" in site.said(name) for name in ("w1", "w2"))
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker, name in zip(workers, ("w1", "w2"), strict=True):
        assert worker.wait(timeout=60) == 0, site.said(name)


# --- PostgreSQL restarted under load ------------------------------------------------------------


@pytest.fixture
def own_site(tmp_path: Path) -> Iterator[tuple[Site, Any]]:
    """A site over a cluster of its own: stopping it must not touch other tests' databases."""
    with throwaway_cluster() as cluster:
        cluster.psql("CREATE DATABASE faults")
        made = Site(cluster.url("faults"), tmp_path)
        made.bootstrap()
        made.start()
        try:
            yield made, cluster
        finally:
            made.close()


def test_postgresql_restarted_under_load_every_task_completes(
    own_site: tuple[Site, Any],
) -> None:
    site, cluster = own_site
    root = site.login()
    _group(site, root)
    total = 300
    batch = site.http.post(
        "/api/v1/tasks/batch",
        json={"tasks": [{"group": "lab", "command": ["true"], "key": f"k{n}"}
                        for n in range(total)]},
        headers=root,
    )  # fmt: skip
    assert batch.status_code == 200 and len(batch.json()["accepted"]) == total, batch.text
    workers = [site.worker(name, root) for name in ("w1", "w2")]
    _until("some tasks done", lambda: (_count(site, root, states=["succeeded"]) or 0) >= 20)
    stop_postgres(cluster)
    try:
        # Requests meanwhile: 503 with a message (never a 500), the login's (SQLAlchemy's
        # pool) and the queue's (psycopg's) alike.
        for path, body, headers in (
            ("/api/v1/tasks/query", {"count": True}, root),
            ("/api/v1/login", {"name": "root", "password": PASSWORD}, {}),
        ):
            try:
                answer = site.http.post(path, json=body, headers=headers)
            except httpx.TransportError as error:
                raise AssertionError(f"{path} during the outage: no answer ({error})") from None
            assert answer.status_code == 503, (path, answer.status_code, answer.text)
            assert "does not answer" in answer.json()["msg"], answer.text
        _until("a worker seeing the outage", lambda: any(
            "trying again" in site.said(name) for name in ("w1", "w2")))  # fmt: skip
    finally:
        start_postgres(cluster)
    _until(
        f"all {total} tasks succeeded",
        lambda: _count(site, root, states=["succeeded"]) == total,
        seconds=300,
    )
    records = _records(site.db)
    assert records["succeeded attempts"] == total
    assert records["tasks not succeeded exactly once"] == 0
    for worker, name in zip(workers, ("w1", "w2"), strict=True):
        assert worker.poll() is None, site.said(name)  # they went on
    assert "Traceback" not in site.log.read_text()


@pytest.mark.parametrize(
    ("given", "said"), [("0", "not in the range"), ("soon", "not a valid float")]
)
def test_a_bad_backoff_cap_is_a_message(tmp_path: Path, given: str, said: str) -> None:
    for how in ("flag", "env"):
        env = _env(tmp_path) | {"SHIPYARD_WORKER_TOKEN": "x"}
        args = [_executable(), "worker", "--server", "http://127.0.0.1:9", "--group", "lab"]
        if how == "flag":
            args += ["--backoff-cap", given]
        else:
            env["SHIPYARD_WORKER_BACKOFF_CAP"] = given
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (how, done.stderr)
        assert "--backoff-cap" in done.stderr and said in done.stderr
        assert "Traceback" not in done.stderr


def test_a_stop_now_that_came_while_the_task_was_starting_still_kills_it(tmp_path: Path) -> None:
    """A SIGTERM can land between the task's spawn and the worker noting its process (the
    task already running, its pid written): stop() then finds nothing to kill. The worker
    looks again once the process is noted, so the task does not run on to its end."""
    from shipyard.coordinator.worker import Worker

    worker = Worker("http://127.0.0.1:9", "token", "lab", [], tmp_path, force=True)
    said = worker.stop()  # before any process is noted: nothing to kill yet
    assert "stopping now" in said
    status = worker._spawn_and_wait(
        {"command": ["sh", "-c", "sleep 3; touch finished"], "uuid": "t"},
        tmp_path, dict(os.environ), tmp_path / "task.log",
    )  # fmt: skip
    assert status is None  # not this task's result: it goes back to the queue
    assert not (tmp_path / "finished").exists(), "the task ran to its end after a stop-now"
