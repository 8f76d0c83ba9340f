"""Talking to the process that runs an execution, over its control socket.

The socket is ``runs/<id>/control.sock``: a Unix stream socket, mode 0600, that accepts only
peers of the same user (checked with ``SO_PEERCRED``). One request per connection, one JSON
object per line each way::

    → {"op": "stop", "force": false, "grace": 30}
    ← {"ok": true}
    → {"op": "service", "action": "restart", "name": "web"}
    ← {"ok": false, "error": "…", "hint": "…"}

The requests are the operations a front end asks of a running execution (see
:mod:`shipyard.engine.control` for who answers them), so the same calls can later travel over
HTTP or MCP unchanged. This module is stdlib only and synchronous: the CLI pays nothing for it.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from shipyard.errors import ControlUnavailable, ShipyardError
from shipyard.unixsocket import unix_address

_LIMIT = 1 << 16


def request(path: Path, payload: dict[str, Any], *, timeout: float = 10.0) -> dict[str, Any]:
    """Send one request and return the answer. Raises ControlUnavailable when nobody answers,
    and ShipyardError with the runner's own message when it refuses."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            with unix_address(path) as address:
                sock.connect(address)
            sock.sendall(json.dumps(payload).encode() + b"\n")
            answer = _read_line(sock)
        except (OSError, TimeoutError) as error:
            raise ControlUnavailable(
                f"the process running this execution does not answer on {path}: {error}",
                hint="`shipyard status` shows whether it is still alive",
            ) from error
    try:
        reply: dict[str, Any] = json.loads(answer)
    except ValueError as error:
        raise ControlUnavailable(f"a garbled answer on {path}: {answer[:200]!r}") from error
    if not reply.get("ok"):
        raise ShipyardError(str(reply.get("error", "refused")), hint=reply.get("hint"))
    return reply


def _read_line(sock: socket.socket) -> bytes:
    chunks = bytearray()
    while not chunks.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        chunks += chunk
        if len(chunks) > _LIMIT:
            break
    if not chunks:
        raise ConnectionResetError("closed without an answer")
    return bytes(chunks)
