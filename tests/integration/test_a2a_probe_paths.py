"""The ``a2a`` probe against a real HTTP server on 127.0.0.1 serving an agent card at each of
the paths A2A agents use: the A2A spec's ``agent-card.json``, its older ``agent.json``, and the
A2A job deployer's ``agent-configuration`` (docs/importing.md)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shipyard.engine.health import probe_a2a

PATHS = (
    "/.well-known/agent-card.json",
    "/.well-known/agent.json",
    "/.well-known/agent-configuration",
)


@contextmanager
def card_server(path: str | None, card: dict[str, object] | None = None) -> Iterator[int]:
    """A server on 127.0.0.1 answering ``card`` (its own name and URL by default) at
    ``path`` and 404 elsewhere; its port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != path:
                self.send_error(404)
                return
            port = self.server.server_address[1]  # type: ignore[index]
            body = json.dumps(
                card if card is not None else {"name": "agent", "url": f"http://127.0.0.1:{port}"}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("path", PATHS)
def test_a_card_at_each_path_passes(path: str) -> None:
    with card_server(path) as port:
        result = asyncio.run(probe_a2a("agent", "127.0.0.1", port))
    assert result.ok, f"a card served at {path} should pass the a2a probe: {result.detail}"
    assert path in result.detail, result.detail


def test_a_card_at_the_deployer_path_is_still_checked_for_its_name() -> None:
    with card_server(PATHS[2], {"name": "Weather Agent", "url": "http://x"}) as port:
        result = asyncio.run(probe_a2a("weather", "127.0.0.1", port))
    assert not result.ok, "a card naming another agent must fail the probe"
    assert "names 'Weather Agent', not 'weather'" in result.detail, result.detail


def test_no_card_at_any_path_names_every_path() -> None:
    with card_server(None) as port:
        result = asyncio.run(probe_a2a("agent", "127.0.0.1", port))
    assert not result.ok
    for path in PATHS:
        assert path in result.detail, f"{path} missing from {result.detail!r}"
