"""Serving the MCP server: stdio (what desktop assistants configure) or streamable HTTP.

HTTP binds the loopback interface by default; another address is refused unless the caller
allows it (``--allow-remote``). Every HTTP request must carry ``Authorization: Bearer TOKEN``
— the token of ``shipyard serve``'s HTTP API (the home's ``server.token`` file, made once;
``$SHIPYARD_MCP_TOKEN`` overrides it) — and a request whose ``Origin`` is neither a loopback
origin nor one of ``--allow-origin`` is refused (403) before the token is looked at: a web
page the user visits must not drive the tools through the user's browser. The decisions are
pure functions (:func:`parse_address`, :func:`check_bind`, :func:`origin_allowed`).
"""

from __future__ import annotations

import hmac
import json
import sys
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError
from shipyard.netaddr import is_loopback

if TYPE_CHECKING:
    from mcp.server.transport_security import TransportSecuritySettings

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


def origin_allowed(origin: str | None, allowed: Sequence[str] = ()) -> bool:
    """May a request with this ``Origin`` header reach the tools? None (no header: not a
    browser) and loopback origins may; any other only when listed in ``allowed``."""
    if origin is None:
        return True
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(origin)
        hostname = parts.hostname
    except ValueError:
        return False  # a malformed origin (a bad port, a stray bracket) is no origin we allow
    if parts.scheme in ("http", "https") and hostname and is_loopback(hostname):
        return True
    wanted = origin.rstrip("/").lower()
    return any(wanted == entry.rstrip("/").lower() for entry in allowed)


def check_origins(origins: Sequence[str]) -> None:
    """Refuse an ``--allow-origin`` that is no origin (scheme://host[:port], nothing else)."""
    from urllib.parse import urlsplit

    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            raise ShipyardError(
                f"--allow-origin {origin!r} is not an origin",
                hint="give scheme://host[:port], e.g. --allow-origin https://assistant.example",
            )


def guard(app: App, token: str, origins: Sequence[str] = ()) -> App:
    """``app`` behind the Origin check, then the bearer token (HTTP requests only; the token
    compared in constant time); each refusal a JSON message."""
    expected = f"Bearer {token}".encode()

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            origin = headers.get(b"origin")
            shown = origin.decode("latin-1") if origin is not None else None
            if not origin_allowed(shown, origins):
                await _refuse(
                    send,
                    403,
                    "forbidden-origin",
                    f"Origin {shown!r} is not allowed",
                    "serve it with --allow-origin ORIGIN (loopback origins are allowed)",
                )
                return
            if not hmac.compare_digest(headers.get(b"authorization", b""), expected):
                await _refuse(
                    send,
                    401,
                    "unauthorized",
                    "missing or wrong bearer token",
                    "send Authorization: Bearer <token>: the home's server.token, as "
                    "for shipyard serve (docs/mcp.md)",
                )
                return
        await app(scope, receive, send)

    return guarded


async def _refuse(send: Send, status: int, error: str, message: str, hint: str) -> None:
    body = json.dumps({"error": error, "msg": message, "hint": hint}).encode()
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def http_token(home: Path | None, override: str | None) -> tuple[str, str]:
    """The bearer token HTTP clients must send, and where it is: ``override``
    (``$SHIPYARD_MCP_TOKEN``) or the home's token file — ``shipyard serve``'s, made once."""
    if override:
        return override, f"${TOKEN_VARIABLE}"
    from shipyard.server import auth
    from shipyard.workspace import Workspace

    path = auth.token_for(home or Workspace.default().home)
    token = auth.read_token(path)
    if token is None:
        raise ShipyardError(
            f"the token file {path} is empty", hint="delete it: the next start writes a new one"
        )
    return token, str(path)


def transport_security(host: str, origins: Sequence[str]) -> TransportSecuritySettings:
    """The SDK's own Host/Origin check, agreeing with :func:`guard` (which runs first): the
    Host check against DNS rebinding on a loopback bind, the allowed origins added."""
    from mcp.server.transport_security import TransportSecuritySettings

    loops = ("127.0.0.1", "localhost", "[::1]")
    local = [
        f"{scheme}://{name}{port}"
        for scheme in ("http", "https")
        for name in loops
        for port in ("", ":*")
    ]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=is_loopback(host),
        allowed_hosts=[name + port for name in loops for port in ("", ":*")],
        allowed_origins=[*local, *origins],
    )


def serve_stdio(home: Path | None, groups: tuple[str, ...] | None, read_only: bool) -> None:
    from shipyard.mcpserver.server import build_server

    build_server(home, groups, read_only=read_only).run("stdio")


def serve_http(
    home: Path | None,
    address: tuple[str, int],
    token: tuple[str, str],
    origins: Sequence[str] = (),
    tools: tuple[tuple[str, ...] | None, bool] = (None, False),
) -> None:
    """Serve ``address``; ``token`` is (the token, where it is); ``tools`` (groups, read_only)."""
    import anyio
    import uvicorn

    from shipyard.mcpserver.server import build_server

    (host, port), (secret, where) = address, token
    server = build_server(home, tools[0], read_only=tools[1])
    security = transport_security(host, origins)
    app: App = server.streamable_http_app(
        streamable_http_path=HTTP_PATH, host=host, transport_security=security
    )
    shown = f"[{host}]" if ":" in host else host
    sys.stdout.write(f"shipyard mcp: http://{shown}:{port}{HTTP_PATH} (token in {where})\n")
    sys.stdout.flush()
    config = uvicorn.Config(guard(app, secret, origins), host=host, port=port, log_level="warning")
    anyio.run(uvicorn.Server(config).serve)
