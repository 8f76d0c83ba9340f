"""The MCP server as an assistant meets it: how long ``shipyard mcp`` takes from spawn to an
initialized session over stdio, how many tools it lists, and the round trip of a small tool
call (``list_executions`` on an empty home), through the SDK's own client.

    python bench/mcp_session.py [--repeat 5] [--calls 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters


async def session(home: Path, calls: int) -> tuple[float, int, list[float]]:
    shipyard = str(Path(sys.executable).with_name("shipyard"))
    params = StdioServerParameters(command=shipyard, args=["mcp", "--home", str(home)])
    started = time.perf_counter()
    async with Client(params) as client:
        ready = time.perf_counter() - started
        tools = len((await client.list_tools()).tools)
        times = []
        for _ in range(calls):
            before = time.perf_counter()
            await client.call_tool("list_executions", {})
            times.append(time.perf_counter() - before)
    return ready, tools, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    readies, rounds = [], []
    with tempfile.TemporaryDirectory() as folder:
        for number in range(args.repeat):
            ready, tools, times = anyio.run(session, Path(folder) / f"home{number}", args.calls)
            readies.append(ready)
            rounds.extend(times)
    print(f"tools listed: {tools}")
    print(
        f"spawn to initialized session: median {statistics.median(readies):.2f} s "
        f"(min {min(readies):.2f}, max {max(readies):.2f}) over {args.repeat} sessions"
    )
    ms = sorted(t * 1000 for t in rounds)
    print(
        f"list_executions round trip: median {statistics.median(ms):.1f} ms, "
        f"p95 {ms[int(len(ms) * 0.95) - 1]:.1f} ms over {len(ms)} calls"
    )


if __name__ == "__main__":
    main()
