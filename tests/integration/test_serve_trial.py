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
