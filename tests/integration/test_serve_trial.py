"""Route-level findings of a new user's trial of ``shipyard serve`` (issue 13), against a real
server on 127.0.0.1: a request body past the bound is 413 before it is read — on the open
``/api/v1/login`` of the coordinator too, where a 200 MB body took the server to 724 MB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import shipyard
from shipyard.errors import ShipyardError
from shipyard.server.limits import MAX_BODY, body_limit_of
from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)
from tests.serving import Served, served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("trial") / "home") as running:
        yield running


def _too_large(answer: httpx.Response) -> None:
    assert answer.status_code == 413, (answer.status_code, answer.text[:300])
    body = answer.json()
    assert f"{MAX_BODY:,}" in body["msg"], body
    assert body["hint"] and "send less" in body["hint"], body


def _chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    """A body of ``total`` bytes sent without a Content-Length (chunked)."""
    yield b'{"spec_text": "'
    sent = 0
    while sent < total:
        yield b"a" * size
        sent += size
    yield b'"}'


def test_a_body_past_the_bound_is_413(server: Served) -> None:
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        _too_large(client.post("/api/v1/ops/validate", content=b"{" + b" " * MAX_BODY + b"}"))
        _too_large(client.post("/api/v1/ops/validate", content=_chunks(MAX_BODY + 1)))
        # Without a token the answer is still 401: the bound does not open anything.
        bare = httpx.post(f"{server.url}/api/v1/ops/validate", content=b"{}", timeout=10)
        assert bare.status_code == 401
        # A body under the bound is read and answered as before.
        fits = client.post("/api/v1/ops/validate", json={"spec_text": "a" * (1 << 20)})
        assert fits.status_code == 422, fits.text[:300]


@pytest.mark.parametrize(
    ("method", "path", "bounded"),
    [
        ("POST", "/api/v1/login", True),
        ("POST", "/api/v1/tasks/batch", True),
        ("POST", "/api/v1/ops/run", True),
        ("PUT", "/api/v1/tasks/0b1c/artifacts/out.bin", False),  # its own cap, as written
        ("POST", "/api/v1/tasks/0b1c/artifacts/out.bin", True),
        ("PUT", "/api/v1/tasks/0b1c/artifacts/a/b", True),
        ("POST", "/api/v1/workers/report", False),  # a result is any JSON; a 413 ends a worker
        ("POST", "/api/v1/workers/reports", False),
        ("POST", "/api/v1/workers/fetch", True),
    ],
)
def test_which_bodies_are_bounded(method: str, path: str, bounded: bool) -> None:
    assert (body_limit_of(method, path) == MAX_BODY) is bounded


@pytest.fixture
def coordinator(tmp_path: Path, pg_url: str) -> Iterator[Served]:  # noqa: F811
    from shipyard.coordinator.migrate import upgrade

    upgrade(pg_url)
    with served(tmp_path / "coordinator", args=("--db", pg_url)) as running:
        yield running


def test_the_open_login_route_refuses_a_huge_body_unread(coordinator: Served) -> None:
    answer = httpx.post(
        f"{coordinator.url}/api/v1/login",
        content=b"{" + b" " * (MAX_BODY + 1) + b"}",
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    _too_large(answer)
    wrong = httpx.post(
        f"{coordinator.url}/api/v1/login", json={"name": "root", "password": "x" * 8}, timeout=10
    )
    assert wrong.status_code == 401, wrong.text


def test_an_unknown_pipeline_is_404_as_every_unknown_thing(server: Served) -> None:
    # docs/server.md: "Not found is 404" — an unknown pipeline was a 400, as a bad request.
    headers = {"Authorization": f"Bearer {server.token}"}
    answer = httpx.get(f"{server.url}/api/v1/pipelines/nope", headers=headers, timeout=10)
    assert answer.status_code == 404, (answer.status_code, answer.text)
    assert answer.json()["msg"] == "no pipeline named 'nope'"
    ops = shipyard.connect(url=server.url, token=server.token)
    try:
        with pytest.raises(ShipyardError, match="no pipeline named 'nope'") as raised:
            ops.pipeline_show("nope")
        assert type(raised.value).__name__ == "PipelineNotFound"
    finally:
        ops.close()


def test_a_log_stream_refused_at_once_is_its_status_not_a_200(
    server: Served, tmp_path: Path
) -> None:
    # An unknown execution was "200 OK" whose body was an error event: curl, a dashboard or a
    # proxy saw success. A refusal raised before the first line is now the route's status.
    spec = tmp_path / "hello.yaml"
    spec.write_text("name: hello\nsteps:\n  hello:\n    run: [echo, hi]\n")
    ops = shipyard.connect(url=server.url, token=server.token)
    try:
        done = ops.run(str(spec), {})
    finally:
        ops.close()
    headers = {"Authorization": f"Bearer {server.token}"}
    base = f"{server.url}/api/v1"
    refused = [
        httpx.get(f"{base}/executions/nope/logs", headers=headers, timeout=30),
        httpx.post(f"{base}/ops/logs", json={"execution_id": "nope"}, headers=headers, timeout=30),
        httpx.get(f"{base}/executions/{done.id}/logs?unit=nope", headers=headers, timeout=30),
    ]
    assert [answer.status_code for answer in refused] == [404, 404, 400], [
        answer.text[:200] for answer in refused
    ]
    assert "no execution 'nope'" in refused[0].json()["msg"]
    assert "status" not in refused[0].json()  # the body is the Error schema's, as any refusal
    assert "hello" in (refused[2].json()["hint"] or "")
    lines = httpx.get(f"{base}/executions/{done.id}/logs", headers=headers, timeout=30)
    assert lines.status_code == 200 and "event: line" in lines.text
    assert lines.text.rstrip().endswith("data: null"), lines.text[-200:]  # its end event


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"[" * 100_000])
def test_a_body_that_is_no_object_says_what_to_send(server: Served, body: bytes) -> None:
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    answer = httpx.post(f"{server.url}/api/v1/ops/status", content=body, headers=headers)
    assert answer.status_code == 422, answer.text[:300]
    assert answer.json()["hint"], answer.json()  # it was null: what is wrong, not what to do


@pytest.mark.parametrize(
    ("sizes", "most", "most_bytes", "expected"),
    [
        ([10, 10, 10], 2, 1000, [(0, 2), (2, 3)]),  # by count
        ([10, 10, 10], 10, 25, [(0, 2), (2, 3)]),  # by bytes
        ([100, 10], 10, 25, [(0, 1), (1, 2)]),  # a task over the bound goes alone
        ([], 10, 25, []),
        ([10] * 5, 10, 1000, [(0, 5)]),
    ],
)
def test_a_submit_batches_by_count_and_by_bytes(
    sizes: list[int], most: int, most_bytes: int, expected: list[tuple[int, int]]
) -> None:
    from shipyard.coordinator.client import BATCH_BYTES, batches

    # json.dumps({"c": "x" * n}) is n + 9 characters, + 1 for the comma.
    tasks = [{"c": "x" * (size - 10)} for size in sizes]
    assert batches(tasks, most, most_bytes) == expected
    assert BATCH_BYTES < MAX_BODY  # a batch the client makes is one the server takes
