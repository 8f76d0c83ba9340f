"""``shipyard worker --concurrency N`` and ``POST /api/v1/workers/reports`` (issue 13 §7)
against a real ``shipyard serve --db`` on a throwaway PostgreSQL, with real worker processes:
tasks really overlap (they wait on each other's files), each in its own process group; a
SIGTERM lets every running task finish and takes no new one, a second kills every group and
the tasks go back; a lost lease kills only that task's group; a batch report is fenced per item.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

# ruff: noqa: F811  (the fixtures are imported, and named by the tests' parameters)
from tests.integration.test_coordinator_routes import (  # noqa: F401  (fixtures)
    Served,
    _group,
    _serving,
    _shipyard,
    _url,
    _wait_healthy,
    pg_cluster,
    pg_url,
    serve_db,
    served,
)
from tests.integration.test_coordinator_worker import (  # noqa: F401  (the reaping fixture)
    _reap_workers,
    _result,
    _start_worker,
    _submit,
)

# slow as a file: a served coordinator on a throwaway PostgreSQL, with real workers or managers
# whose tests wait out leases, heartbeats and timeouts (make test-slow and CI run it)
pytestmark = pytest.mark.slow

#: Each task notes "pid pgid" under $MEET, then waits (at most 30 s) until $WANT tasks have.
MEETING = (
    'echo "$$ $(cut -d" " -f5 /proc/$$/stat)" > "$MEET/$SHIPYARD_TASK"; '
    'for i in $(seq 600); do [ "$(ls "$MEET" | wc -l)" -ge "$WANT" ] && exit 0; sleep 0.05; done; '
    "exit 1"
)


def _files(folder: Path, count: int, what: str) -> list[Path]:
    """Wait (event by event, at most 60 s) until ``folder`` holds ``count`` files (a task's
    ``.tmp`` file, not yet moved into place, does not count)."""
    for _ in range(1200):
        found = sorted(path for path in folder.iterdir() if path.suffix != ".tmp")
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what}: {len(list(folder.iterdir()))} of {count} files in {folder}")


def _states(served: Served, root: dict[str, str], uuids: list[str]) -> list[str]:
    return sorted(_result(served, root, uuid)["state"] for uuid in uuids)


def test_tasks_run_at_once_each_in_its_own_process_group(served: Served, tmp_path: Path) -> None:
    root = served.login("root")
    _group(served, root)
    meet = tmp_path / "meet"
    meet.mkdir()
    env = {"MEET": str(meet), "WANT": "3"}
    uuids = [
        _submit(served, root, command=["sh", "-c", MEETING], env=env, max_attempts=1)
        for _ in range(3)
    ]
    worker = _start_worker(served, tmp_path, "--concurrency", "3", "--max-tasks", "3", "--json")
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    statuses = [_result(served, root, uuid)["exit_status"] for uuid in uuids]
    assert statuses == [0, 0, 0], f"the tasks did not run at once (1: waited alone): {statuses}"
    assert '"ran": 3' in out
    noted = [path.read_text().split() for path in meet.iterdir()]
    assert all(pid == group for pid, group in noted), f"a task not leading its group: {noted}"
    assert len({group for _, group in noted}) == 3, f"tasks sharing a group: {noted}"


def test_sigterm_lets_every_running_task_finish_and_takes_no_new_one(
    served: Served, tmp_path: Path
) -> None:
    root = served.login("root")
    _group(served, root)
    meet, go = tmp_path / "meet", tmp_path / "go"
    meet.mkdir()
    waiting = f'touch "$MEET/$SHIPYARD_TASK"; while [ ! -e "{go}" ]; do sleep 0.05; done; echo done'
    uuids = [
        _submit(served, root, command=["sh", "-c", waiting], env={"MEET": str(meet)})
        for _ in range(4)
    ]
    worker = _start_worker(served, tmp_path, "--concurrency", "3")
    _files(meet, 3, "three tasks running")
    worker.send_signal(signal.SIGTERM)
    assert worker.stderr is not None
    assert "after the current task" in worker.stderr.readline()  # taken: now let them end
    go.touch()
    for _ in range(1200):  # until it leaves; a fourth task started meanwhile fails at once
        started = len(list(meet.iterdir()))
        assert started == 3, f"{started} tasks started: one taken after the SIGTERM"
        if worker.poll() is not None:
            break
        time.sleep(0.05)
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert "ran 3 task" in out, out
    assert _states(served, root, uuids) == ["queued", "succeeded", "succeeded", "succeeded"]
    assert len(list(meet.iterdir())) == 3, "a task was started after the SIGTERM"
    for uuid in uuids:
        result = _result(served, root, uuid)
        if result["state"] == "succeeded":
            assert result["output_tail"] == "done\n"
        else:
            assert result["attempts"] == [], "the fourth task was claimed after the SIGTERM"


def _gone(pid: int) -> bool:
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_second_sigterm_kills_every_running_group_and_the_tasks_go_back(
    served: Served, tmp_path: Path
) -> None:
    root = served.login("root")
    _group(served, root)
    meet = tmp_path / "meet"
    meet.mkdir()
    # The grandchild's pid is noted: the whole group must die, not only the shell.
    command = ["sh", "-c", 'sleep 300 & echo $! > "$MEET/$SHIPYARD_TASK.tmp"; '
               'mv "$MEET/$SHIPYARD_TASK.tmp" "$MEET/$SHIPYARD_TASK"; wait']  # fmt: skip
    uuids = [_submit(served, root, command=command, env={"MEET": str(meet)}) for _ in range(2)]
    worker = _start_worker(served, tmp_path, "--concurrency", "2")
    pids = [int(path.read_text()) for path in _files(meet, 2, "two tasks running")]
    worker.send_signal(signal.SIGTERM)
    assert worker.stderr is not None
    assert "after the current task" in worker.stderr.readline()
    worker.send_signal(signal.SIGTERM)
    alive = [pid for pid in pids if not _gone(pid)]
    assert not alive, f"tasks' grandchildren still run after the stop-now: {alive}"
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert "ran 0 task" in out
    for uuid in uuids:
        result = _result(served, root, uuid)
        assert result["state"] == "queued", result
        assert [a["outcome"] for a in result["attempts"]] == ["lost"], result


@pytest.fixture
def short_lease(pg_url: str, tmp_path: Path) -> Iterator[Served]:
    """A coordinator with a 3 s lease: the worker heartbeats every second."""
    home = tmp_path / "home"
    home.mkdir()
    assert _shipyard(home, "db", "upgrade", "--db", pg_url).returncode == 0
    assert (
        _shipyard(home, "admin", "create-user", "root", "--admin", "--db", pg_url).returncode == 0
    )
    (tmp_path / "settings.toml").write_text("[coordinator]\nlease = 3\n")
    with serve_db(home, pg_url, "--config", str(tmp_path / "settings.toml")) as process:
        url = _url(process, tmp_path / "server.log")
        _wait_healthy(url, process, tmp_path / "server.log", 30)
        with httpx.Client(base_url=url, timeout=30) as http:
            yield Served(url, http, tmp_path / "server.log")


def _take_over(served: Served, pg_url: str, uuid: str, headers: dict[str, str]) -> None:
    """Another worker takes ``uuid`` as the coordinator does when a lease ran out: its lease
    is made to have ended (the worker's heartbeats keep it alive otherwise), then a fetch
    recovers it and claims it as attempt 2."""
    import psycopg

    for _ in range(100):
        with psycopg.connect(pg_url, autocommit=True) as connection:
            connection.execute(
                "UPDATE tasks SET lease_expires = now() - interval '1 hour' WHERE uuid = %s",
                (uuid,),
            )
        taken = served.http.post("/api/v1/workers/fetch", json={}, headers=headers).json()
        if [t["uuid"] for t in taken["tasks"]] == [uuid]:
            return
        time.sleep(0.1)
    raise AssertionError(f"task {uuid} was never taken over")


def test_a_lost_lease_kills_only_that_tasks_group(
    short_lease: Served, pg_url: str, tmp_path: Path
) -> None:
    served = short_lease
    root = served.login("root")
    _group(served, root)
    meet, go = tmp_path / "meet", tmp_path / "go"
    meet.mkdir()
    command = ["sh", "-c", f'sleep 300 & echo $! > "$MEET/$SHIPYARD_TASK.tmp"; '
               f'mv "$MEET/$SHIPYARD_TASK.tmp" "$MEET/$SHIPYARD_TASK"; '
               f'while [ ! -e "{go}" ]; do sleep 0.05; done; kill $!; echo done']  # fmt: skip
    uuids = [
        _submit(served, root, command=command, env={"MEET": str(meet)}, max_attempts=2)
        for _ in range(2)
    ]
    worker = _start_worker(served, tmp_path, "--concurrency", "2")
    pids = {path.name: int(path.read_text()) for path in _files(meet, 2, "two tasks running")}
    other = served.http.post("/api/v1/groups/lab/workers", headers=root).json()["token"]
    second = {"Authorization": f"Bearer {other}"}
    served.http.post("/api/v1/workers/register", json={"tags": []}, headers=second)
    lost, kept = uuids
    _take_over(served, pg_url, lost, second)
    assert _gone(pids[lost]), "the task whose lease was lost still runs on the old worker"
    assert not _gone_now(pids[kept]), "the other task was killed with it"
    go.touch()
    for _ in range(600):
        if _result(served, root, kept)["state"] == "succeeded":
            break
        time.sleep(0.05)
    assert _result(served, root, kept)["output_tail"] == "done\n"
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert "ran 1 task" in out, out
    assert f"task {lost}: its lease went to another attempt" in err


def _gone_now(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _fetched(served: Served, headers: dict[str, str], count: int) -> list[dict[str, Any]]:
    taken: list[dict[str, Any]] = []
    while len(taken) < count:
        answer = served.http.post(
            "/api/v1/workers/fetch", json={"limit": count - len(taken), "wait": 5}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        taken += answer.json()["tasks"]
    return taken


def test_a_batch_report_is_fenced_item_by_item(served: Served) -> None:
    root = served.login("root")
    _group(served, root)
    uuids = [_submit(served, root, command=["true"], max_attempts=1) for _ in range(2)]
    token = served.http.post("/api/v1/groups/lab/workers", headers=root).json()["token"]
    worker = {"Authorization": f"Bearer {token}"}
    served.http.post("/api/v1/workers/register", json={"tags": []}, headers=worker)
    first, second = sorted(_fetched(served, worker, 2), key=lambda t: uuids.index(t["uuid"]))
    unknown = "00000000-0000-4000-8000-000000000000"
    reports = [
        {"uuid": first["uuid"], "attempt": first["attempt"], "exit_status": 0, "output": "ok"},
        {"uuid": second["uuid"], "attempt": second["attempt"] + 1, "exit_status": 0},
        {"uuid": unknown, "attempt": 1, "exit_status": 0},
    ]
    answer = served.http.post("/api/v1/workers/reports", json={"reports": reports}, headers=worker)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [(r["uuid"], r["status"], r["state"]) for r in results] == [
        (first["uuid"], 200, "succeeded"),
        (second["uuid"], 409, None),  # another attempt's number: fenced off
        (unknown, 404, None),
    ], results
    assert all(r["msg"] for r in results[1:]), results
    assert _result(served, root, first["uuid"])["output_tail"] == "ok"
    assert _result(served, root, second["uuid"])["state"] == "running"
    # Sent again (its answer lost): the taken one is answered as before, not refused.
    again = served.http.post(
        "/api/v1/workers/reports", json={"reports": reports[:1]}, headers=worker
    ).json()["results"]
    assert [(r["status"], r["state"]) for r in again] == [(200, "succeeded")]


@pytest.mark.parametrize(
    ("reports", "said"),
    [
        ([], "reports"),
        ([{"uuid": "00000000-0000-4000-8000-000000000000", "attempt": 1, "exit_status": 0}] * 2,
         "reported twice"),
        ([{"uuid": "00000000-0000-4000-8000-000000000000", "attempt": 1, "exit_status": 0}]
         * 1001, "reports"),
        ([{"uuid": "not-a-uuid", "attempt": 1, "exit_status": 0}], "uuid"),
    ],
)  # fmt: skip
def test_a_bad_batch_report_is_400_with_what_is_wrong(
    served: Served, reports: list[dict[str, Any]], said: str
) -> None:
    root = served.login("root")
    _group(served, root)
    token = served.http.post("/api/v1/groups/lab/workers", headers=root).json()["token"]
    worker = {"Authorization": f"Bearer {token}"}
    served.http.post("/api/v1/workers/register", json={"tags": []}, headers=worker)
    answer = served.http.post("/api/v1/workers/reports", json={"reports": reports}, headers=worker)
    assert answer.status_code in (400, 422), answer.text
    assert said in answer.json()["msg"], answer.json()


@pytest.mark.parametrize(
    ("given", "said"),
    [("0", "not in the range"), ("257", "not in the range"), ("many", "not a valid integer")],
)
def test_a_bad_concurrency_is_a_message(tmp_path: Path, given: str, said: str) -> None:
    from tests.integration.test_coordinator_routes import _env
    from tests.serving import _executable

    for how in ("flag", "env"):
        env = _env(tmp_path) | {"SHIPYARD_WORKER_TOKEN": "x"}
        args = [_executable(), "worker", "--server", "http://127.0.0.1:9", "--group", "lab"]
        if how == "flag":
            args += ["--concurrency", given]
        else:
            env["SHIPYARD_WORKER_CONCURRENCY"] = given
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (how, done.stderr)
        assert "--concurrency" in done.stderr and said in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_a_task_whose_fetch_answer_was_lost_is_recovered_and_run(
    short_lease: Served, tmp_path: Path
) -> None:
    """A fetch claims a task and its answer never reaches the worker (here: the claim is made
    with the worker's token and the answer dropped). The worker's heartbeats list only the
    tasks it knows it holds, so that lease runs out and the task is recovered and run."""
    served = short_lease
    root = served.login("root")
    _group(served, root)
    uuid = _submit(served, root, command=["sh", "-c", "echo ran"])
    token = served.http.post("/api/v1/groups/lab/workers", headers=root).json()["token"]
    as_worker = {"Authorization": f"Bearer {token}"}
    served.http.post("/api/v1/workers/register", json={"tags": []}, headers=as_worker)
    claimed = served.http.post("/api/v1/workers/fetch", json={}, headers=as_worker).json()
    assert [task["uuid"] for task in claimed["tasks"]] == [uuid]  # ... and the answer is lost
    worker = _start_worker(served, tmp_path, "--max-tasks", "1", token=token)
    for _ in range(400):  # the 3 s lease runs out, the next fetch recovers the task, it runs
        if _result(served, root, uuid)["state"] == "succeeded":
            break
        time.sleep(0.05)
    result = _result(served, root, uuid)
    assert result["state"] == "succeeded", (
        "a task claimed by a fetch whose answer never reached the worker was never run (its "
        f"lease kept alive by the worker's heartbeats?): {result}"
    )
    assert [a["outcome"] for a in result["attempts"]] == ["lost", "succeeded"], result
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert "ran 1 task" in out, out
