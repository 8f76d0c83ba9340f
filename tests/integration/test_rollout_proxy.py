"""The rollout's reverse proxy against real HTTP servers on loopback: bodies streamed both
ways, one client connection kept alive across requests, the split by weight, and what it
measures — 5xx answers and versions that do not answer counted as errors."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import httpx

from shipyard.rollout.proxy import CanaryProxy


async def _version(name: bytes, *, status: int = 200) -> tuple[asyncio.Server, int]:
    """A tiny HTTP/1.1 server: echoes a request's body length, or streams 3 chunks for /chunks."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                target = lines[0].split()[1]
                headers = {k.lower(): v for k, _, v in (x.partition(": ") for x in lines[1:] if x)}
                size = 0
                if "content-length" in headers:
                    size = len(await reader.readexactly(int(headers["content-length"])))
                elif headers.get("transfer-encoding") == "chunked":
                    while True:
                        length = int((await reader.readuntil(b"\r\n")).strip(), 16)
                        size += len(await reader.readexactly(length + 2)) - 2
                        if length == 0:
                            break
                if target == "/chunks":
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    for part in (b"one,", b"two,", b"three"):
                        writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                        await writer.drain()
                    writer.write(b"0\r\n\r\n")
                else:
                    body = name + b" got %d" % size
                    writer.write(
                        b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body)
                    )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _proxy(stable: int, **kwargs: object) -> AsyncIterator[CanaryProxy]:
    proxy = CanaryProxy(port=0, stable_port=stable, **kwargs)  # type: ignore[arg-type]
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


def test_bodies_stream_both_ways_on_one_kept_alive_connection() -> None:
    asyncio.run(_bodies_stream_both_ways_on_one_kept_alive_connection())


async def _bodies_stream_both_ways_on_one_kept_alive_connection() -> None:
    server, port = await _version(b"v1")
    async for proxy in _proxy(port):
        connections: list[object] = []
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}") as client:

            async def upload() -> AsyncIterator[bytes]:
                for _ in range(64):
                    yield b"x" * 1024

            posted = await client.post("/", content=upload())  # chunked, streamed
            assert posted.text == "v1 got 65536"
            sized = await client.post("/", content=b"y" * 1000)
            assert sized.text == "v1 got 1000"
            async with client.stream("GET", "/chunks") as streamed:
                parts = [part async for part in streamed.aiter_raw()]
            assert b"".join(parts) == b"one,two,three"
            for _ in range(5):
                reply = await client.get("/")
                connections.append(reply.extensions["network_stream"])
        # every request of the client went over the same connection to the proxy
        assert len({id(stream) for stream in connections}) == 1
        assert proxy.take_window("stable").requests == 8
    server.close()


def test_requests_split_by_weight_and_each_version_is_measured() -> None:
    asyncio.run(_requests_split_by_weight_and_each_version_is_measured())


async def _requests_split_by_weight_and_each_version_is_measured() -> None:
    stable, stable_port = await _version(b"v1")
    canary, canary_port = await _version(b"v2", status=503)
    draws = itertools.cycle([0.05, 0.5, 0.95, 0.15])  # 2 of 4 below 0.2
    async for proxy in _proxy(stable_port, draw=lambda: next(draws)):
        proxy.route(canary_port=canary_port, weight=20)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}") as client:
            answers = [(await client.get("/")).status_code for _ in range(8)]
        assert answers == [503, 200, 200, 503] * 2
        bad = proxy.take_window("canary")
        assert (bad.requests, bad.errors, bad.error_rate) == (4, 4, 1.0)
        good = proxy.take_window("stable")
        assert (good.requests, good.errors) == (4, 0)
        assert good.p50_latency_ms is not None and good.p50_latency_ms > 0
        assert proxy.take_window("stable").requests == 0  # a take begins a new window
        proxy.route(canary_port=None, weight=50)  # back to stable: weight means nothing then
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}") as client:
            assert {(await client.get("/")).status_code for _ in range(4)} == {200}
    stable.close()
    canary.close()


def test_a_version_that_does_not_answer_is_an_error_and_a_502() -> None:
    asyncio.run(_a_version_that_does_not_answer_is_an_error_and_a_502())


async def _a_version_that_does_not_answer_is_an_error_and_a_502() -> None:
    stable, stable_port = await _version(b"v1")
    canary, canary_port = await _version(b"v2")
    canary.close()
    await canary.wait_closed()  # nothing listens on canary_port now
    async for proxy in _proxy(stable_port, draw=lambda: 0.0):
        proxy.route(canary_port=canary_port, weight=100)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}") as client:
            reply = await client.get("/")
            assert reply.status_code == 502 and "canary version did not answer" in reply.text
            proxy.promote()
        window = proxy.take_window("stable")  # the promoted canary's window goes with it
        assert (window.requests, window.errors) == (1, 1)
        assert proxy.totals()["canary"] == {"requests": 1, "errors": 1}
    stable.close()


def test_a_version_closing_its_connections_is_reconnected_to() -> None:
    asyncio.run(_a_version_closing_its_connections_is_reconnected_to())


async def _a_version_closing_its_connections_is_reconnected_to() -> None:
    """A version that closes each connection after its answer (without saying so): the
    pooled connection is found closed and a new one is made, the client sees only answers."""

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(once, "127.0.0.1", 0)
    async for proxy in _proxy(server.sockets[0].getsockname()[1]):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}") as client:
            answers = []
            for _ in range(6):
                answers.append((await client.get("/")).text)
                await asyncio.sleep(0.01 * (len(answers) % 2))  # found closed, or not yet
        assert answers == ["ok"] * 6
        assert proxy.take_window("stable").errors == 0
    server.close()
