"""The most bytes a request body may have: past it, 413 before the body is read.

Without it a single POST of 200 MB to ``/api/v1/login`` — a route open to anyone, on the
coordinator — took the server from 114 MB to 724 MB of peak RSS (measured): the body is held,
then parsed as JSON, before any check of its fields. The bodies the API takes are small (a
spec's text; a batch of 10,000 tasks as ``tasks submit --count`` sends them: 1.5 MB of JSON,
measured), so a bound far above them costs nobody anything. An artifact's upload is the one
stream of bytes, and it has its own cap
(``max_artifact_bytes``, counted as it is written): it is not bounded here.

A plain ASGI middleware, as ``metrics.Measure`` is, for the same reason (no task per request).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_BODY", "BodyLimit", "body_limit_of"]

#: Bytes of a request body, artifacts' uploads aside.
MAX_BODY = 32 * 1024 * 1024

#: ``PUT /api/v1/tasks/{uuid}/artifacts/{name}``: streamed to disk under its own cap.
_ARTIFACT_UPLOAD = re.compile(r"^/api/v1/tasks/[^/]+/artifacts/[^/]+$")


_HINT = "send less at once: a batch of tasks in several requests, a spec as a path"


def _message(size: int, limit: int) -> str:
    return f"the request body is {size:,} bytes or more; the most this server takes is {limit:,}"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body without a Content-Length grows past the bound: an
    HTTPException, since FastAPI turns any other error met reading a body into a 400."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(413, _message(size, limit), headers={"Connection": "close"})
        self.hint = _HINT


#: A worker's reports: a task's result is any JSON, of no bound the worker could split by,
#: and a refused report ends the worker (coordinator/resilience.py); they stay unbounded here.
_REPORTS = frozenset({"/api/v1/workers/report", "/api/v1/workers/reports"})


def body_limit_of(method: str, path: str) -> int | None:
    """The bound on the body of a request (None: unbounded here)."""
    if method == "PUT" and _ARTIFACT_UPLOAD.match(path):
        return None
    if method == "POST" and path in _REPORTS:
        return None
    return MAX_BODY


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = None
        if scope["type"] == "http":
            limit = body_limit_of(scope["method"], scope["path"])
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, declared, limit)  # the body is never read
            return
        started = False
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(seen, limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await _refuse(send, seen, limit)


async def _refuse(send: Send, size: int, limit: int) -> None:
    body = json.dumps({"msg": _message(size, limit), "hint": _HINT, "error": "http"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]  # fmt: skip
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
