"""Fleet start-up and crash recovery, against a plain loop measured in the same run.

* Time to all-healthy: 20 ``python -m http.server`` services brought up by ``shipyard up -d``
  (parallel deployment, TCP health probe every 50 ms until healthy — ``start_interval`` — then
  every second), from the command's start to its return
  (it returns once all are healthy). Baseline: a plain Python loop that starts the same 20
  processes and polls each port every 50 ms until all accept connections.
* Crash detection: one service is killed with SIGKILL; the time until the supervisor records
  its exit (the ``service_exited`` event's timestamp) and until it is healthy again
  (restart backoff 0).

Targets (issue #3): all-healthy ≤ 1.2 × the plain start + 100 ms; crash detected ≤ 100 ms.

    python bench/fleet.py [--services 20] [--kills 5]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE = 18800


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def plain_start(count: int, base: int) -> float:
    begin = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(base + i)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(count)
    ]
    waiting = set(range(count))
    while waiting:
        waiting = {i for i in waiting if not listening(base + i)}
        if waiting:
            time.sleep(0.05)
    elapsed = time.perf_counter() - begin
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait()
    return elapsed


def spec_text(count: int) -> str:
    lines = ["name: bench-fleet", f"execution: {{base_port: {BASE + 1000}, deployment: parallel}}"]
    lines.append("services:")
    for i in range(count):
        lines.append(
            f"  s{i}: {{run: [{sys.executable}, -m, http.server, --bind, 127.0.0.1,"
            f" '{BASE + 1000 + i}'],"
            f" port: {BASE + 1000 + i}, health: {{tcp: true, start_interval: 50ms, interval: 1s}},"
            " restart: {policy: always, max_restarts: 100, backoff: 0s}}"
        )
    return "\n".join(lines) + "\n"


def shipyard(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("shipyard")
    return subprocess.run(
        [str(executable), *args], env=env, cwd=cwd, capture_output=True, text=True, check=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix=".bench-", dir=os.getcwd()) as tmp:
        folder = Path(tmp)
        spec = folder / "fleet.yaml"
        spec.write_text(spec_text(args.services))
        env = {**os.environ, "SHIPYARD_HOME": str(folder / "home"), "NO_COLOR": "1"}
        plains, ups = [], []
        for _ in range(args.repeat):
            plains.append(plain_start(args.services, BASE))
            begin = time.perf_counter()
            started = shipyard("up", "-d", "--json", str(spec), env=env, cwd=folder)
            ups.append(time.perf_counter() - begin)
            execution_id = json.loads(started.stdout)["id"]
            shipyard("down", execution_id, env=env, cwd=folder)
        plain, up = statistics.median(plains), statistics.median(ups)
        print(f"{args.services} services to all-healthy:")
        print(f"  plain start + port polling: {plain:.3f}s")
        print(
            f"  shipyard up -d --wait:      {up:.3f}s  ({up / plain:.2f}x; target ≤ 1.2x + 0.1s "
            f"= {1.2 * plain + 0.1:.3f}s)"
        )

        started = shipyard("up", "-d", "--json", str(spec), env=env, cwd=folder)
        last = json.loads(started.stdout)["id"]
        detections: list[float] = []
        recoveries: list[float] = []
        for _ in range(args.kills):
            status = json.loads(shipyard("ps", last, "--json", env=env, cwd=folder).stdout)
            victim = next(u for u in status if u["name"] == "s0")
            killed_at = time.time()
            try:
                os.kill(victim["pid"], signal.SIGKILL)
            except ProcessLookupError:
                time.sleep(0.3)  # the store had not caught up with the last restart yet
                continue
            deadline = time.monotonic() + 10
            exited_at = healthy_at = None
            events = folder / "home" / "runs" / last / "events.jsonl"
            while time.monotonic() < deadline and healthy_at is None:
                for line in events.read_text().splitlines():
                    event = json.loads(line)
                    if event.get("unit") != "s0" or event["ts"] < killed_at:
                        continue
                    if event["action"] == "service_exited" and exited_at is None:
                        exited_at = event["ts"]
                    if event["action"] == "service_healthy" and exited_at is not None:
                        healthy_at = event["ts"]
                time.sleep(0.05)
            if exited_at is None or healthy_at is None:
                raise SystemExit("the killed service was not seen to exit and recover")
            detections.append(exited_at - killed_at)
            recoveries.append(healthy_at - killed_at)
            time.sleep(0.3)
        shipyard("down", last, env=env, cwd=folder)
        print(
            f"crash → exit recorded: median {statistics.median(detections) * 1000:.1f} ms, "
            f"max {max(detections) * 1000:.1f} ms (target ≤ 100 ms)"
        )
        recovery = statistics.median(recoveries) * 1000
        print(f"crash → healthy again (backoff 0): median {recovery:.0f} ms")


if __name__ == "__main__":
    main()
