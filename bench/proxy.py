"""What the canary rollout's proxy adds to a request (issue 15 §5): the same requests sent
straight to a version and through :class:`shipyard.rollout.proxy.CanaryProxy`, in the same run,
one after the other (A B A B …) so both see the same machine load.

Three processes, as in a rollout: the version (a minimal asyncio HTTP/1.1 server answering 64
bytes), the proxy (its own event loop, in front of it), and this client (one keep-alive
``httpx.Client`` per target). Per request: min, median and p95 latency of each target, the
difference of the medians (what the proxy adds at p50), their ratio, and the proxy's CPU seconds
(from /proc) per 1000 requests. Nothing is asserted: the figures go in docs/performance.md.

    python bench/proxy.py [--requests 3000] [--warmup 300] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

VERSION = r"""
import asyncio, sys
BODY = b"x" * 64
async def handle(reader, writer):
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n" + BODY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

PROXY = r"""
import asyncio, sys
from shipyard.rollout.proxy import CanaryProxy
async def main():
    proxy = CanaryProxy(port=0, stable_port=int(sys.argv[1]))
    print(await proxy.start(), flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def _start(code: str, *args: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _figures(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "min_ms": ordered[0] * 1000,
        "median_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="per target")
    parser.add_argument("--warmup", type=int, default=300, help="per target, not counted")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()

    version, version_port = _start(VERSION)
    proxy, proxy_port = _start(PROXY, str(version_port))
    try:
        direct = httpx.Client(base_url=f"http://127.0.0.1:{version_port}", trust_env=False)
        proxied = httpx.Client(base_url=f"http://127.0.0.1:{proxy_port}", trust_env=False)
        samples: dict[str, list[float]] = {"direct": [], "proxy": []}
        cpu_before = 0.0
        for index in range(options.warmup + options.requests):
            if index == options.warmup:
                cpu_before = _cpu_seconds(proxy.pid)
            for name, client in (("direct", direct), ("proxy", proxied)):  # A B A B …
                began = time.perf_counter()
                client.get("/").raise_for_status()
                took = time.perf_counter() - began
                if index >= options.warmup:
                    samples[name].append(took)
        cpu = _cpu_seconds(proxy.pid) - cpu_before
        direct.close()
        proxied.close()
    finally:
        for process in (proxy, version):
            process.terminate()
            process.wait(5)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f}",
        "requests": options.requests,
        "direct": _figures(samples["direct"]),
        "proxy": _figures(samples["proxy"]),
        "proxy_cpu_s_per_1000": cpu / options.requests * 1000,
    }
    added = result["proxy"]["median_ms"] - result["direct"]["median_ms"]  # type: ignore[index]
    result["added_p50_ms"] = added
    result["ratio_p50"] = result["proxy"]["median_ms"] / result["direct"]["median_ms"]  # type: ignore[index]
    for name in ("direct", "proxy"):
        shown = result[name]
        print(
            f"{name:7s} min {shown['min_ms']:.3f} ms  median {shown['median_ms']:.3f} ms  "  # type: ignore[index]
            f"p95 {shown['p95_ms']:.3f} ms"  # type: ignore[index]
        )
    print(
        f"added at p50: {added:.3f} ms (ratio {result['ratio_p50']:.2f}); proxy CPU "
        f"{result['proxy_cpu_s_per_1000']:.3f} s per 1000 requests; {result['machine']}"
    )
    if options.json:
        options.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
