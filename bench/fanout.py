"""Scheduling overhead of Shipyard against ``xargs``, measured in the same run.

Two workloads of ``true`` commands, so that what is measured is the orchestrator, not the work:

* fan-out: 400 independent steps and one fan-in step that needs them all, ``max_parallel: 2``;
  baseline ``seq 401 | xargs -P2 -n1 true``.
* chain: 100 steps, each needing the one before; baseline ``seq 100 | xargs -P1 -n1 true``.

Each is run through the installed ``shipyard run -q`` command, interpreter start included, and
timed as wall clock from spawn to exit; peak RSS is the orchestrator process's own high-water
mark (``VmHWM`` from /proc, read every 5 ms until it exits). Also timed: ``shipyard --help`` and
``shipyard status`` against a bare ``python -c pass``. Medians of ``--repeat`` runs are printed
with the ratio to the baseline. Nothing here is asserted: the figures go in docs/performance.md.

    python bench/fanout.py [--repeat 5] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

FANOUT = 400
CHAIN = 100


def shipyard_command() -> str:
    beside = Path(sys.executable).with_name("shipyard")
    return str(beside) if beside.exists() else "shipyard"


def write_specs(folder: Path) -> tuple[Path, Path]:
    fanout = ["name: fanout", "execution: {max_parallel: 2}", "steps:"]
    fanout += [f"  s{i}: {{run: [true]}}" for i in range(FANOUT)]
    fanout.append(f"  fanin: {{needs: [{', '.join(f's{i}' for i in range(FANOUT))}], run: [true]}}")
    chain = ["name: chain", "execution: {max_parallel: 2}", "steps:"]
    chain += [f"  s{i}: {{run: [true]{f', needs: [s{i - 1}]' if i else ''}}}" for i in range(CHAIN)]
    fanout_path, chain_path = folder / "fanout.yaml", folder / "chain.yaml"
    fanout_path.write_text("\n".join(fanout) + "\n")
    chain_path.write_text("\n".join(chain) + "\n")
    return fanout_path, chain_path


def _watch_hwm(pid: int, peak: list[int], done: threading.Event) -> None:
    while not done.is_set():
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak[0] = max(peak[0], int(line.split()[1]) * 1024)
                        break
        except (FileNotFoundError, ProcessLookupError):
            return
        done.wait(0.005)


def measure(
    argv: list[str], *, cwd: Path, env: dict[str, str], stdin: str | None = None
) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes of the process itself) for one run of ``argv``."""
    peak = [0]
    done = threading.Event()
    start = time.perf_counter()
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    watcher = threading.Thread(target=_watch_hwm, args=(process.pid, peak, done), daemon=True)
    watcher.start()
    _, stderr = process.communicate(stdin)
    elapsed = time.perf_counter() - start
    done.set()
    watcher.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} … failed ({process.returncode}): {stderr[-500:]}")
    return elapsed, peak[0]


def median_run(argv: list[str], repeat: int, **kwargs: object) -> tuple[float, int]:
    walls, peaks = [], []
    for _ in range(repeat):
        wall, peak = measure(argv, **kwargs)  # type: ignore[arg-type]
        walls.append(wall)
        peaks.append(peak)
    return statistics.median(walls), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="where to run (default: .)")
    args = parser.parse_args()

    shipyard = shipyard_command()
    results: dict[str, dict[str, float]] = {}
    # The working folder is where a user's .shipyard would be: by default a fresh folder under
    # the current one (see docs/performance.md for why not /tmp on this machine).
    with tempfile.TemporaryDirectory(prefix=".bench-", dir=args.dir) as tmp:
        folder = Path(tmp)
        fanout, chain = write_specs(folder)
        env = {**os.environ, "SHIPYARD_HOME": str(folder / "home"), "NO_COLOR": "1"}
        common = {"cwd": folder, "env": env}
        # Warm the page cache and the .pyc files once; every figure below is a median.
        measure([shipyard, "run", "-q", str(chain)], **common)  # type: ignore[arg-type]

        rows = [
            (
                "fan-out 400+1, P2",
                [shipyard, "run", "-q", str(fanout)],
                ["xargs", "-P2", "-n1", "true"],
                "\n".join(str(i) for i in range(FANOUT + 1)),
            ),
            (
                "chain 100",
                [shipyard, "run", "-q", str(chain)],
                ["xargs", "-P1", "-n1", "true"],
                "\n".join(str(i) for i in range(CHAIN)),
            ),
        ]
        print(f"{'workload':<20} {'shipyard':>10} {'xargs':>10} {'ratio':>7} {'shipyard rss':>13}")
        for label, ours, baseline, feed in rows:
            wall, peak = median_run(ours, args.repeat, **common)  # type: ignore[arg-type]
            base, _ = median_run(baseline, args.repeat, stdin=feed, **common)  # type: ignore[arg-type]
            ratio = wall / base
            print(
                f"{label:<20} {wall:>9.3f}s {base:>9.3f}s {ratio:>6.2f}x {peak / 2**20:>10.1f}MiB"
            )
            results[label] = {
                "shipyard_s": wall,
                "baseline_s": base,
                "ratio": ratio,
                "rss_bytes": peak,
            }
        chain_wall = results["chain 100"]["shipyard_s"]
        chain_base = results["chain 100"]["baseline_s"]
        per_step = (chain_wall - chain_base) / CHAIN * 1000
        print(f"chain: {per_step:.2f} ms per step above the baseline (interpreter start included)")
        results["chain 100"]["ms_per_step_above_baseline"] = per_step

        print()
        print(f"{'start-up':<20} {'shipyard':>10} {'python -c pass':>15}")
        bare, _ = median_run([sys.executable, "-c", "pass"], args.repeat * 2, **common)  # type: ignore[arg-type]
        for label, argv in (("--help", [shipyard, "--help"]), ("status", [shipyard, "status"])):
            wall, _ = median_run(argv, args.repeat * 2, **common)  # type: ignore[arg-type]
            print(f"{label:<20} {wall * 1000:>8.0f}ms {bare * 1000:>13.0f}ms")
            results[f"startup {label}"] = {"shipyard_s": wall, "baseline_s": bare}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
