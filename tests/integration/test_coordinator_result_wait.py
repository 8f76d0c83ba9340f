"""``GET /tasks/{uuid}/result?wait=S`` against a real ``shipyard serve --db``: the answer waits
for the task's end, woken by the report's (or the cancel's) notification — the served settings
look again only every 600 s, so nothing but the notification can wake it in time."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import httpx
import psycopg
import pytest

# ruff: noqa: F811  (the fixtures are imported, and named by the tests' parameters)
from tests.integration.test_coordinator_routes import (  # noqa: F401  (fixtures)
    Served,
    _group,
    _task,
    _worker,
    pg_cluster,
    pg_url,
    served,
)

# slow as a file: a served coordinator on a throwaway PostgreSQL, with real workers or managers
# whose tests wait out leases, heartbeats and timeouts (make test-slow and CI run it)
pytestmark = pytest.mark.slow


def _waiting(
    served: Served, headers: dict[str, str], uuid: str
) -> tuple[threading.Thread, list[Any]]:
    answers: list[Any] = []

    def ask() -> None:
        # A server stopped under a wait that was never woken (a failed test) cuts it: said
        # by the test's own assertion, not by this thread's error.
        with (
            contextlib.suppress(httpx.HTTPError),
            httpx.Client(base_url=served.url, timeout=150) as http,
        ):
            got = http.get(f"/api/v1/tasks/{uuid}/result", params={"wait": 120}, headers=headers)
            answers.append(got.json())

    thread = threading.Thread(target=ask)
    thread.start()
    return thread, answers


def _until_listening(pg_url: str) -> None:
    """The server's waiter has a listener on the ended channel (its connection made)."""
    with psycopg.connect(pg_url, autocommit=True) as connection:
        for _ in range(600):
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN shipyard_ended'"
            ).fetchone()
            if row is not None and row[0] > 0:
                return
            time.sleep(0.05)
    raise AssertionError("the result's wait never listened for tasks' ends")


def test_a_result_waited_for_is_answered_at_the_tasks_end(served: Served, pg_url: str) -> None:
    root = served.login("root")
    _group(served, root)
    uuid = served.http.post("/api/v1/tasks", json=_task(), headers=root).json()["uuid"]
    worker = _worker(served, root, "lab", [])
    (claimed,) = served.http.post("/api/v1/workers/fetch", json={}, headers=worker).json()["tasks"]
    thread, answers = _waiting(served, root, uuid)
    _until_listening(pg_url)
    reported = served.http.post(
        "/api/v1/workers/report",
        json={"uuid": uuid, "attempt": claimed["attempt"], "exit_status": 0, "output": "hi\n"},
        headers=worker,
    )
    assert reported.status_code == 200, reported.text
    # The wait has 120 s; only the end's notification answers it within 30 s of the report.
    thread.join(timeout=30)
    assert answers, "the waiting result was not woken by the task's end"
    assert answers[0]["state"] == "succeeded", f"answered before the task ended: {answers[0]}"
    assert answers[0]["output_tail"] == "hi\n"


def test_a_cancel_ends_the_wait_too(served: Served, pg_url: str) -> None:
    root = served.login("root")
    _group(served, root)
    uuid = served.http.post("/api/v1/tasks", json=_task(), headers=root).json()["uuid"]
    thread, answers = _waiting(served, root, uuid)
    _until_listening(pg_url)
    assert served.http.post(f"/api/v1/tasks/{uuid}/cancel", headers=root).status_code == 200
    thread.join(timeout=30)
    assert answers, "the waiting result was not woken by the cancel"
    assert answers[0]["state"] == "cancelled", answers


def test_an_ended_task_answers_at_once_and_a_wrong_wait_is_refused(served: Served) -> None:
    root = served.login("root")
    _group(served, root)
    uuid = served.http.post("/api/v1/tasks", json=_task(), headers=root).json()["uuid"]
    served.http.post(f"/api/v1/tasks/{uuid}/cancel", headers=root)
    ended = served.http.get(f"/api/v1/tasks/{uuid}/result", params={"wait": 60}, headers=root)
    assert ended.status_code == 200 and ended.json()["state"] == "cancelled"
    queued = served.http.post("/api/v1/tasks", json=_task(), headers=root).json()["uuid"]
    for wrong in ("-1", "601", "nan"):  # the served max_fetch_wait is 600
        refused = served.http.get(
            f"/api/v1/tasks/{queued}/result", params={"wait": wrong}, headers=root
        )
        assert refused.status_code == 400, (wrong, refused.text)
        assert "wait" in refused.json()["msg"]
