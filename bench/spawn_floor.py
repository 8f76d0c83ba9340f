"""The floor under any Python orchestrator built like Shipyard's engine, measured against xargs.

A bare asyncio loop that only starts ``true`` with ``posix_spawn`` (two at a time, new session,
output to a new log file per step) and reaps it through a pidfd — no spec, no store, no events,
no interpreter start counted. What Shipyard takes above this is its bookkeeping and start-up.

    python bench/spawn_floor.py [--count 400] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time


async def spawn_all(count: int, parallel: int, log: str) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    env = dict(os.environ)
    devnull = os.open(os.devnull, os.O_RDONLY)
    started = finished = running = 0

    def start() -> None:
        nonlocal started, running
        while running < parallel and started < count:
            fd = os.open(f"{log}.{started}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                pid = os.posix_spawnp(
                    "true",
                    ["true"],
                    env,
                    file_actions=[
                        (os.POSIX_SPAWN_DUP2, devnull, 0),
                        (os.POSIX_SPAWN_DUP2, fd, 1),
                        (os.POSIX_SPAWN_DUP2, fd, 2),
                    ],
                    setsid=True,
                )
            finally:
                os.close(fd)
            started += 1
            running += 1
            pidfd = os.pidfd_open(pid)
            loop.add_reader(pidfd, exited, pidfd, pid)

    def exited(pidfd: int, pid: int) -> None:
        nonlocal finished, running
        loop.remove_reader(pidfd)
        os.close(pidfd)
        os.wait4(pid, 0)
        running -= 1
        finished += 1
        if finished == count:
            done.set_result(None)
        else:
            start()

    start()
    await done
    os.close(devnull)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    feed = "\n".join(str(i) for i in range(args.count))
    floors, bases = [], []
    with tempfile.TemporaryDirectory(prefix=".bench-", dir=os.getcwd()) as tmp:
        for _ in range(args.repeat):
            begin = time.perf_counter()
            asyncio.run(spawn_all(args.count, 2, os.path.join(tmp, "log")))
            floors.append(time.perf_counter() - begin)
            begin = time.perf_counter()
            subprocess.run(["xargs", "-P2", "-n1", "true"], input=feed, text=True, check=True)
            bases.append(time.perf_counter() - begin)
    floor, base = statistics.median(floors), statistics.median(bases)
    print(f"asyncio + posix_spawn + pidfd, {args.count} × true, P2: {floor:.3f}s")
    print(f"xargs -P2 -n1 true, same count:                 {base:.3f}s")
    print(f"ratio: {floor / base:.2f}x (no interpreter start in the first figure)")


if __name__ == "__main__":
    main()
