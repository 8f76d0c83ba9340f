"""The control socket's server: the process running an execution answers requests on it.

:mod:`shipyard.control` describes the wire format and is the client. Here each request becomes
one call on the executor (``stop`` → :meth:`Controllable.request_stop` or ``stop_gracefully``,
``service`` → ``control_service``, ``rollout`` → ``control_rollout``), answered at once; the
caller watches the store for the outcome, as it would for any other change. ``wait_healthy`` is
answered only once the fleet is up (or has failed or stopped), so `up --wait` waits on the
socket instead of polling the store. Only peers of our own user are served, and the socket is
created owner-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from shipyard.errors import ShipyardError
from shipyard.unixsocket import unix_address

_LIMIT = 1 << 16
_READ_TIMEOUT = 10.0
_PEERCRED = struct.Struct("3i")  # pid, uid, gid


class Controllable(Protocol):
    def request_stop(self, reason: str = ..., *, force: bool = ...) -> None: ...

    def stop_gracefully(self, reason: str, *, grace: float) -> None: ...


Reply = dict[str, Any]
Handler = Callable[[dict[str, Any]], Reply | Awaitable[Reply]]


def dispatcher(target: Controllable) -> Handler:
    """The handler that answers requests by calling ``target``."""

    def handle(request: dict[str, Any]) -> Reply | Awaitable[Reply]:
        op = request.get("op")
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        if op == "stop":
            reason = str(request.get("reason") or "stopped by `shipyard stop`")
            if request.get("force"):
                target.request_stop(f"{reason} (--force)", force=True)
            else:
                target.stop_gracefully(reason, grace=float(request.get("grace", 30.0)))
            return {"ok": True}
        if op == "service":
            control = getattr(target, "control_service", None)
            if control is None:
                raise ShipyardError("this execution has no services")
            control(str(request.get("action")), str(request.get("name")))
            return {"ok": True}
        if op == "rollout":
            rollout = getattr(target, "control_rollout", None)
            if rollout is None:
                raise ShipyardError("this execution has no services")
            env = request.get("env") or {}
            if not isinstance(env, dict):
                raise ShipyardError("a rollout's env is a mapping of names to values")
            rollout(
                str(request.get("action")),
                str(request.get("name")),
                {str(k): str(v) for k, v in env.items()},
            )
            return {"ok": True}
        if op == "wait_healthy":
            wait = getattr(target, "wait_healthy", None)
            if wait is None:
                raise ShipyardError("this execution has no services")
            waiting: Awaitable[Reply] = wait()  # answered once the fleet is up
            return waiting
        raise ShipyardError(
            f"unknown request {op!r}", hint="requests: ping, stop, service, rollout, wait_healthy"
        )

    return handle


@contextlib.asynccontextmanager
async def serve(path: Path, handle: Handler) -> AsyncIterator[bool]:
    """Serve ``path`` while the block runs; yields whether the socket could be made (without
    it, `shipyard stop` falls back to a signal)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a stale socket of a process that died
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        previous = os.umask(0o177)  # owner-only from the start: no window for others
        try:
            with unix_address(path) as address:
                sock.bind(address)
        finally:
            os.umask(previous)
        sock.listen(16)
        sock.setblocking(False)
        server = await asyncio.start_unix_server(
            lambda reader, writer: _answer(reader, writer, handle), sock=sock, limit=_LIMIT
        )
    except OSError:
        sock.close()
        yield False
        return
    try:
        yield True
    finally:
        server.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        # A request still being answered (a wait_healthy answered at the stop) must not keep
        # the run from ending.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2.0)


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handle: Handler
) -> None:
    try:
        if not _same_user(writer.get_extra_info("socket")):
            reply: dict[str, Any] = {"ok": False, "error": "refused: another user"}
        else:
            async with asyncio.timeout(_READ_TIMEOUT):  # a silent client holds nothing
                line = await reader.readline()
            reply = await _reply(line, handle)
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()
    except (OSError, ValueError, TimeoutError):
        pass  # the client went away, said nothing, or sent more than a line may hold
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _reply(line: bytes, handle: Handler) -> Reply:
    try:
        request = json.loads(line)
        if not isinstance(request, dict):
            raise ValueError("not an object")
    except ValueError:
        return {"ok": False, "error": "a request is one JSON object on one line"}
    try:
        reply = handle(request)
        return await reply if inspect.isawaitable(reply) else reply
    except ShipyardError as error:
        return {"ok": False, "error": error.message, "hint": error.hint}


def _same_user(sock: Any) -> bool:
    if sock is None:
        return False
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    _, uid, _ = _PEERCRED.unpack(raw)
    return bool(uid == os.getuid() or uid == 0)
