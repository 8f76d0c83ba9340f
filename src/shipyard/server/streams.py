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
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.wire import encode

log = logging.getLogger("shipyard.server")

__all__ = ["events", "line_schema", "ndjson", "sse"]

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


async def events(opened: Opened, hint: Any) -> AsyncIterator[Message]:
    """The iterator's items in wire form, then ("end", None) or ("error", body)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE)
    stop = threading.Event()
    _POOL.submit(_produce, opened, hint, loop, queue, stop)
    try:
        while True:
            kind, data = await queue.get()
            yield kind, data
            if kind != "item":
                return
    finally:
        stop.set()  # the client went away, or the stream ended: the thread stops


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


async def ndjson(opened: Opened, hint: Any) -> AsyncIterator[bytes]:
    async for kind, data in events(opened, hint):
        line = {"item": data} if kind == "item" else {"error": data} if kind == "error" else {}
        if kind == "end":
            line = {"end": True}
        yield json.dumps(line).encode() + b"\n"


async def sse(opened: Opened, hint: Any) -> AsyncIterator[bytes]:
    """Server-sent events: ``line`` events, then one ``end`` or ``error`` event."""
    async for kind, data in events(opened, hint):
        name = "line" if kind == "item" else kind
        yield f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


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
