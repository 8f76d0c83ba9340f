"""Streaming an operation's iterator (``logs``) over HTTP, as NDJSON or server-sent events.

The iterator runs on a thread of its own (it blocks while a follow waits for new lines) and
hands each item, already in its wire form, to the response through a bounded queue: a slow
reader slows the reading of the log rather than growing the server's memory. When the client
goes away the response stops, and the thread stops at its next item.

Each NDJSON line is ``{"item": …}``; the last is ``{"end": true}``, or ``{"error": …}`` (a
ShipyardError as the routes give it) — so a reader can tell a finished stream from a cut one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError
from shipyard.wire import encode

if TYPE_CHECKING:
    from starlette.responses import Response

log = logging.getLogger("shipyard.server")

__all__ = ["events", "line_schema", "ndjson", "ndjson_of", "respond", "sse", "sse_of"]

#: Items waiting between the reading thread and the response.
QUEUE = 256

#: The threads streams are read on: few and kept, each with its own operations (and SQLite
#: connection, opened once) rather than a connection opened and closed per stream. Streams
#: beyond this many wait for a thread.
STREAMS = 32
_POOL = ThreadPoolExecutor(max_workers=STREAMS, thread_name_prefix="shipyard-stream")

Opened = Callable[[], Iterator[Any]]
#: ("item", data) | ("error", body) | ("end", None)
Message = tuple[str, Any]


#: Seconds a stream's answer waits for its first message before it starts. A refusal raised
#: at once (an unknown execution or unit, a bad level or pattern) is then the answer's status
#: (404, 400) with the Error body, rather than a "200 OK" whose body is an error, which curl,
#: a dashboard or a proxy took for success. A follow with no line yet starts after it anyway.
FIRST = 2.0


def _start(opened: Opened, hint: Any) -> tuple[asyncio.Queue[Message], threading.Event]:
    queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE)
    stop = threading.Event()
    _POOL.submit(_produce, opened, hint, asyncio.get_running_loop(), queue, stop)
    return queue, stop


async def _drained(
    first: Message | None, queue: asyncio.Queue[Message], stop: threading.Event
) -> AsyncIterator[Message]:
    try:
        kind, data = first if first is not None else await queue.get()
        while True:
            yield kind, data
            if kind != "item":
                return
            kind, data = await queue.get()
    finally:
        stop.set()  # the client went away, or the stream ended: the thread stops


async def events(opened: Opened, hint: Any) -> AsyncIterator[Message]:
    """The iterator's items in wire form, then ("end", None) or ("error", body)."""
    queue, stop = _start(opened, hint)
    async for message in _drained(None, queue, stop):
        yield message


async def respond(
    opened: Opened,
    hint: Any,
    render: Callable[[AsyncIterator[Message]], AsyncIterator[bytes]],
    media_type: str,
) -> Response:
    """The stream as a response; a refusal that comes first (within :data:`FIRST`) as its own
    status and Error body instead."""
    from fastapi.responses import JSONResponse, StreamingResponse

    queue, stop = _start(opened, hint)
    try:
        first: Message | None = await asyncio.wait_for(queue.get(), FIRST)
    except TimeoutError:
        first = None  # a follow waiting for its first line: the stream starts all the same
    if first is not None and first[0] == "error" and "status" in first[1]:
        stop.set()
        body = dict(first[1])
        return JSONResponse(body, status_code=int(body.pop("status")))
    return StreamingResponse(render(_drained(first, queue, stop)), media_type=media_type)


def _produce(
    opened: Opened,
    hint: Any,
    loop: asyncio.AbstractEventLoop,
    queue: asyncio.Queue[Message],
    stop: threading.Event,
) -> None:
    def put(message: Message) -> bool:
        future = asyncio.run_coroutine_threadsafe(queue.put(message), loop)
        while not stop.is_set():
            try:
                future.result(timeout=0.5)
                return True
            except TimeoutError:
                continue
            except RuntimeError:  # the loop is closing
                return False
        future.cancel()
        return False

    from shipyard.server.errors import error_body, error_status

    try:
        for item in opened():
            if stop.is_set() or not put(("item", encode(item, hint))):
                return
    except ShipyardError as error:
        put(("error", error_body(error) | {"status": error_status(error)}))
        return
    except Exception:  # its detail goes to the server's log, not to the client
        log.exception("a stream failed")
        failed = {"msg": "the server failed on this stream", "hint": None, "error": "internal"}
        put(("error", failed))
        return
    put(("end", None))


async def ndjson_of(messages: AsyncIterator[Message]) -> AsyncIterator[bytes]:
    async for kind, data in messages:
        line = {"item": data} if kind == "item" else {"error": data} if kind == "error" else {}
        if kind == "end":
            line = {"end": True}
        yield json.dumps(line).encode() + b"\n"


async def sse_of(messages: AsyncIterator[Message]) -> AsyncIterator[bytes]:
    """Server-sent events: ``line`` events, then one ``end`` or ``error`` event."""
    async for kind, data in messages:
        name = "line" if kind == "item" else kind
        yield f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def ndjson(opened: Opened, hint: Any) -> AsyncIterator[bytes]:
    return ndjson_of(events(opened, hint))


def sse(opened: Opened, hint: Any) -> AsyncIterator[bytes]:
    return sse_of(events(opened, hint))


def line_schema(hint: Any, components: dict[str, dict[str, Any]]) -> dict[str, Any]:
    import typing

    from shipyard.server.schemas import schema_of

    item = schema_of(typing.get_args(hint)[0], components)
    return {
        "description": "One JSON object a line: {item}, then {end: true} or {error}.",
        "oneOf": [
            {"type": "object", "properties": {"item": item}, "required": ["item"]},
            {"type": "object", "properties": {"end": {"const": True}}, "required": ["end"]},
            {"type": "object", "properties": {"error": {"type": "object"}}, "required": ["error"]},
        ],
    }
