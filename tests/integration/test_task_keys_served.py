"""Task keys against a real ``shipyard serve --db`` (issue 13): a batch sent again after its
answer was lost queues its tasks once, through a real proxy on 127.0.0.1 that passes the batch
on and then loses the coordinator's answer; and a task's record names its suite (issue 14).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shipyard.coordinator.client import CoordinatorClient, NoAnswer

# ruff: noqa: F811  (the fixture `served` is imported, and named by the tests' parameters)
from tests.integration.test_coordinator_routes import (  # noqa: F401  (fixtures)
    Served,
    _group,
    _task,
    pg_cluster,
    pg_url,
    served,
)

# slow as a file: a served coordinator on a throwaway PostgreSQL, with real workers or managers
# whose tests wait out leases, heartbeats and timeouts (make test-slow and CI run it)
pytestmark = pytest.mark.slow

API = "/api/v1"


class LossyProxy:
    """A reverse proxy in front of a coordinator: every request is passed on, but the answers
    of the first ``lose`` batch submits are lost *after* the coordinator took the batch — the
    connection dropped without a word (``how="drop"``, as a coordinator killed mid-answer) or a
    504 (``how="504"``, as a proxy that gave up waiting)."""

    def __init__(self, upstream: str, how: str, lose: int = 1) -> None:
        self.upstream, self.how, self.left = upstream, how, lose
        self.lost = 0
        self.batches = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                proxy.forward(self)

            def do_POST(self) -> None:
                proxy.forward(self)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def forward(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        headers = {name: value for name, value in handler.headers.items()
                   if name.lower() in ("authorization", "content-type")}  # fmt: skip
        with httpx.Client(base_url=self.upstream, timeout=30) as client:
            answer = client.request(handler.command, handler.path, content=body, headers=headers)
        if handler.command == "POST" and handler.path == f"{API}/tasks/batch":
            self.batches += 1
            if self.left > 0:
                self.left -= 1
                self.lost += 1
                if self.how == "drop":
                    handler.close_connection = True  # no status line, nothing: the answer lost
                    return
                handler.send_response(504)
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
        handler.send_response(answer.status_code)
        handler.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
        handler.send_header("Content-Length", str(len(answer.content)))
        handler.end_headers()
        handler.wfile.write(answer.content)

    def __enter__(self) -> LossyProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _client(proxy: LossyProxy, headers: dict[str, str]) -> CoordinatorClient:
    return CoordinatorClient(proxy.url, _token(headers))


def _queued(served: Served, root: dict[str, str]) -> int:
    answer = served.http.post(f"{API}/tasks/query", json={"group": "lab", "count": True},
                              headers=root)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return int(answer.json()["count"])


@pytest.fixture
def lab(served: Served) -> Iterator[tuple[Served, dict[str, str]]]:
    root = served.login("root")
    _group(served, root)
    yield served, root


def test_a_batch_sent_again_with_the_same_keys_queues_its_tasks_once(
    lab: tuple[Served, dict[str, str]],
) -> None:
    served, root = lab
    keyed = [_task(key=f"twice-{index}") for index in range(3)]
    with CoordinatorClient(served.url, _token(root)) as client:
        first = client.submit(keyed)
        again = client.submit(keyed)
    assert [made["existing"] for made in first["accepted"]] == [False] * 3, first
    assert again["refused"] == [], again
    assert again["accepted"] == [{**made, "existing": True} for made in first["accepted"]]
    assert _queued(served, root) == 3, "a batch sent twice with its keys queued tasks twice"

    for how in ("drop", "504"):
        said: list[str] = []
        tasks = [_task(key=f"{how}-{index}") for index in range(2)]
        with LossyProxy(served.url, how) as proxy, _client(proxy, root) as client:
            answer = client.submit(tasks, resent=said.append, sleep=lambda _: None)
        assert (proxy.lost, proxy.batches) == (1, 2), f"{how}: the proxy lost no answer"
        assert answer["refused"] == [], answer
        # The lost send queued them: the resend finds them by their keys, and says so.
        assert [made["existing"] for made in answer["accepted"]] == [True, True], answer
        assert len(said) == 1 and "again with the same keys" in said[0], said
        assert _queued(served, root) == 3 + (2 if how == "drop" else 4), (
            f"{how}: a batch resent after its answer was lost queued its tasks twice"
        )

    # Without keys nothing is resent (that would queue them twice): the error is the user's.
    with (
        LossyProxy(served.url, "drop") as proxy,
        _client(proxy, root) as client,
        pytest.raises(NoAnswer, match="does not answer"),
    ):
        client.submit([_task()], sleep=lambda _: None)
    assert proxy.batches == 1, "a batch without keys was sent again"
    assert _queued(served, root) == 8


def test_a_tasks_record_names_its_suite(lab: tuple[Served, dict[str, str]]) -> None:
    served, root = lab
    made = served.http.post(f"{API}/suites", json={"group": "lab"}, headers=root)
    assert made.status_code == 201, made.text
    suite = made.json()["uuid"]
    sent = served.http.post(f"{API}/tasks/batch", headers=root,
                            json={"tasks": [_task(suite_uuid=suite), _task()]})  # fmt: skip
    assert sent.status_code == 200 and sent.json()["refused"] == [], sent.text
    joined, lone = (made["uuid"] for made in sent.json()["accepted"])

    for uuid, expected in ((joined, suite), (lone, None)):
        got = served.http.get(f"{API}/tasks/{uuid}", headers=root)
        assert got.status_code == 200, got.text
        assert got.json()["suite_uuid"] == expected, got.json()
    listed = served.http.post(f"{API}/tasks/query", json={"group": "lab"}, headers=root)
    assert {task["uuid"]: task["suite_uuid"] for task in listed.json()["tasks"]} == {
        joined: suite,
        lone: None,
    }
