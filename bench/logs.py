"""What placing lines in time and reading their levels costs: ``shipyard logs`` variants on two
units' logs of N lines each (about 100 bytes a line; 9 in 10 start with an ISO 8601 time, 1 in
100 is a WARNING, the others INFO or plain), written at once so their times interleave.

Each variant's output goes to /dev/null; wall seconds, CPU seconds (user + system) and peak RSS
come from ``os.wait4`` of the command. Variants run round-robin, ``--rounds`` times, so a burst
of load on a shared machine falls on all of them alike; the median round is reported. Nothing
is asserted: the figures go in docs/cli.md ("Logs in time").

    python bench/logs.py [--lines 600000] [--rounds 3] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WRITER = """\
import sys, time
from datetime import UTC, datetime
me, lines = sys.argv[1], int(sys.argv[2])
start = time.time()
pad = "x" * 40
chunk = []
for i in range(lines):
    if i % 10 == 9:
        chunk.append(f"plain continuation {me} {i:09d} {pad}\\n")
    else:
        stamp = datetime.fromtimestamp(start + i * 1e-6, UTC).isoformat(timespec="microseconds")
        level = "WARNING" if i % 100 == 0 else "INFO"
        chunk.append(f"{stamp.replace('+00:00', 'Z')} {level} {me} {i:09d} {pad}\\n")
    if len(chunk) == 10000:
        sys.stdout.write("".join(chunk))
        chunk = []
sys.stdout.write("".join(chunk))
"""

VARIANTS: list[list[str]] = [
    [],
    ["--json"],
    ["--all"],
    ["--level", "warning"],
    ["--all", "--level", "warning"],
    ["--since", "1d"],
    ["--all", "--export", "{folder}/out.jsonl", "--force"],
]


def shipyard() -> str:
    return str(Path(sys.executable).with_name("shipyard"))


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one command, its output thrown away."""
    began = time.perf_counter()
    with open(os.devnull, "wb") as out:
        child = subprocess.Popen(argv, stdout=out, env=env)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=600_000, help="per unit")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="shipyard-bench-logs-"))
    (folder / "writer.py").write_text(WRITER)
    writer = folder / "writer.py"
    (folder / "spec.yaml").write_text(
        "name: logs\nsteps:\n"
        f"  left: {{run: [{sys.executable}, {writer}, left, '{options.lines}']}}\n"
        f"  right: {{run: [{sys.executable}, {writer}, right, '{options.lines}']}}\n"
    )
    env = {**os.environ, "SHIPYARD_HOME": str(folder / "home"), "NO_COLOR": "1"}
    done = subprocess.run(
        [shipyard(), "run", "-q", str(folder / "spec.yaml")],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    execution_id = done.stdout.split()[0]
    figures: dict[str, list[tuple[float, float, float]]] = {}
    for _ in range(options.rounds):
        for variant in VARIANTS:
            args = [arg.format(folder=folder) for arg in variant]
            name = " ".join(variant).replace(" {folder}/", " ") or "(no option)"
            figures.setdefault(name, []).append(
                measure([shipyard(), "logs", execution_id, *args], env)
            )
    total = 2 * options.lines
    print(f"{total:,} lines in 2 units, median of {options.rounds} rounds, load {os.getloadavg()}")
    print(f"{'variant':40} {'wall s':>8} {'CPU s':>8} {'µs/line':>8} {'peak MB':>8}")
    rows = {}
    for name, runs in figures.items():
        wall = statistics.median(run[0] for run in runs)
        cpu = statistics.median(run[1] for run in runs)
        peak = max(run[2] for run in runs)
        rows[name] = {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak}
        print(f"{name:40} {wall:8.2f} {cpu:8.2f} {cpu / total * 1e6:8.1f} {peak:8.1f}")
    if options.json:
        options.json.write_text(json.dumps({"lines": total, "variants": rows}, indent=2))


if __name__ == "__main__":
    main()
