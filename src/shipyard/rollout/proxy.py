"""The canary's reverse proxy: the service's public port, in front of its stable version and
its canary, each on an internal port of its own.

Requests are read with h11 (keep-alive: one client connection carries many requests) and sent
on, with h11 too, over kept-alive connections to each version (pooled per port); bodies stream
both ways, chunk by chunk, never held whole. (httpx as the upstream client cost ~1.3 ms of CPU a
request on this machine, past the 1 ms budget: see docs/performance.md.)

Each request goes to the canary with the probability of its weight (a seeded draw in
tests), and the proxy *measures* every request itself, per version: its latency (first byte
sent to the last byte of the answer passed back) and whether it failed — a 5xx answer, or no
answer at all (the version refused the connection, died mid-answer, timed out), which the
client then gets as a 502. The rollout takes one window of those figures per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import h11

from shipyard.rollout.decide import WindowFigures, figures, routes_to_canary

Version = Literal["stable", "canary"]
HOST = "127.0.0.1"
_READ = 65536
#: Latencies kept per window: beyond this, a uniform sample of them (reservoir), so a window
#: under heavy traffic stays bounded in memory while its percentiles stay fair.
WINDOW_SAMPLE = 100_000
#: Idle kept-alive connections kept per version.
POOL_SIZE = 64
#: Hop-by-hop headers (RFC 9110 §7.6.1): each connection's own, never passed on.
_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
}


@dataclass
class _Window:
    requests: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, latency_ms: float, *, failed: bool, rng: random.Random) -> None:
        self.requests += 1
        self.errors += failed
        if len(self.latencies) < WINDOW_SAMPLE:
            self.latencies.append(latency_ms)
        else:
            slot = rng.randrange(self.requests)
            if slot < WINDOW_SAMPLE:
                self.latencies[slot] = latency_ms

    def figures(self) -> WindowFigures:
        measured = figures(self.latencies, self.errors)
        # the latencies may be a sample: the counts are not
        return WindowFigures(
            self.requests,
            self.errors,
            measured.p50_latency_ms,
            measured.p95_latency_ms,
            measured.p99_latency_ms,
        )


class CanaryProxy:
    """Serve ``port`` (0: any free one) for a service whose stable version listens on
    ``stable_port``. ``draw``: the uniform draw that splits requests (default: random)."""

    def __init__(
        self,
        *,
        port: int,
        stable_port: int,
        host: str = HOST,
        draw: Callable[[], float] | None = None,
        upstream_timeout: float = 300.0,
    ) -> None:
        self.host = host
        self.port = port
        self.stable_port = stable_port
        self.canary_port: int | None = None
        self.weight = 0  # percent of requests to the canary
        self._draw = draw or random.random
        self._rng = random.Random()  # noqa: S311 - sampling latencies, not secrets
        self._windows: dict[Version, _Window] = {"stable": _Window(), "canary": _Window()}
        self._totals: dict[Version, list[int]] = {"stable": [0, 0], "canary": [0, 0]}
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.upstream_timeout = upstream_timeout
        self.connect_timeout = 5.0
        self._pool: dict[int, list[_Upstream]] = {}  # port → idle kept-alive connections

    # -- the rollout's levers ----------------------------------------------------------------

    def route(self, *, canary_port: int | None, weight: int) -> None:
        """Send ``weight`` % of new requests to ``canary_port`` (None, 0: all to stable)."""
        self.canary_port = canary_port
        self.weight = weight if canary_port is not None else 0

    def promote(self) -> None:
        """The canary is the stable version now: every request goes to it."""
        if self.canary_port is not None:
            self.stable_port = self.canary_port
        self.route(canary_port=None, weight=0)
        self._windows["stable"] = self._windows["canary"]
        self._windows["canary"] = _Window()

    def take_window(self, version: Version) -> WindowFigures:
        """``version``'s figures since the last take, and a new window begun."""
        window = self._windows[version]
        self._windows[version] = _Window()
        return window.figures()

    def totals(self) -> dict[str, dict[str, int]]:
        return {v: {"requests": n, "errors": e} for v, (n, e) in self._totals.items()}

    # -- serving -----------------------------------------------------------------------------

    async def start(self) -> int:
        """Listen; returns the port (the one chosen, for port 0)."""
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        for idle in self._pool.values():
            for upstream in idle:
                upstream.close()
        self._pool.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError):
            pass  # the client went away or spoke no HTTP: nothing to answer
        except asyncio.CancelledError:
            # Closed by close(): this handler is the end of the line (asyncio's server would
            # otherwise log the cancelled connection as an error).
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            event = await _next_event(conn, reader)
            if not isinstance(event, h11.Request):
                return  # closed, or not a request where one must start
            await self._forward(conn, event, reader, writer)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return  # one side asked to close, or the answer broke off
            conn.start_next_cycle()

    def _choose(self) -> tuple[Version, int]:
        canary = self.canary_port
        if canary is not None and routes_to_canary(self._draw(), self.weight):
            return "canary", canary
        return "stable", self.stable_port

    async def _forward(
        self,
        conn: h11.Connection,
        request: h11.Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        version, port = self._choose()
        began = time.perf_counter()
        failed = True
        try:
            failed = await self._exchange(conn, request, reader, writer, version, port)
        finally:
            latency = (time.perf_counter() - began) * 1000.0
            self._windows[version].add(latency, failed=failed, rng=self._rng)
            total = self._totals[version]
            total[0] += 1
            total[1] += failed

    async def _exchange(
        self,
        conn: h11.Connection,
        request: h11.Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        version: Version,
        port: int,
    ) -> bool:
        """One request passed to ``port`` and its answer passed back; whether it failed."""
        headers = [(k, v) for k, v in request.headers if k.lower() not in _HOP]
        framing = (b"content-length", b"transfer-encoding")
        framed = any(k.lower() in framing for k, _ in request.headers)
        if not any(k.lower() == b"host" for k, _ in headers):  # an HTTP/1.0 client's
            headers.append((b"host", f"{HOST}:{port}".encode()))
        if framed:  # streamed to the version chunk by chunk: never held whole
            headers += [(k, v) for k, v in request.headers if k.lower() == b"transfer-encoding"]
        else:
            await _next_event(conn, reader)  # the request's EndOfMessage
        outgoing = h11.Request(method=request.method, target=request.target, headers=headers)
        try:
            upstream, answer = await self._send(port, outgoing, conn, reader, retry=not framed)
        except (OSError, h11.ProtocolError, TimeoutError, asyncio.IncompleteReadError) as error:
            why = str(error) or type(error).__name__
            await _bad_gateway(conn, writer, f"{version} version did not answer: {why}")
            return True
        out = [(k, v) for k, v in answer.headers if k.lower() not in _HOP]
        writer.write(
            conn.send(
                h11.Response(status_code=answer.status_code, headers=out, reason=answer.reason)
            )
            or b""
        )
        try:
            async with asyncio.timeout(self.upstream_timeout):
                while True:
                    event = await _next_event(upstream.conn, upstream.reader)
                    if isinstance(event, h11.Data):
                        writer.write(conn.send(h11.Data(data=bytes(event.data))) or b"")
                        await writer.drain()
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    else:
                        raise h11.RemoteProtocolError("the answer broke off", 502)
        except (OSError, h11.ProtocolError, TimeoutError):
            upstream.close()
            return True  # broke off mid-answer: the client's connection closes too
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        self._release(port, upstream)
        await writer.drain()
        return answer.status_code >= 500

    async def _send(
        self,
        port: int,
        request: h11.Request,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        *,
        retry: bool,
    ) -> tuple[_Upstream, h11.Response]:
        """The request (and its body, read from the client as it comes) on a kept-alive
        connection to ``port``; its answer's head. A bodiless request that finds a pooled
        connection closed by the version meanwhile is sent once more on a new one."""
        upstream, reused = await self._connection(port)
        try:
            upstream.writer.write(upstream.conn.send(request) or b"")
            if not retry:
                while True:
                    event = await _next_event(conn, reader)
                    if isinstance(event, h11.Data):
                        upstream.writer.write(upstream.conn.send(h11.Data(data=event.data)) or b"")
                        await upstream.writer.drain()
                    else:
                        break
            upstream.writer.write(upstream.conn.send(h11.EndOfMessage()) or b"")
            await upstream.writer.drain()
            async with asyncio.timeout(self.upstream_timeout):
                while True:
                    event = await _next_event(upstream.conn, upstream.reader)
                    if isinstance(event, h11.Response):
                        return upstream, event
                    if not isinstance(event, h11.InformationalResponse):
                        raise h11.RemoteProtocolError("closed without an answer", 502)
        except (OSError, h11.ProtocolError, asyncio.IncompleteReadError):
            upstream.close()
            if not (retry and reused):
                raise
        fresh = h11.Request(method=request.method, target=request.target, headers=request.headers)
        return await self._send_fresh(port, fresh)

    async def _send_fresh(self, port: int, request: h11.Request) -> tuple[_Upstream, h11.Response]:
        upstream = await self._open(port)
        try:
            upstream.writer.write(upstream.conn.send(request) or b"")
            upstream.writer.write(upstream.conn.send(h11.EndOfMessage()) or b"")
            await upstream.writer.drain()
            async with asyncio.timeout(self.upstream_timeout):
                while True:
                    event = await _next_event(upstream.conn, upstream.reader)
                    if isinstance(event, h11.Response):
                        return upstream, event
                    if not isinstance(event, h11.InformationalResponse):
                        raise h11.RemoteProtocolError("closed without an answer", 502)
        except BaseException:
            upstream.close()
            raise

    async def _connection(self, port: int) -> tuple[_Upstream, bool]:
        """A pooled connection to ``port`` the version has not closed, else a new one."""
        idle = self._pool.get(port, [])
        while idle:
            upstream = idle.pop()
            if not upstream.reader.at_eof():
                return upstream, True
            upstream.close()
        return await self._open(port), False

    async def _open(self, port: int) -> _Upstream:
        async with asyncio.timeout(self.connect_timeout):
            reader, writer = await asyncio.open_connection(HOST, port)
        return _Upstream(reader, writer, h11.Connection(h11.CLIENT))

    def _release(self, port: int, upstream: _Upstream) -> None:
        """Back to the pool if both sides are done with the exchange and keep it open."""
        conn = upstream.conn
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            idle = self._pool.setdefault(port, [])
            if len(idle) < POOL_SIZE:
                idle.append(upstream)
                return
        upstream.close()


@dataclass
class _Upstream:
    """A kept-alive connection to one version."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    conn: h11.Connection

    def close(self) -> None:
        self.writer.close()


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> object:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await reader.read(_READ))


async def _bad_gateway(conn: h11.Connection, writer: asyncio.StreamWriter, why: str) -> None:
    if conn.our_state is not h11.SEND_RESPONSE:
        return
    # A request whose body was not all read: this connection cannot carry another request.
    extra = [(b"connection", b"close")] if conn.their_state is h11.SEND_BODY else []
    text = (why + "\n").encode()
    head = [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode())]
    writer.write(conn.send(h11.Response(status_code=502, headers=head + extra)) or b"")
    writer.write(conn.send(h11.Data(data=text)) or b"")
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    await writer.drain()
