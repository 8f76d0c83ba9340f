"""``shipyard manager`` as a real process (issue 14 §2) against a real ``shipyard serve --db``
over the throwaway PostgreSQL: suites run with their hooks, managed workers crash and are
respawned, three crashes give a suite up, a cancel kills running tasks, a manager killed -9
gives its tasks back after the (shortened) offline time.

What the tests look at is what a user would: the hooks' and tasks' files, the coordinator's
records (suite counters, task attempts, managers list), and the manager's --json progress.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_coordinator_routes import Served, _env, _serving
from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)
from tests.serving import _executable

# slow as a file: a served coordinator on a throwaway PostgreSQL, with real workers or managers
# whose tests wait out leases, heartbeats and timeouts (make test-slow and CI run it)
pytestmark = pytest.mark.slow

API = "/api/v1"
#: Short timings: offline after 3 s of silence, a suite closes after 1 s without a new task.
SETTINGS = (
    "[coordinator]\nmanager_offline = 3\nsuite_idle_close = 1\nsuite_sweep = 0.2\nlease = 3\n"
)


@pytest.fixture
def served(pg_url: str, tmp_path: Path) -> Iterator[Served]:  # noqa: F811
    with _serving(pg_url, tmp_path, SETTINGS) as served:
        yield served


def _until(what: str, check: Callable[[], Any], seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.1)


@dataclass
class Lab:
    served: Served
    root: dict[str, str]
    token: str

    def suite(self, **fields: Any) -> str:
        made = self.served.http.post(f"{API}/suites", json={"group": "lab", **fields},
                                     headers=self.root)  # fmt: skip
        assert made.status_code == 201, made.text
        return str(made.json()["uuid"])

    def submit(self, suite: str, commands: list[list[str]], **fields: Any) -> list[str]:
        tasks = [{"group": "lab", "command": c, "suite_uuid": suite, **fields} for c in commands]
        answer = self.served.http.post(f"{API}/tasks/batch", json={"tasks": tasks},
                                       headers=self.root)  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert answer.json()["refused"] == [], answer.text
        return [a["uuid"] for a in answer.json()["accepted"]]

    def get(self, path: str) -> Any:
        answer = self.served.http.get(f"{API}{path}", headers=self.root)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def post(self, path: str, body: Any = None) -> Any:
        answer = self.served.http.post(f"{API}{path}", json=body, headers=self.root)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def managers(self) -> list[dict[str, Any]]:
        return list(self.get("/managers")["managers"])


@pytest.fixture
def lab(served: Served) -> Lab:
    root = served.login("root")
    made = served.http.post(f"{API}/groups", json={"name": "lab"}, headers=root)
    assert made.status_code == 201, made.text
    issued = served.http.post(f"{API}/groups/lab/managers", headers=root)
    assert issued.status_code == 201, issued.text
    return Lab(served, root, issued.json()["token"])


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    out: Path
    err: Path
    folder: Path

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        lines = self.out.read_text().splitlines() if self.out.exists() else []
        found = [json.loads(line) for line in lines if line.startswith("{")]
        return [e for e in found if kind is None or e["event"] == kind]

    def said(self) -> str:
        return f"stdout:\n{self.out.read_text()}\nstderr:\n{self.err.read_text()}"


@contextlib.contextmanager
def _manager(
    lab: Lab, tmp_path: Path, name: str = "m1", tags: str = "", server: str | None = None
) -> Iterator[Running]:
    """A real ``shipyard manager --json`` (heartbeat 0.5 s); killed with its group at the end
    (its managed workers leave when its socket closes)."""
    place = tmp_path / name
    place.mkdir(exist_ok=True)
    env = _env(tmp_path / "home") | {"SHIPYARD_MANAGER_TOKEN": lab.token}
    out, err = place / "out.jsonl", place / "err.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [_executable(), "manager", "--server", server or lab.served.url, "--group", "lab",
             "--tags", tags, "--folder", str(place / "folder"), "--heartbeat", "0.5", "--json"],
            stdout=stdout, stderr=stderr, env=env, start_new_session=True,
        )  # fmt: skip
    running = Running(process, out, err, place / "folder")
    try:
        yield running
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        for line in running.said().splitlines()[-40:]:
            sys.stderr.write(line + "\n")  # shown when the test failed


def _one(manager: Running, kind: str) -> dict[str, Any]:
    found = manager.events(kind)
    assert len(found) == 1, f"{len(found)} {kind} event(s), not one:\n{manager.said()}"
    return found[0]


def _pids(folder: Path) -> list[int]:
    return [int(p.read_text()) for p in folder.glob("*.pid") if p.read_text().strip()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for us: its parent (a killed worker) never reaps it.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    return False


def _sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def test_a_suite_runs_to_complete_with_its_hooks_once_each(lab: Lab, tmp_path: Path) -> None:
    order = tmp_path / "order.txt"
    done = tmp_path / "done"
    done.mkdir()
    suite = lab.suite(
        name="twenty", worker_schedule={"count": 2, "prefetch": 4},
        env_preparation={"command": _sh(f"echo prep $SHIPYARD_SUITE_NAME $SHIPYARD_WORKER_COUNT "
                                        f"$MINE >> {order}"), "env": {"MINE": "mine"}},
        env_cleanup={"command": _sh(f"echo cleanup >> {order}")},
    )  # fmt: skip
    tasks = lab.submit(suite, [_sh(f"echo $SHIPYARD_WORKER_INDEX > {done}/$SHIPYARD_TASK; "
                                   f"echo task >> {order}")] * 20)  # fmt: skip
    with _manager(lab, tmp_path) as manager:
        _until("the suite complete",
               lambda: lab.get(f"/suites/{suite}")["state"] == "complete")  # fmt: skip
        _until("the manager idle after its suite", lambda: manager.events("idle"))
        lines = order.read_text().splitlines()
        assert lines[0] == "prep twenty 2 mine", lines
        assert lines[-1] == "cleanup", lines
        assert lines.count("task") == 20 and len(lines) == 22, lines
        assert sorted(p.name for p in done.iterdir()) == sorted(tasks)
        assert {p.read_text().strip() for p in done.iterdir()} <= {"0", "1"}
        for uuid in tasks:
            result = lab.get(f"/tasks/{uuid}/result")
            assert result["state"] == "succeeded", result
            assert [a["outcome"] for a in result["attempts"]] == ["succeeded"], result
        done_event = _one(manager, "suite_done")
        assert done_event["reason"] == "drained" and done_event["completed"] == 20, done_event
        hooks = [(e["hook"], e["ok"]) for e in manager.events("hook_ran")]
        assert hooks == [("env_preparation", True), ("env_cleanup", True)], hooks
        assert len(lab.managers()) == 1, lab.managers()
        me = lab.managers()[0]
        _until("the coordinator to show it idle",
               lambda: lab.managers()[0]["state"] == "idle")  # fmt: skip
        assert me["group"] == "lab"
        counters = lab.get(f"/suites/{suite}")["counters"]
        assert counters["done"] == 20 and counters["failed"] == 0, counters


def test_a_failed_preparation_gives_the_suite_up_here_and_starts_no_worker(
    lab: Lab, tmp_path: Path
) -> None:
    order = tmp_path / "order.txt"
    suite = lab.suite(
        env_preparation={"command": _sh(f"echo prep >> {order}; echo no disk; exit 3")},
        env_cleanup={"command": _sh(f"echo cleanup >> {order}")},
    )
    tasks = lab.submit(suite, [["true"]] * 3)
    with _manager(lab, tmp_path) as manager:
        _until("the manager idle after giving up", lambda: manager.events("idle"))
        gave_up = _one(manager, "gave_up")
        assert "exit" in gave_up["reason"] or "failed" in gave_up["reason"], gave_up
        assert "no disk" in gave_up["reason"], gave_up
        assert manager.events("workers_started") == [], manager.said()
        done_event = _one(manager, "suite_done")
        assert done_event["reason"] == "gave_up", done_event
        assert [(e["hook"], e["ok"]) for e in manager.events("hook_ran")] == [
            ("env_preparation", False), ("env_cleanup", True)]  # fmt: skip
        assert order.read_text().splitlines() == ["prep", "cleanup"]
        # Not offered again to this manager: the tasks stay queued for others.
        time.sleep(1.5)
        assert len(manager.events("suite_taken")) == 1, manager.said()
        for uuid in tasks:
            assert lab.get(f"/tasks/{uuid}/result")["state"] == "queued"


def _started(pids: Path, count: int) -> list[int]:
    """The pids of the tasks that wrote their pid file (once ``count`` did)."""
    return list(_until(f"{count} task(s) started",
                       lambda: len(found := _pids(pids)) >= count and found))  # fmt: skip


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[1])


def test_a_managed_worker_killed_mid_task_is_respawned_and_its_task_runs_again(
    lab: Lab, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    # The first attempt waits to be killed; the second finds the marker and ends at once.
    marker = tmp_path / "first"
    suite = lab.suite(worker_schedule={"count": 1, "prefetch": 1})
    (task,) = lab.submit(suite, [_sh(
        f"if [ -e {marker} ]; then exit 0; fi; touch {marker}; echo $$ > {pids}/t.pid; sleep 60"
    )], max_attempts=3)  # fmt: skip
    with _manager(lab, tmp_path) as manager:
        (task_pid,) = _started(pids, 1)
        os.kill(_parent(task_pid), signal.SIGKILL)  # the managed worker running it
        result = _until(
            "the task to succeed on its second attempt",
            lambda: (r := lab.get(f"/tasks/{task}/result"))["state"] == "succeeded" and r,
        )
        assert [a["outcome"] for a in result["attempts"]] == ["lost", "succeeded"], result
        _until("the killed worker's task killed too", lambda: not _alive(task_pid), 10)
        ended = manager.events("worker_ended")
        assert len(ended) == 1 and "SIGKILL" in ended[0]["reason"], ended
        assert ended[0]["crashes"] == 1, ended
        assert manager.events("gave_up") == [], manager.said()
        _until("the suite through here", lambda: manager.events("suite_done"))
        assert manager.events("suite_done")[0]["reason"] == "drained"
    assert lab.get(f"/suites/{suite}")["counters"]["done"] == 1


def test_three_crashes_give_the_suite_up_on_this_machine(lab: Lab, tmp_path: Path) -> None:
    # Each attempt kills its own managed worker (its parent).
    suite = lab.suite(worker_schedule={"count": 1, "prefetch": 1})
    (task,) = lab.submit(suite, [_sh("kill -9 $PPID; sleep 60")], max_attempts=10)
    with _manager(lab, tmp_path) as manager:
        _until("the suite given up", lambda: manager.events("gave_up"))
        _until("the manager idle again", lambda: manager.events("idle"))
        crashes = manager.events("worker_ended")
        assert [e["crashes"] for e in crashes] == [1, 2, 3], crashes
        done = _one(manager, "suite_done")
        assert done["reason"] == "gave_up", done
        assert len(manager.events("workers_started")) == 1
        result = lab.get(f"/tasks/{task}/result")
        assert [a["outcome"] for a in result["attempts"]] == ["lost"] * 3, result
        assert result["state"] == "queued", result  # back for another machine
        time.sleep(1.5)
        assert len(manager.events("suite_taken")) == 1, "given up, yet offered again"


def test_a_cancel_with_running_kills_the_running_tasks(lab: Lab, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    order = tmp_path / "order.txt"
    suite = lab.suite(worker_schedule={"count": 2, "prefetch": 2},
                      env_cleanup={"command": _sh(f"echo cleanup >> {order}")})  # fmt: skip
    tasks = lab.submit(suite, [_sh(f"echo $$ > {pids}/$SHIPYARD_TASK.pid; sleep 60")] * 3)
    with _manager(lab, tmp_path) as manager:
        running = _started(pids, 2)
        lab.post(f"/suites/{suite}/cancel", {"running": True})
        for pid in running:
            _until(f"running task {pid} killed", lambda pid=pid: not _alive(pid), 15)
        _until("the suite done here", lambda: manager.events("suite_done"))
        # Told by the coordinator's push (a lost lease would kill them too, later).
        told = _one(manager, "suite_cancelled")
        assert told["cancel_running"] is True, told
        assert manager.events("suite_done")[0]["reason"] == "cancelled"
        assert order.read_text().splitlines() == ["cleanup"]
        _until("the manager idle", lambda: manager.events("idle"))
        states = {lab.get(f"/tasks/{uuid}/result")["state"] for uuid in tasks}
        assert states == {"cancelled"}, states


def test_a_manager_killed_gives_its_tasks_back_after_the_offline_time(
    lab: Lab, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    suite = lab.suite(worker_schedule={"count": 2, "prefetch": 2})
    tasks = lab.submit(suite, [_sh(f"echo $$ > {pids}/$SHIPYARD_TASK.pid; sleep 60")] * 2)
    with _manager(lab, tmp_path) as manager:
        running = _started(pids, 2)
        manager.process.kill()  # the manager only: its workers see its socket close
        manager.process.wait()
        for pid in running:
            _until(f"task {pid} killed by its worker", lambda pid=pid: not _alive(pid), 15)
        _until("the manager offline", lambda: lab.managers()[0]["state"] == "offline", 30)
        for uuid in tasks:
            result = _until(f"task {uuid} queued again",
                            lambda uuid=uuid: (r := lab.get(f"/tasks/{uuid}/result"))["state"]
                            == "queued" and r)  # fmt: skip
            assert [a["outcome"] for a in result["attempts"]] == ["lost"], result


def test_managed_workers_are_bound_to_their_cpus(lab: Lab, tmp_path: Path) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs")
    first, second = sorted(os.sched_getaffinity(0))[:2]
    seen = tmp_path / "seen"
    seen.mkdir()
    suite = lab.suite(worker_schedule={
        "count": 2, "prefetch": 2,
        "cpu_binding": {"strategy": "round-robin", "cores": [first, second]}})  # fmt: skip
    # Each task notes its worker's index and the CPUs it may run on (inherited from its worker).
    script = ("grep Cpus_allowed_list /proc/self/status | cut -f2 "
              f"> {seen}/$SHIPYARD_WORKER_INDEX.$SHIPYARD_TASK; sleep 0.3")  # fmt: skip
    lab.submit(suite, [_sh(script)] * 6)
    with _manager(lab, tmp_path) as manager:
        _until("the suite through here", lambda: manager.events("suite_done"))
    cpus = {p.name.split(".")[0]: p.read_text().strip() for p in seen.iterdir()}
    assert cpus == {"0": str(first), "1": str(second)}, cpus


def test_cores_this_machine_lacks_give_the_suite_up_saying_so(lab: Lab, tmp_path: Path) -> None:
    suite = lab.suite(worker_schedule={
        "count": 1, "cpu_binding": {"strategy": "shared", "cores": [4000]}})  # fmt: skip
    lab.submit(suite, [["true"]])
    with _manager(lab, tmp_path) as manager:
        _until("the suite given up", lambda: manager.events("gave_up"))
        reason = _one(manager, "gave_up")["reason"]
        assert "CPU 4000, which this machine does not offer" in reason, reason
        assert manager.events("workers_started") == []


def test_a_hook_past_its_timeout_is_killed_with_its_children(lab: Lab, tmp_path: Path) -> None:
    child = tmp_path / "child.pid"
    suite = lab.suite(env_preparation={
        "command": _sh(f"sleep 60 & echo $! > {child}; wait"), "timeout": 1})  # fmt: skip
    lab.submit(suite, [["true"]])
    with _manager(lab, tmp_path) as manager:
        _until("the suite given up", lambda: manager.events("gave_up"))
        hook = manager.events("hook_ran")[0]
        assert hook["ok"] is False and hook["exit_status"] is None, hook
        assert "timed out after 1" in _one(manager, "gave_up")["reason"]
        pid = int(child.read_text())
        _until("the hook's child killed with it", lambda: not _alive(pid), 10)


def test_sigterm_finishes_the_running_task_gives_the_rest_back_and_leaves(
    lab: Lab, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    order = tmp_path / "order.txt"
    release = tmp_path / "release"
    suite = lab.suite(worker_schedule={"count": 1, "prefetch": 2},
                      env_cleanup={"command": _sh(f"echo cleanup >> {order}")})  # fmt: skip
    # The running task ends once the test lets it (after the SIGTERM); the others wait queued.
    script = (f"echo $$ > {pids}/$SHIPYARD_TASK.pid; "
              f"while [ ! -e {release} ]; do sleep 0.1; done")  # fmt: skip
    tasks = lab.submit(suite, [_sh(script)] * 3)
    with _manager(lab, tmp_path) as manager:
        _started(pids, 1)
        manager.process.send_signal(signal.SIGTERM)
        _until("the shutdown taken", lambda: manager.events("shutdown"))
        release.touch()
        assert manager.process.wait(timeout=60) == 0, manager.said()
        assert _one(manager, "suite_done")["reason"] == "shutdown"
        assert manager.events("left"), manager.said()
    assert order.read_text().splitlines() == ["cleanup"]
    states = {}
    for uuid in tasks:
        states[uuid] = lab.get(f"/tasks/{uuid}/result")["state"]
    ran = next(p.stem for p in pids.iterdir())
    assert states.pop(ran) == "succeeded", states
    assert set(states.values()) == {"queued"}, states  # the prefetched one given back too


def test_a_second_sigterm_kills_the_running_task_and_leaves(lab: Lab, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    suite = lab.suite(worker_schedule={"count": 1, "prefetch": 1})
    lab.submit(suite, [_sh(f"echo $$ > {pids}/$SHIPYARD_TASK.pid; sleep 60")])
    with _manager(lab, tmp_path) as manager:
        (pid,) = _started(pids, 1)
        manager.process.send_signal(signal.SIGTERM)
        _until("the first stop taken", lambda: manager.events("shutdown"))
        manager.process.send_signal(signal.SIGTERM)
        _until("the second stop taken", lambda: len(manager.events("shutdown")) == 2, 20)
        assert [e["how"] for e in manager.events("shutdown")] == ["graceful", "force"]
        _until("the running task killed", lambda: not _alive(pid), 10)
        assert manager.process.wait(timeout=30) == 0, manager.said()


def test_a_shutdown_now_kills_a_running_hook(lab: Lab, tmp_path: Path) -> None:
    child = tmp_path / "child.pid"
    suite = lab.suite(env_preparation={"command": _sh(f"sleep 60 & echo $! > {child}; wait")})
    lab.submit(suite, [["true"]])
    with _manager(lab, tmp_path) as manager:
        pid = int(_until("the hook started", lambda: child.exists() and child.read_text()))
        manager.process.send_signal(signal.SIGTERM)
        _until("the first stop taken", lambda: manager.events("shutdown"))
        manager.process.send_signal(signal.SIGTERM)
        _until("the hook's child killed", lambda: not _alive(pid), 20)
        _until("the manager to leave", lambda: manager.process.poll() is not None, 20)
        assert manager.events("workers_started") == [], manager.said()


def _cli(lab: Lab, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    token = lab.root["Authorization"].split()[1]
    env = _env(tmp_path / "home") | {"SHIPYARD_SERVER": lab.served.url, "SHIPYARD_TOKEN": token}
    return subprocess.run([_executable(), *args], env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def test_managers_list_and_manager_shutdown_from_the_cli(lab: Lab, tmp_path: Path) -> None:
    with _manager(lab, tmp_path, tags="gpu,a100") as manager:
        _until("the manager idle", lambda: lab.managers() and manager.events("registered"))
        listed = _cli(lab, tmp_path, "managers", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        (found,) = json.loads(listed.stdout)["managers"]
        assert sorted(found["tags"]) == ["a100", "gpu"] and found["group"] == "lab", found
        table = _cli(lab, tmp_path, "managers", "list")
        assert found["uuid"] in table.stdout and "a100,gpu" in table.stdout, table.stdout
        asked = _cli(lab, tmp_path, "manager", "shutdown", found["uuid"])
        assert asked.returncode == 0, asked.stderr
        assert "shutdown (graceful) asked" in asked.stdout, asked.stdout
        _until("the manager to leave", lambda: manager.process.poll() is not None, 30)
        assert manager.process.returncode == 0, manager.said()
        assert manager.events("left"), manager.said()
    unknown = _cli(lab, tmp_path, "manager", "shutdown", "00000000-0000-0000-0000-000000000000")
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr, unknown.stderr


class HttpOnlyProxy:
    """A reverse proxy on 127.0.0.1 that passes HTTP requests on and refuses every WebSocket
    (an upgrade is answered 502, as a proxy that does not carry them): a manager behind it
    must do everything over ``POST /managers/messages``. It notes the messages' types."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.types: list[str] = []
        self.upgrades = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.forward(self)

            def do_POST(self) -> None:
                proxy.forward(self)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def forward(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        if handler.headers.get("Upgrade", "").lower() == "websocket":
            self.upgrades += 1
            handler.send_response(502)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        if handler.path == f"{API}/managers/messages":
            self.types.append(json.loads(body)["type"])
        headers = {name: value for name, value in handler.headers.items()
                   if name.lower() in ("authorization", "content-type")}  # fmt: skip
        with httpx.Client(base_url=self.upstream, timeout=60) as client:
            answer = client.request(handler.command, handler.path, content=body, headers=headers)
        handler.send_response(answer.status_code)
        handler.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
        handler.send_header("Content-Length", str(len(answer.content)))
        handler.end_headers()
        handler.wfile.write(answer.content)

    def __enter__(self) -> HttpOnlyProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def test_without_its_websocket_a_manager_runs_a_suite_over_http(lab: Lab, tmp_path: Path) -> None:
    order = tmp_path / "order.txt"
    suite = lab.suite(worker_schedule={"count": 2, "prefetch": 4},
                      env_preparation={"command": _sh(f"echo prep >> {order}")},
                      env_cleanup={"command": _sh(f"echo cleanup >> {order}")})  # fmt: skip
    tasks = lab.submit(suite, [["true"]] * 10)
    with HttpOnlyProxy(lab.served.url) as proxy, _manager(lab, tmp_path, server=proxy.url) as m:
        _until("the suite through here", lambda: m.events("suite_done"))
        assert _one(m, "suite_done")["completed"] == 10, m.said()
        assert proxy.upgrades >= 1, "the manager never tried its WebSocket"
        sent = set(proxy.types)
        assert {"heartbeat", "next_suite", "fetch", "report", "hook", "suite_done"} <= sent, sent
    assert order.read_text().splitlines() == ["prep", "cleanup"]
    assert {lab.get(f"/tasks/{uuid}/result")["state"] for uuid in tasks} == {"succeeded"}


def test_the_coordinator_killed_mid_suite_every_task_ends_succeeded_once(
    pg_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    from tests.integration.test_coordinator_faults import Site

    site = Site(pg_url, tmp_path)
    (tmp_path / "settings.toml").write_text(SETTINGS)
    site.bootstrap()
    site.start()
    try:
        root = site.login()
        assert site.http.post(f"{API}/groups", json={"name": "lab"}, headers=root).is_success
        issued = site.http.post(f"{API}/groups/lab/managers", headers=root)
        served = Served(site.url, site.http, site.log)
        lab = Lab(served, root, issued.json()["token"])
        done = tmp_path / "done"
        done.mkdir()
        suite = lab.suite(worker_schedule={"count": 2, "prefetch": 4})
        tasks = lab.submit(suite, [_sh(f"sleep 0.2; touch {done}/$SHIPYARD_TASK")] * 30,
                           max_attempts=5)  # fmt: skip
        with _manager(lab, tmp_path) as manager:
            _until("a few tasks done", lambda: len(list(done.iterdir())) >= 4)
            site.kill_server()
            time.sleep(1)
            site.start()
            _until("the suite complete", lambda: lab.get(f"/suites/{suite}")["state"]
                   == "complete", 90)  # fmt: skip
            assert "WebSocket" in manager.err.read_text(), manager.said()
        for uuid in tasks:
            result = lab.get(f"/tasks/{uuid}/result")
            outcomes = [a["outcome"] for a in result["attempts"]]
            assert result["state"] == "succeeded" and outcomes.count("succeeded") == 1, result
    finally:
        site.close()


@pytest.mark.parametrize(
    ("token", "group", "said"),
    [
        ("", "lab", "no manager token"),
        ("not-a-token", "lab", "SHIPYARD_MANAGER_TOKEN"),
        (None, "other", "the token is a manager's of group 'lab', not 'other'"),
    ],
)
def test_a_manager_refused_says_why_without_a_traceback(
    lab: Lab, tmp_path: Path, token: str | None, group: str, said: str
) -> None:
    env = _env(tmp_path / "home") | {
        "SHIPYARD_MANAGER_TOKEN": lab.token if token is None else token
    }
    ran = subprocess.run(
        [_executable(), "manager", "--server", lab.served.url, "--group", group,
         "--folder", str(tmp_path / "m")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ran.returncode != 0, ran.stdout
    assert said in ran.stderr and "Traceback" not in ran.stderr, ran.stderr


def test_two_managers_share_a_suite_and_each_task_runs_once(lab: Lab, tmp_path: Path) -> None:
    done = tmp_path / "done"
    done.mkdir()
    second = lab.served.http.post(f"{API}/groups/lab/managers", headers=lab.root)
    assert second.status_code == 201, second.text
    suite = lab.suite(worker_schedule={"count": 1, "prefetch": 2})
    tasks = lab.submit(suite, [_sh(f"sleep 0.2; echo $SHIPYARD_TASK >> {done}/ran")] * 16)
    other = Lab(lab.served, lab.root, second.json()["token"])
    with _manager(lab, tmp_path, "m1") as one, _manager(other, tmp_path, "m2") as two:
        _until("the suite complete",
               lambda: lab.get(f"/suites/{suite}")["state"] == "complete")  # fmt: skip
        _until("both through", lambda: one.events("suite_done") and two.events("suite_done"))
        counts = [_one(m, "suite_done")["completed"] for m in (one, two)]
    assert sum(counts) == 16 and min(counts) > 0, counts
    ran = (done / "ran").read_text().split()
    assert sorted(ran) == sorted(tasks), "a task ran twice or not at all"


def test_a_task_past_its_timeout_is_killed_and_reported_124(lab: Lab, tmp_path: Path) -> None:
    child = tmp_path / "child.pid"
    suite = lab.suite(worker_schedule={"count": 1, "prefetch": 1})
    (task,) = lab.submit(suite, [_sh(f"sleep 60 & echo $! > {child}; wait")], timeout=1,
                         max_attempts=1)  # fmt: skip
    with _manager(lab, tmp_path) as manager:
        result = _until("the task ended", lambda: (r := lab.get(f"/tasks/{task}/result"))[
            "state"] in ("succeeded", "failed") and r)  # fmt: skip
        assert result["state"] == "failed" and result["exit_status"] == 124, result
        _until("the task's child killed with it", lambda: not _alive(int(child.read_text())), 20)
        _until("the suite through here", lambda: manager.events("suite_done"))
        assert _one(manager, "suite_done")["failed"] == 1


def test_a_manager_marked_offline_while_idle_is_live_again_at_its_next_ask(
    lab: Lab,
    pg_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The coordinator marks a manager offline when it could not hear it (a restart, a slow
    machine). Its next ``next_suite`` is refused (409): the manager heartbeats, which makes it
    live again, and asks on — it does not leave (seen in a CI run: it left with that 409)."""
    import io

    import psycopg

    from shipyard.manager.node import Manager

    node = Manager(server=lab.served.url, token=lab.token, group="lab", tags=[],
                   folder=tmp_path / "node", heartbeat=30, out=io.StringIO())  # fmt: skip
    from shipyard.coordinator.managerprotocol import RegisterBody

    node.manager_id = node.channel.register(RegisterBody()).manager_id
    try:
        with psycopg.connect(pg_url, autocommit=True) as connection:
            connection.execute("UPDATE managers SET state = 'offline' WHERE id = %s",
                               (node.manager_id,))  # fmt: skip
        assert node._next_suite() is None  # refused as offline: no suite this time
        state = next(m["state"] for m in lab.managers() if m["uuid"] == node.manager_id)
        assert state == "idle", f"the manager is {state}: its heartbeat did not make it live"
        suite = lab.suite()
        lab.submit(suite, [["true"]])
        taken = node._next_suite()
        assert taken is not None and taken.uuid == suite, taken
    finally:
        node.channel.close()
