"""``shipyard worker`` against a real ``shipyard serve --db`` (issue 13 §4): real subprocesses
run in their own process groups with their timeouts, artifacts uploaded, results reported;
SIGTERM finishes the current task, a second SIGTERM stops it now and it goes back to the queue.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# ruff: noqa: F811  (the fixture `served` is imported, and named by the tests' parameters)
from tests.integration.test_coordinator_routes import (  # noqa: F401  (fixtures)
    Served,
    _env,
    _group,
    _task,
    pg_cluster,
    pg_url,
    served,
)
from tests.serving import _executable

# slow as a file: a served coordinator on a throwaway PostgreSQL, with real workers or managers
# whose tests wait out leases, heartbeats and timeouts (make test-slow and CI run it)
pytestmark = pytest.mark.slow

#: The workers a test started: killed (with their tasks' groups) when it ends, passed or not,
#: so a failed test leaves no worker running into the next test's garbage collection.
_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _reap_workers() -> Iterator[None]:
    yield
    while _STARTED:
        worker = _STARTED.pop()
        if worker.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
        worker.communicate()


def _start_worker(
    served: Served, tmp_path: Path, *extra: str, token: str | None = None
) -> subprocess.Popen[str]:
    """A ``shipyard worker`` of group lab (with a new worker token unless ``token`` is given)."""
    if token is None:
        root = served.login("root")
        token = served.http.post("/api/v1/groups/lab/workers", headers=root).json()["token"]
    env = _env(tmp_path / "home") | {"SHIPYARD_WORKER_TOKEN": token}
    worker = subprocess.Popen(
        [_executable(), "worker", "--server", served.url, "--group", "lab",
         "--folder", str(tmp_path / "worker"), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    _STARTED.append(worker)
    return worker


def _submit(served: Served, headers: dict[str, str], **fields: Any) -> str:
    made = served.http.post("/api/v1/tasks", json=_task(**fields), headers=headers)
    assert made.status_code == 201, made.text
    return str(made.json()["uuid"])


def _until_running(served: Served, headers: dict[str, str], uuid: str) -> None:
    for _ in range(600):
        if served.http.get(f"/api/v1/tasks/{uuid}", headers=headers).json()["state"] == "running":
            return
        time.sleep(0.05)
    raise AssertionError(f"task {uuid} never started")


def _result(served: Served, headers: dict[str, str], uuid: str) -> Any:
    return served.http.get(f"/api/v1/tasks/{uuid}/result", headers=headers).json()


def test_a_worker_runs_tasks_with_timeouts_artifacts_and_env(
    served: Served, tmp_path: Path
) -> None:
    root = served.login("root")
    _group(served, root)
    failing = _submit(
        served, root, max_attempts=1,
        command=["sh", "-c", "echo hello; echo data > \"$SHIPYARD_ARTIFACTS/out.txt\"; "
                 "echo no > \"$SHIPYARD_ARTIFACTS/..bad\\\\name\"; exit 3"],
    )  # fmt: skip
    slow = _submit(served, root, max_attempts=1, command=["sleep", "300"], timeout=1)
    greeting = _submit(
        served, root, command=["sh", "-c", 'echo "$GREETING"'], env={"GREETING": "hi; rm -rf /"}
    )
    worker = _start_worker(served, tmp_path, "--max-tasks", "3", "--json")
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    assert '"ran": 3' in out

    first = _result(served, root, failing)
    assert (first["state"], first["exit_status"]) == ("failed", 3)
    assert first["output_tail"].startswith("hello\n")  # then the refused artifact, said
    assert "not uploaded" in first["output_tail"] and "name" in first["output_tail"]
    got = served.http.get(f"/api/v1/tasks/{failing}/artifacts/out.txt", headers=root)
    assert got.status_code == 200 and got.text == "data\n"
    timed_out = _result(served, root, slow)
    assert (timed_out["state"], timed_out["exit_status"]) == ("failed", 124)
    said = _result(served, root, greeting)
    assert said["state"] == "succeeded"
    assert said["output_tail"] == "hi; rm -rf /\n"  # the environment as data, no shell of ours
    assert (tmp_path / "worker" / "logs" / f"{greeting}.log").read_text() == "hi; rm -rf /\n"


def test_sigterm_finishes_the_current_task_then_leaves(served: Served, tmp_path: Path) -> None:
    root = served.login("root")
    _group(served, root)
    uuid = _submit(served, root, command=["sh", "-c", ": > started; sleep 2; echo done"])
    worker = _start_worker(served, tmp_path)
    _until_running(served, root, uuid)
    # "running" on the coordinator is "handed out": a stop that reaches the worker before it
    # started the task gives the task back (worker.py). Here the task has really started.
    started = tmp_path / "worker" / "tasks" / uuid / "started"
    for _ in range(600):
        if started.exists():
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"task {uuid} never began its command")
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    result = _result(served, root, uuid)
    assert result["state"] == "succeeded" and result["output_tail"] == "done\n"
    assert "ran 1 task" in out


@pytest.mark.parametrize("force", [False, True])
def test_a_second_sigterm_stops_the_task_now_and_it_is_queued_again(
    served: Served, tmp_path: Path, force: bool
) -> None:
    root = served.login("root")
    _group(served, root)
    uuid = _submit(served, root, command=["sh", "-c", "sleep 300 & echo $! > pid; wait"])
    worker = _start_worker(served, tmp_path, *(["--force"] if force else []))
    _until_running(served, root, uuid)
    pid_file = tmp_path / "worker" / "tasks" / uuid / "pid"
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    worker.send_signal(signal.SIGTERM)
    assert worker.stderr is not None
    if not force:
        assert "after the current task" in worker.stderr.readline()  # taken: now the second
        worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert "ran 0 task" in out
    result = _result(served, root, uuid)
    assert result["state"] == "queued"
    assert [a["outcome"] for a in result["attempts"]] == ["lost"]
    # The task's grandchild too: its whole process group was killed (reaped by init).
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the task's process {pid} still runs")


def test_worker_without_token_or_with_a_bad_server_is_a_message(tmp_path: Path) -> None:
    env = _env(tmp_path)
    done = subprocess.run(
        [_executable(), "worker", "--server", "http://127.0.0.1:9", "--group", "lab"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0 and "SHIPYARD_WORKER_TOKEN" in done.stderr
    assert "Traceback" not in done.stderr
    for server in ("ftp://x", "http://127.0.0.1:9"):
        done = subprocess.run(
            [_executable(), "worker", "--server", server, "--group", "lab"],
            env=env | {"SHIPYARD_WORKER_TOKEN": "x"}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        assert "error:" in done.stderr


def _ended(pid: int) -> bool:
    """Gone, or a zombie its (paused) parent has not reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"
    except (OSError, IndexError):
        return True


def test_a_result_fenced_off_after_a_lost_lease_is_dropped_and_the_worker_goes_on(
    pg_url: str,
    tmp_path: Path,
) -> None:
    from tests.integration.test_coordinator_routes import _shipyard, _url, _wait_healthy, serve_db

    home = tmp_path / "home"
    home.mkdir()
    assert _shipyard(home, "db", "upgrade", "--db", pg_url).returncode == 0
    assert (
        _shipyard(home, "admin", "create-user", "root", "--admin", "--db", pg_url).returncode == 0
    )
    (tmp_path / "settings.toml").write_text("[coordinator]\nlease = 1\n")
    with serve_db(home, pg_url, "--config", str(tmp_path / "settings.toml")) as process:
        url = _url(process, tmp_path / "server.log")
        _wait_healthy(url, process, tmp_path / "server.log", 30)
        import httpx

        with httpx.Client(base_url=url, timeout=30) as http:
            served = Served(url, http, tmp_path / "server.log")
            root = served.login("root")
            _group(served, root)
            # Two attempts at most: attempt 2 (claimed below, never heartbeated) is given up
            # when its lease runs out, rather than taken by the going-on worker again.
            uuid = _submit(
                served, root, command=["sh", "-c", "echo $$ > pid; sleep 2; echo late"],
                max_attempts=2,
            )  # fmt: skip
            worker = _start_worker(served, tmp_path)
            _until_running(served, root, uuid)
            # Running in the coordinator means claimed; the worker may not have started the
            # process yet. Pausing it before then would leave no attempt 1 to fence off.
            pid_file = tmp_path / "worker" / "tasks" / uuid / "pid"
            for _ in range(200):
                if pid_file.exists() and pid_file.read_text().strip():
                    break
                time.sleep(0.05)
            assert pid_file.exists(), "the worker never started the task within 10 s"
            # The worker heartbeats every third of the lease: paused (as by a long GC pause
            # or a partition), it cannot. Another worker fetches after the 1 s lease ran out:
            # the task is recovered and claimed again (attempt 2) while attempt 1 still runs.
            worker.send_signal(signal.SIGSTOP)
            other = served.http.post("/api/v1/groups/lab/workers", headers=root).json()["token"]
            second = {"Authorization": f"Bearer {other}"}
            served.http.post("/api/v1/workers/register", json={"tags": []}, headers=second)
            taken: list[Any] = []
            for _ in range(100):
                taken = served.http.post("/api/v1/workers/fetch", json={}, headers=second).json()[
                    "tasks"
                ]
                if taken:
                    break
                time.sleep(0.1)
            assert [t["attempt"] for t in taken] == [2]
            log = tmp_path / "worker" / "logs" / f"{uuid}.log"
            pid = int(pid_file.read_text())
            for _ in range(200):  # attempt 1 ends while its worker is paused (a zombie then)
                if log.exists() and log.read_text() == "late\n" and _ended(pid):
                    break
                time.sleep(0.05)
            worker.send_signal(signal.SIGCONT)
            assert worker.stderr is not None
            line = worker.stderr.readline()  # its report is refused (409)
            assert "result dropped" in line and uuid in line
            assert worker.poll() is None  # still working
            worker.send_signal(signal.SIGTERM)
            out, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err
            assert "ran 0 task" in out
            attempts = _result(served, root, uuid)["attempts"]
            # Attempt 1 lost (its late result dropped); attempt 2, never heartbeated by the
            # test, may have lost its 1 s lease since, and the going-on worker taken it again.
            assert attempts[0]["outcome"] == "lost" and len(attempts) >= 2
