"""The coordinator's side of node managers (issue 14 §2): a real ``shipyard serve --db`` over
the throwaway PostgreSQL, manager tokens, and real WebSocket clients (websockets' sync client)
speaking :mod:`shipyard.coordinator.managerprotocol`."""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.integration.test_coordinator_routes import Served, _serving
from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)

# slow as a file: a served coordinator on a throwaway PostgreSQL, with real workers or managers
# whose tests wait out leases, heartbeats and timeouts (make test-slow and CI run it)
pytestmark = pytest.mark.slow

API = "/api/v1"
#: Suites close after 600 s idle (never, here); offline after 600 s unless a test says less.
SETTINGS = "[coordinator]\nsuite_idle_close = 600\nsuite_sweep = 0.1\nmanager_offline = 600\n"


@pytest.fixture
def served(pg_url: str, tmp_path: Path) -> Iterator[Served]:  # noqa: F811
    with _serving(pg_url, tmp_path, SETTINGS) as served:
        yield served


@dataclass
class Manager:
    """A manager's side of the protocol, just enough to drive the coordinator's."""

    served: Served
    token: str
    id: str
    ws: ClientConnection | None = None
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    pushes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def register(self, tags: list[str], **fields: Any) -> dict[str, Any]:
        answer = self.served.http.post(f"{API}/managers", json={"tags": tags, **fields},
                                       headers=self.headers)  # fmt: skip
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    @contextlib.contextmanager
    def socket(self) -> Iterator[ClientConnection]:
        url = self.served.url.replace("http://", "ws://") + "/ws/managers"
        with connect(url, additional_headers=self.headers, proxy=None) as ws:
            self.ws = ws
            try:
                yield ws
            finally:
                self.ws = None

    def send(self, message: dict[str, Any]) -> int:
        ident = next(self.ids)
        assert self.ws is not None
        self.ws.send(json.dumps({**message, "id": ident}))
        return ident

    def reply(self, ident: int, timeout: float = 30) -> dict[str, Any]:
        """The reply with ``ident`` (pushes met on the way are kept in ``pushes``)."""
        assert self.ws is not None
        while True:
            got = json.loads(self.ws.recv(timeout=timeout))
            if got.get("id") == ident:
                return dict(got)
            if "id" not in got:
                self.pushes.append(got)

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.ws is None:
            return self.http(message)
        return self.reply(self.send(message))

    def http(self, message: dict[str, Any]) -> dict[str, Any]:
        answer = self.served.http.post(f"{API}/managers/messages",
                                       json={"id": next(self.ids), **message},
                                       headers=self.headers)  # fmt: skip
        body = dict(answer.json())
        if body.get("type") == "error":
            assert answer.status_code == body["status"], answer.text
        return body

    def push(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        """The next push of ``kind`` (waiting for it)."""
        assert self.ws is not None
        deadline = time.monotonic() + timeout
        while True:
            for seen in self.pushes:
                if seen["type"] == kind:
                    self.pushes.remove(seen)
                    return seen
            left = deadline - time.monotonic()
            assert left > 0, f"no {kind} push within {timeout} s ({self.pushes})"
            try:
                self.pushes.append(json.loads(self.ws.recv(timeout=left)))
            except TimeoutError:
                raise AssertionError(f"no {kind} push within {timeout} s ({self.pushes})") from None


def _setup(served: Served) -> dict[str, str]:
    root = served.login("root")
    made = served.http.post(f"{API}/groups", json={"name": "lab"}, headers=root)
    assert made.status_code == 201, made.text
    return root


def _manager(served: Served, root: dict[str, str], tags: list[str], group: str = "lab") -> Manager:
    issued = served.http.post(f"{API}/groups/{group}/managers", headers=root)
    assert issued.status_code == 201, issued.text
    made = Manager(served, issued.json()["token"], issued.json()["id"])
    registered = made.register(tags, hostname="node-1", cpus=4)
    assert registered["manager_id"] == made.id and registered["websocket_url"] == "/ws/managers"
    return made


def _suite(served: Served, root: dict[str, str], **fields: Any) -> str:
    made = served.http.post(f"{API}/suites", json={"group": "lab", **fields}, headers=root)
    assert made.status_code == 201, made.text
    return str(made.json()["uuid"])


def _submit(served: Served, root: dict[str, str], suite: str | None, count: int) -> list[str]:
    extra = {"suite_uuid": suite} if suite else {}
    tasks = [{"group": "lab", "command": ["true"], **extra} for _ in range(count)]
    answer = served.http.post(f"{API}/tasks/batch", json={"tasks": tasks}, headers=root)
    assert answer.status_code == 200 and answer.json()["refused"] == [], answer.text
    return [a["uuid"] for a in answer.json()["accepted"]]


def _counters(served: Served, root: dict[str, str], suite: str) -> dict[str, int]:
    answer = served.http.get(f"{API}/suites/{suite}", headers=root)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["counters"])


def _until(what: str, check: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.05)


def _heartbeat(state: str = "idle", suite: str | None = None) -> dict[str, Any]:
    return {"type": "heartbeat", "state": state, "suite_uuid": suite,
            "metrics": {"active_workers": 0}}  # fmt: skip


# --- the path a manager's suite takes --------------------------------------------------------


def test_register_next_suite_fetch_hold_report_release_and_suite_done(served: Served) -> None:
    root = _setup(served)
    low = _suite(served, root, name="low", tags=["gpu"], priority=1)
    high = _suite(served, root, name="high", tags=["gpu"], priority=5)
    _submit(served, root, low, 2)
    high_tasks = _submit(served, root, high, 3)
    _submit(served, root, None, 2)  # lone tasks: never a manager's
    manager = _manager(served, root, ["gpu", "linux"])
    with manager.socket():
        ack = manager.ask(_heartbeat())
        assert ack["type"] == "heartbeat_ack" and ack["suite"] is None
        assert ack["shutdown"] is None and ack["lease"] > 0

        assigned = manager.ask({"type": "next_suite"})
        assert assigned["type"] == "assigned", assigned
        assert assigned["suite"]["uuid"] == high, "the higher priority suite first"
        assert assigned["suite"]["pending"] == 3 and assigned["suite"]["group"] == "lab"
        again = manager.ask({"type": "next_suite"})
        assert again["suite"]["uuid"] == high, "next_suite is the manager's suite while it has one"

        fetched = manager.ask({"type": "fetch", "suite_uuid": high, "limit": 10})
        assert fetched["type"] == "tasks", fetched
        assert sorted(t["uuid"] for t in fetched["tasks"]) == sorted(high_tasks), (
            "a fetch claims only the suite's tasks"
        )
        assert fetched["suite"]["pending"] == 0 and fetched["suite"]["running"] == 3
        other = manager.ask({"type": "fetch", "suite_uuid": low, "limit": 10})
        assert other["type"] == "error" and other["status"] == 409, other

        first, second, third = fetched["tasks"]
        held = manager.ask({"type": "hold", "holding": [first["uuid"], second["uuid"]]})
        assert held["type"] == "held"
        assert sorted(held["held"]) == sorted([first["uuid"], second["uuid"]])

        reported = manager.ask({"type": "report", "reports": [
            {"uuid": first["uuid"], "attempt": 1, "exit_status": 0, "output": "ok"},
            {"uuid": second["uuid"], "attempt": 1, "exit_status": 3},
            {"uuid": third["uuid"], "attempt": 2, "exit_status": 0},
        ]})  # fmt: skip
        assert reported["type"] == "reported"
        results = {r["uuid"]: r for r in reported["results"]}
        assert results[first["uuid"]]["state"] == "succeeded"
        assert results[second["uuid"]]["state"] == "queued"  # attempts remain
        assert results[third["uuid"]]["status"] == 409  # not its attempt
        replay = manager.ask({"type": "report", "reports": [
            {"uuid": first["uuid"], "attempt": 1, "exit_status": 0}]})  # fmt: skip
        assert replay["results"][0]["status"] == 200, "a report sent again is answered the same"

        released = manager.ask({"type": "release", "uuid": third["uuid"], "attempt": 1,
                                "reason": "worker 2 crashed"})  # fmt: skip
        assert released == {"type": "ack", "id": released["id"], "state": "queued"}
        stale = manager.ask({"type": "release", "uuid": third["uuid"], "attempt": 7,
                             "reason": "again"})  # fmt: skip
        assert stale["type"] == "error" and stale["status"] == 409

        counters = _counters(served, root, high)
        assert counters["done"] == 1 and counters["pending"] == 2 and counters["running"] == 0
        result = served.http.get(f"{API}/tasks/{third['uuid']}/result", headers=root).json()
        assert [(a["worker_id"], a["outcome"]) for a in result["attempts"]] == [
            (manager.id, "lost")
        ], "the attempt is the manager's, recorded lost"
        assert "worker 2 crashed" in result["message"]

        done = manager.ask({"type": "suite_done", "suite_uuid": high, "reason": "drained"})
        assert done["type"] == "ack"
        # The high suite has queued tasks again (the failed and the released one): next.
        assert manager.ask({"type": "next_suite"})["suite"]["uuid"] == high
        manager.ask({"type": "suite_done", "suite_uuid": high, "reason": "drained"})


def test_tag_mismatch_gives_nothing_and_explicit_assignment_overrides(served: Served) -> None:
    root = _setup(served)
    suite = _suite(served, root, tags=["tpu"])
    _submit(served, root, suite, 2)
    cpu = _manager(served, root, ["linux"])
    tpu = _manager(served, root, ["tpu"])
    assert cpu.http({"type": "next_suite"})["suite"] is None, "tag mismatch: nothing"

    named = served.http.post(f"{API}/suites/{suite}/managers",
                             json={"managers": [cpu.id, "not-a-uuid"]}, headers=root)  # fmt: skip
    assert named.status_code == 200, named.text
    assert named.json()["added"] == [cpu.id] and "not-a-uuid" in named.json()["refused"]
    assert tpu.http({"type": "next_suite"})["suite"] is None, "named managers only, now"
    assert cpu.http({"type": "next_suite"})["suite"]["uuid"] == suite
    # Serving it, the assigned manager gets its tasks though it lacks the suite's tags (each
    # task carries them): the suite decides who runs its tasks, not a per-task tag check.
    fetched = cpu.http({"type": "fetch", "suite_uuid": suite, "limit": 1})
    assert len(fetched.get("tasks", [])) == 1, f"the assigned manager got no task: {fetched}"

    listed = served.http.get(f"{API}/suites/{suite}/managers", headers=root).json()
    assert [(m["uuid"], m["selection"], m["serving"]) for m in listed] == [
        (cpu.id, "user_specified", True)
    ]
    shown = served.http.get(f"{API}/suites/{suite}", headers=root).json()
    assert shown["managers"] == listed, "GET /suites/{uuid} shows its managers too"
    refreshed = served.http.post(f"{API}/suites/{suite}/managers/refresh", headers=root)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json() == {"added": [tpu.id], "removed": [], "total": 2}
    removed = served.http.post(f"{API}/suites/{suite}/managers/remove",
                               json={"managers": [cpu.id]}, headers=root)  # fmt: skip
    assert removed.json() == {"removed": [cpu.id]}
    assert tpu.http({"type": "next_suite"})["suite"]["uuid"] == suite, "tags rule again"


def test_give_up_releases_and_is_not_offered_again(served: Served) -> None:
    root = _setup(served)
    suite = _suite(served, root, tags=["gpu"])
    tasks = _submit(served, root, suite, 2)
    manager = _manager(served, root, ["gpu"])
    assert manager.http({"type": "next_suite"})["suite"]["uuid"] == suite
    fetched = manager.http({"type": "fetch", "suite_uuid": suite, "limit": 2})
    assert len(fetched["tasks"]) == 2
    hook = manager.http({"type": "hook", "suite_uuid": suite, "hook": "env_preparation",
                         "ok": True, "exit_status": 0, "seconds": 0.5,
                         "output": "ready"})  # fmt: skip
    assert hook["type"] == "ack"
    gave_up = manager.http({"type": "give_up", "suite_uuid": suite, "reason": "3 crashes"})
    assert gave_up["type"] == "ack"
    assert _counters(served, root, suite)["pending"] == 2, "its held tasks went back"
    manager.http({"type": "suite_done", "suite_uuid": suite, "reason": "gave_up"})
    assert manager.http({"type": "next_suite"})["suite"] is None, "not offered again"
    other = _manager(served, root, ["gpu"])
    assert other.http({"type": "next_suite"})["suite"]["uuid"] == suite, "others go on"
    shown = served.http.get(f"{API}/managers/{manager.id}", headers=root).json()
    assert [e["kind"] for e in shown["events"]] == ["gave_up", "env_preparation"]
    assert shown["events"][1]["output"] == "ready" and tasks


def test_http_fallback_gives_the_websocket_replies(served: Served) -> None:
    root = _setup(served)
    suite = _suite(served, root)
    _submit(served, root, suite, 1)
    manager = _manager(served, root, [])
    over_http = manager.http(_heartbeat())
    with manager.socket():
        over_ws = manager.ask(_heartbeat())
    assert {k: v for k, v in over_http.items() if k != "id"} == {
        k: v for k, v in over_ws.items() if k != "id"
    }
    missing = manager.http({"type": "fetch", "suite_uuid": suite})
    assert missing["type"] == "error" and missing["status"] == 409 and missing["hint"]


def test_bad_token_is_closed_1008_and_malformed_messages_answered(served: Served) -> None:
    root = _setup(served)
    url = served.url.replace("http://", "ws://") + "/ws/managers"
    issued = served.http.post(f"{API}/groups/lab/workers", headers=root).json()
    for headers in ({}, {"Authorization": "Bearer nonsense"},
                    {"Authorization": f"Bearer {issued['token']}"}):  # fmt: skip
        with connect(url, additional_headers=headers, proxy=None) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008, headers

    manager = _manager(served, root, [])
    with manager.socket() as ws:
        ws.send("{not json")
        bad = json.loads(ws.recv(timeout=10))
        assert bad["type"] == "error" and bad["status"] == 400 and bad["id"] is None
        ws.send(json.dumps({"type": "fetch", "id": 41}))
        bad = json.loads(ws.recv(timeout=10))
        assert bad["type"] == "error" and bad["id"] == 41 and "suite_uuid" in bad["msg"]
        ws.send(json.dumps({"type": "teleport", "id": 42}))
        assert json.loads(ws.recv(timeout=10))["id"] == 42
        assert manager.ask(_heartbeat())["type"] == "heartbeat_ack", "the socket stays open"


def test_pushes_cancel_suite_available_and_shutdown(served: Served) -> None:
    root = _setup(served)
    manager = _manager(served, root, ["gpu"])
    with manager.socket():
        manager.ask(_heartbeat())  # connected: the coordinator knows its socket now
        suite = _suite(served, root, tags=["gpu"], priority=2)
        _submit(served, root, suite, 2)
        available = manager.push("suite_available")
        assert available == {"type": "suite_available", "suite_uuid": suite, "priority": 2}
        assert manager.ask({"type": "next_suite"})["suite"]["uuid"] == suite
        cancelled = served.http.post(f"{API}/suites/{suite}/cancel", json={"running": True},
                                     headers=root)  # fmt: skip
        assert cancelled.status_code == 200, cancelled.text
        push = manager.push("cancel_suite")
        assert push == {"type": "cancel_suite", "suite_uuid": suite, "cancel_running": True}
        assert manager.ask(_heartbeat("cleanup", suite))["suite"]["state"] == "cancelled"

        asked = served.http.post(f"{API}/managers/{manager.id}/shutdown", json={"force": True},
                                 headers=root)  # fmt: skip
        assert asked.status_code == 200, asked.text
        assert manager.push("shutdown") == {"type": "shutdown", "graceful": False}
        assert manager.ask(_heartbeat())["shutdown"] == "force", "and in every HeartbeatAck"
    # Its socket closed after a shutdown: it has left.
    _until("the manager gone", lambda: served.http.get(
        f"{API}/managers/{manager.id}", headers=root).json()["state"] == "gone")  # fmt: skip
    assert manager.register(["gpu"])["manager_id"] == manager.id
    assert served.http.get(f"{API}/managers/{manager.id}", headers=root).json()["state"] == "idle"


def test_manager_routes_refuse_clearly(served: Served) -> None:
    root = _setup(served)
    reader = served.user(root, "reader")
    added = served.http.put(f"{API}/groups/lab/members/reader", json={"role": "Read"},
                            headers=root)  # fmt: skip
    assert added.status_code in (200, 201), added.text
    manager = _manager(served, root, ["gpu"])
    listed = served.http.get(f"{API}/managers", headers=reader).json()
    assert [m["uuid"] for m in listed["managers"]] == [manager.id] and listed["count"] == 1
    assert listed["managers"][0]["hostname"] == "node-1"
    refused = served.http.post(f"{API}/managers/{manager.id}/shutdown", headers=reader)
    assert refused.status_code == 403 and "Admin" in refused.json()["msg"]
    unknown = served.http.get(f"{API}/managers/00000000-0000-0000-0000-000000000000",
                              headers=root)  # fmt: skip
    assert unknown.status_code == 404 and unknown.json()["hint"]
    bad = served.http.get(f"{API}/managers?state=asleep", headers=root)
    assert bad.status_code == 400 and "asleep" in bad.json()["msg"]
    as_user = served.http.post(f"{API}/managers", json={}, headers=root)
    assert as_user.status_code == 403, "a user token cannot register a manager"


# --- offline, figures, many managers ---------------------------------------------------------


def test_a_silent_manager_goes_offline_and_its_tasks_go_back(pg_url: str, tmp_path: Path) -> None:  # noqa: F811
    settings = SETTINGS.replace("manager_offline = 600", "manager_offline = 3\nmanager_sweep = 0.1")
    with _serving(pg_url, tmp_path, settings) as served:
        root = _setup(served)
        suite = _suite(served, root)
        _submit(served, root, suite, 2)
        manager = _manager(served, root, [])
        assert manager.http(_heartbeat())["type"] == "heartbeat_ack"
        assert manager.http({"type": "next_suite"})["suite"]["uuid"] == suite
        fetched = manager.http({"type": "fetch", "suite_uuid": suite, "limit": 2})
        assert len(fetched["tasks"]) == 2, fetched
        # Silent from here: the sweep marks it offline and requeues its tasks (the lease,
        # 30 s, has not run out: the requeue is the sweep's).
        shown = _until("the manager offline", lambda: (
            m := served.http.get(f"{API}/managers/{manager.id}", headers=root).json()
        )["state"] == "offline" and m)  # fmt: skip
        assert shown["suite_uuid"] is None, "an offline manager loses its suite"
        assert _counters(served, root, suite)["pending"] == 2, "its tasks went back at once"
        result = served.http.get(f"{API}/tasks/{fetched['tasks'][0]['uuid']}/result",
                                 headers=root).json()  # fmt: skip
        assert [a["outcome"] for a in result["attempts"]] == ["lost"]

        back = manager.http(_heartbeat("idle"))
        assert back["type"] == "heartbeat_ack", "a heartbeat makes it live again"
        assert manager.http({"type": "next_suite"})["suite"]["uuid"] == suite
        again = manager.http({"type": "fetch", "suite_uuid": suite, "limit": 2})
        assert len(again["tasks"]) == 2, f"it fetches again: {again}"


def test_metrics_move(served: Served) -> None:
    root = _setup(served)
    suite = _suite(served, root)
    _submit(served, root, suite, 2)
    manager = _manager(served, root, [])
    assert served.metric("shipyard_suites", '{state="open"}') == 1
    assert served.metric("shipyard_managers", '{state="idle"}') == 1
    beats = served.metric("shipyard_manager_heartbeats_total")
    with manager.socket():
        manager.ask(_heartbeat())
        assert served.metric("shipyard_manager_websocket_connections") == 1
        manager.ask({"type": "next_suite"})
        fetched = manager.ask({"type": "fetch", "suite_uuid": suite, "limit": 2})["tasks"]
        manager.ask({"type": "report", "reports": [
            {"uuid": fetched[0]["uuid"], "attempt": 1, "exit_status": 0},
            {"uuid": fetched[1]["uuid"], "attempt": 1, "exit_status": 1},
        ]})  # fmt: skip
        manager.ask({"type": "hook", "suite_uuid": suite, "hook": "env_preparation", "ok": False,
                     "exit_status": 2, "seconds": 1.5, "output": "no"})  # fmt: skip
        manager.ask(_heartbeat("preparing", suite))
    label = f'{{suite="{suite}"}}'
    assert served.metric("shipyard_suite_tasks_fetched_total", label) == 2
    assert served.metric("shipyard_suite_tasks_completed_total", label) == 1
    assert served.metric("shipyard_suite_tasks_failed_total", label) == 1
    assert served.metric("shipyard_manager_heartbeats_total") == beats + 2
    assert served.metric("shipyard_managers", '{state="preparing"}') == 1
    hook = '{hook="env_preparation",result="failed"}'
    assert served.metric("shipyard_env_hook_duration_seconds_count", hook) == 1
    assert served.metric("shipyard_env_hook_duration_seconds_sum", hook) == 1.5
    assert served.metric("shipyard_env_hook_failures_total", '{hook="env_preparation"}') == 1
    messages = '{direction="in",type="heartbeat"}'
    assert served.metric("shipyard_manager_websocket_messages_total", messages) == 2
    assert served.metric("shipyard_manager_websocket_messages_total",
                         '{direction="out",type="tasks"}') == 1  # fmt: skip
    _until("the socket's gauge back to 0",
           lambda: served.metric("shipyard_manager_websocket_connections") == 0)  # fmt: skip


def _server_process(tmp_path: Path) -> Any:
    import psutil

    home = str(tmp_path / "home")
    for process in psutil.process_iter(["cmdline"]):
        line = process.info["cmdline"] or []
        if "serve" in line and home in line:
            return process
    raise AssertionError(f"no shipyard serve process with --home {home}")


def test_fifty_managers_register_heartbeat_and_fetch(pg_url: str, tmp_path: Path) -> None:  # noqa: F811
    """Simulated scale (issue 14 §4): 50 light managers, each a thread with its own socket,
    held by one coordinator. Prints the coordinator's CPU seconds per heartbeat; asserts only
    that every manager was served."""
    managers_count, beats = 50, 10
    with _serving(pg_url, tmp_path, SETTINGS) as served:
        root = _setup(served)
        suite = _suite(served, root)
        _submit(served, root, suite, managers_count * 2)
        managers = [_manager(served, root, []) for _ in range(managers_count)]
        server = _server_process(tmp_path)
        claimed: dict[str, list[str]] = {}
        failures: list[str] = []
        start = threading.Barrier(managers_count + 1)
        beaten = threading.Barrier(managers_count + 1)

        def run(manager: Manager) -> None:
            try:
                with manager.socket():
                    start.wait(timeout=60)
                    for _ in range(beats):
                        assert manager.ask(_heartbeat())["type"] == "heartbeat_ack"
                    beaten.wait(timeout=120)
                    assert manager.ask({"type": "next_suite"})["suite"]["uuid"] == suite
                    got = manager.ask({"type": "fetch", "suite_uuid": suite, "limit": 2})
                    claimed[manager.id] = [t["uuid"] for t in got["tasks"]]
                    manager.ask({"type": "report", "reports": [
                        {"uuid": t["uuid"], "attempt": t["attempt"], "exit_status": 0}
                        for t in got["tasks"]]})  # fmt: skip
            except Exception as error:  # reported below, with the manager
                failures.append(f"{manager.id}: {error!r}")
                with contextlib.suppress(threading.BrokenBarrierError):
                    start.abort()
                    beaten.abort()

        threads = [threading.Thread(target=run, args=(m,)) for m in managers]
        for thread in threads:
            thread.start()
        start.wait(timeout=60)
        before = server.cpu_times()
        began = time.perf_counter()
        beaten.wait(timeout=120)
        spent = time.perf_counter() - began
        after = server.cpu_times()
        for thread in threads:
            thread.join(timeout=120)
        assert failures == []
        cpu = (after.user - before.user) + (after.system - before.system)
        total = managers_count * beats
        print(f"\n{managers_count} managers x {beats} heartbeats over WebSockets: "
              f"{spent:.2f} s wall, coordinator CPU {cpu:.3f} s = "
              f"{1000 * cpu / total:.2f} ms a heartbeat")  # fmt: skip
        every = [uuid for uuids in claimed.values() for uuid in uuids]
        assert len(every) == len(set(every)) == managers_count * 2, "each task claimed once"
        assert _counters(served, root, suite)["done"] == managers_count * 2
