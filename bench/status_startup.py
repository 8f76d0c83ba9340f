"""Start-up of ``shipyard status`` against ``python -c pass``, round-robin in one run.

The 100-step chain of ``bench/fanout.py`` is run once into a fresh home, then every round runs
``python -c pass``, ``shipyard status`` (Rich table, written to a pipe) and ``shipyard status
--json``, one after the other; each is timed from spawn to exit, with the CPU (user + system)
of the child from ``os.wait4``. ``--tree DIR`` (repeatable) times a source tree instead of the
installed command (``python -m shipyard`` with ``PYTHONPATH=DIR/src``), so two commits can be
compared side by side; byte-compile each first (``python -m compileall -q DIR/src/shipyard``).
Prints min and median: on a shared machine the minimum is the figure to read.

    python bench/status_startup.py [--rounds 21] [--tree /tmp/old --tree /tmp/new]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fanout import shipyard_command, write_specs


def commands(trees: list[str]) -> dict[str, tuple[list[str], dict[str, str]]]:
    """label -> (argv, extra environment)."""
    found: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -c pass": ([sys.executable, "-c", "pass"], {})
    }
    fronts = [
        (f"{tree}: ", [sys.executable, "-m", "shipyard"], {"PYTHONPATH": f"{tree}/src"})
        for tree in trees
    ] or [("", [shipyard_command()], {})]
    for label, argv, env in fronts:
        for extra in ([], ["--json"]):
            found[f"{label}status {' '.join(extra)}".rstrip()] = ([*argv, "status", *extra], env)
    return found


def time_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(argv)} failed (wait status {status})")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--tree", action="append", default=[], help="a source tree to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as folder:
        home = Path(folder).resolve() / "home"
        base = {**os.environ, "SHIPYARD_HOME": str(home)}
        _, chain = write_specs(Path(folder))
        subprocess.run(
            [shipyard_command(), "run", "-q", str(chain)], env=base, check=True, capture_output=True
        )
        cases = commands([str(Path(t).resolve()) for t in args.tree])
        walls: dict[str, list[float]] = {label: [] for label in cases}
        cpus: dict[str, list[float]] = {label: [] for label in cases}
        for _ in range(args.rounds):
            for label, (argv, env) in cases.items():
                wall, cpu = time_once(argv, {**base, **env})
                walls[label].append(wall)
                cpus[label].append(cpu)
    print(f"{args.rounds} rounds, load average {os.getloadavg()[0]:.2f} at the end")
    for label in cases:
        wall, cpu = walls[label], cpus[label]
        wall_ms = f"wall min {min(wall) * 1e3:6.1f} median {statistics.median(wall) * 1e3:6.1f} ms"
        cpu_ms = f"CPU min {min(cpu) * 1e3:6.1f} median {statistics.median(cpu) * 1e3:6.1f} ms"
        print(f"{label:<40} {wall_ms}   {cpu_ms}")


if __name__ == "__main__":
    main()
