"""Serving the MCP server: stdio (what desktop assistants configure) or streamable HTTP.

HTTP binds the loopback interface by default. Another address is refused unless the caller
both allows it (``--allow-remote``) and sets a bearer token (``$SHIPYARD_MCP_TOKEN``): the
tools start processes on this machine, so nobody else may reach them unauthenticated. With a
token set (on any address) every HTTP request must carry ``Authorization: Bearer TOKEN``.
The address checks are pure functions (:func:`parse_address`, :func:`check_bind`).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.netaddr import is_loopback

#: The environment variable holding the HTTP bearer token.
TOKEN_VARIABLE = "SHIPYARD_MCP_TOKEN"  # noqa: S105  (a variable's name, not a secret)
#: Where the streamable HTTP endpoint is served.
HTTP_PATH = "/mcp"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6; ``PORT`` alone means 127.0.0.1)."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ShipyardError(
            f"--http {text!r}: the port must be a number from 1 to 65535",
            hint="--http 127.0.0.1:8765",
        )
    return host, int(port_text)


def check_bind(host: str, *, allow_remote: bool, token: str | None) -> None:
    """Refuse a non-loopback address unless it is both allowed and protected by a token."""
    if is_loopback(host):
        return
    if not allow_remote:
        raise ShipyardError(
            f"--http {host}: not a loopback address; the MCP tools run processes on this "
            "machine, so the server binds 127.0.0.1 unless told otherwise",
            hint=f"bind 127.0.0.1, or pass --allow-remote with ${TOKEN_VARIABLE} set",
        )
    if not token:
        raise ShipyardError(
            f"--http {host} --allow-remote: ${TOKEN_VARIABLE} is not set",
            hint=f"set ${TOKEN_VARIABLE} to a long random secret; clients send it as "
            "Authorization: Bearer TOKEN",
        )


def require_token(app: App, token: str) -> App:
    """``app`` behind a bearer-token check (HTTP requests only; compared in constant time)."""
    expected = f"Bearer {token}".encode()

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, expected):
                await _unauthorized(send)
                return
        await app(scope, receive, send)

    return guarded


async def _unauthorized(send: Send) -> None:
    body = b'{"error": "missing or wrong bearer token"}'
    headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve_stdio(home: Path | None) -> None:
    from shipyard.mcpserver.server import build_server

    build_server(home).run("stdio")


def serve_http(home: Path | None, host: str, port: int, token: str | None) -> None:
    import anyio
    import uvicorn

    from shipyard.mcpserver.server import build_server

    app: App = build_server(home).streamable_http_app(streamable_http_path=HTTP_PATH, host=host)
    if token:
        app = require_token(app, token)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    anyio.run(uvicorn.Server(config).serve)
