"""``shipyard suite create|submit|status|list|cancel|close`` as a user types them (issue 14 §1),
against a real ``shipyard serve --db`` on the throwaway PostgreSQL whose suites close after
1 s without a new task, with a real ``shipyard worker`` running the suite's tasks to Complete."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

# ruff: noqa: F811  (the fixture `served` is imported, and named by the tests' parameters)
from tests.integration.test_coordinator_routes import PASSWORD, Served, _group
from tests.integration.test_coordinator_worker import (  # noqa: F401  (the reaping fixture)
    _reap_workers,
    _start_worker,
    _until_running,
)
from tests.integration.test_suite_routes import pg_cluster, pg_url, served  # noqa: F401
from tests.serving import _executable

# slow as a file: a served coordinator on a throwaway PostgreSQL, with real workers or managers
# whose tests wait out leases, heartbeats and timeouts (make test-slow and CI run it)
pytestmark = [
    pytest.mark.local_only("talks to a coordinator of its own, not to the local server"),
    pytest.mark.slow,
]

SUITE = """\
name: squares
group: lab
tags: [cpu]
worker_schedule: {count: 2, prefetch: 4}
env_preparation: {command: [echo, prepare], timeout: 30}
generate:
  command: [sh, -c, 'echo "$ITEM squared is $(( {{ item }} * {{ item }} ))"']
  values: [2, 3]
  file: more.txt
"""


def suite(server: str, token: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    clean |= {"NO_COLOR": "1", "SHIPYARD_SERVER": server, "SHIPYARD_PASSWORD": PASSWORD}
    if token is not None:
        clean["SHIPYARD_TOKEN"] = token
    return subprocess.run(
        [_executable(), *args], env=clean, capture_output=True, text=True, timeout=120
    )


def test_a_suite_file_runs_to_complete_on_a_worker(served: Served, tmp_path: Path) -> None:
    login = suite(served.url, None, "tasks", "login", "root")
    assert login.returncode == 0, login.stderr
    token = login.stdout.strip()
    _group(served, {"Authorization": f"Bearer {token}"})
    (tmp_path / "more.txt").write_text("4\n\n5\n")
    (tmp_path / "suite.yaml").write_text(SUITE)
    made = suite(served.url, token, "suite", "create", str(tmp_path / "suite.yaml"), "--json")
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    uuid = created["uuid"]
    assert created["state"] == "open" and len(created["accepted"]) == 4
    more = suite(served.url, token, "suite", "submit", uuid, "--count", "2", "--index-env", "I",
                 "--", "sh", "-c", 'echo "extra $I"')  # fmt: skip
    assert more.returncode == 0 and len(more.stdout.split()) == 2, more.stderr
    listed = suite(served.url, token, "suite", "list")
    assert uuid in listed.stdout and "0/6" in listed.stdout and "squares" in listed.stdout

    worker = _start_worker(served, tmp_path, "--tags", "cpu", "--max-tasks", "6")
    # --watch follows the suite (Open → Closed after 1 s idle → Complete once drained).
    watched = suite(served.url, token, "suite", "status", uuid, "--watch", "--every", "0.2",
                    "--json")  # fmt: skip
    worker.communicate(timeout=120)
    assert watched.returncode == 0, watched.stderr
    states = [json.loads(line)["state"] for line in watched.stdout.splitlines()]
    assert states[-1] == "complete" and states.count("complete") == 1, states
    final = json.loads(watched.stdout.splitlines()[-1])
    assert final["closed_at"] is not None  # through Closed (a look may fall between)
    final = json.loads(watched.stdout.splitlines()[-1])
    assert final["counters"] == {"total": 6, "pending": 0, "running": 0, "done": 6,
                                 "failed": 0, "cancelled": 0}  # fmt: skip
    shown = suite(served.url, token, "suite", "status", uuid)
    assert "complete" in shown.stdout and "6/6 ended (100%)" in shown.stdout, shown.stdout
    late = suite(served.url, token, "suite", "submit", uuid, "--", "true")
    assert late.returncode == 1 and "the suite is complete" in late.stderr, late.stderr
    assert "Traceback" not in late.stderr


def test_cancel_close_and_bad_input_through_the_cli(served: Served, tmp_path: Path) -> None:
    token = suite(served.url, None, "tasks", "login", "root").stdout.strip()
    _group(served, {"Authorization": f"Bearer {token}"})
    (tmp_path / "s.yaml").write_text("group: lab\ntasks:\n  - command: [sleep, '60']\n")
    uuid = suite(served.url, token, "suite", "create", str(tmp_path / "s.yaml")).stdout.strip()
    cancelled = suite(served.url, token, "suite", "cancel", uuid, "--running", "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["cancelled_tasks"] == 1
    closed = suite(served.url, token, "suite", "close", uuid)
    assert closed.returncode == 2 and "409" in closed.stderr, closed.stderr
    assert "the suite is cancelled" in closed.stderr
    (tmp_path / "bad.yaml").write_text("group: lab\nworker_schedule:\n  count: 0\n")
    bad = suite(served.url, token, "suite", "create", str(tmp_path / "bad.yaml"))
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert f"{tmp_path / 'bad.yaml'}:3:10: worker_schedule.count" in bad.stderr, bad.stderr
    unknown = suite(served.url, token, "suite", "status", "nope")
    assert unknown.returncode == 2, unknown.stderr
    assert "'nope' is not a suite id" in unknown.stderr and "Traceback" not in unknown.stderr


def test_cancel_running_stops_the_task_on_its_worker(served: Served, tmp_path: Path) -> None:
    token = suite(served.url, None, "tasks", "login", "root").stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    _group(served, headers)
    (tmp_path / "s.yaml").write_text("group: lab\ntasks:\n  - command: [sleep, '600']\n")
    made = json.loads(
        suite(served.url, token, "suite", "create", str(tmp_path / "s.yaml"), "--json").stdout
    )
    (task,) = made["accepted"]
    worker = _start_worker(served, tmp_path, "--max-tasks", "1")
    try:
        _until_running(served, headers, task["uuid"])
        cancelled = suite(served.url, token, "suite", "cancel", made["uuid"], "--running")
        assert cancelled.returncode == 0 and "1 task cancelled" in cancelled.stdout
        # A lone task for the worker's one counted run: it exits once that is done.
        lone = served.http.post("/api/v1/tasks", headers=headers,
                                json={"group": "lab", "command": ["true"]})  # fmt: skip
        assert lone.status_code == 201, lone.text
        _, errors = worker.communicate(timeout=120)  # the sleep's 600 s would time this out
    finally:
        if worker.poll() is None:  # failed early: the worker (which kills its task) goes
            worker.terminate()
            worker.communicate(timeout=60)
    assert worker.returncode == 0, errors
    assert f"task {task['uuid']}: " in errors and "stopped it" in errors, errors
    shown = served.http.get(f"/api/v1/tasks/{task['uuid']}", headers=headers).json()
    assert shown["state"] == "cancelled" and shown["message"] == "suite cancelled", shown
