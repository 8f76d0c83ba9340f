"""How Shipyard scales with the number of steps: N independent steps (``run: [true]``).

For each size, in a fresh working folder and a fresh ``SHIPYARD_HOME`` per command (so every
command builds its plan, as a first run of a new spec does), it times:

* ``shipyard validate spec.yaml``
* ``shipyard plan --json spec.yaml > /dev/null``
* ``shipyard run -q spec.yaml`` (``max_parallel: 2``)

and reports wall seconds, CPU seconds (user + system) and peak RSS, both from ``os.wait4`` of
the command: its rusage covers the command and every descendant it waited for, and its
``ru_maxrss`` is the largest single process of that tree (the engine, for ``run``). Then the
growth factor between consecutive sizes: linear is ×10 for ×10 steps.

At 50,000 steps ``run`` is skipped unless ``--run-all``: two at a time, 50,000 processes take
minutes on a 2-core machine, and what grows with N in the engine shows at 10,000 already.

The installed ``shipyard`` beside this interpreter is used, after byte-compiling the package
(a wheel install is compiled; this environment sets ``PYTHONDONTWRITEBYTECODE``). Nothing is
asserted: the figures go in docs/performance.md ("Scale").

    python bench/scale.py [--sizes 1000,10000] [--run-all] [--json results.json]
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

COMMANDS: dict[str, list[str]] = {
    "validate": ["validate", "spec.yaml"],
    "plan --json": ["plan", "--json", "spec.yaml"],
    "run -q": ["run", "-q", "spec.yaml"],
}
# Above this many steps `run` needs --run-all (see the module's doc).
RUN_LIMIT = 10_000


@dataclass(frozen=True)
class Measure:
    command: str
    steps: int
    wall: float
    cpu: float
    rss: int  # bytes


def spec_text(steps: int) -> str:
    lines = [f"name: scale{steps}", "execution: {max_parallel: 2}", "steps:"]
    lines += [f"  s{i}: {{run: [true]}}" for i in range(steps)]
    return "\n".join(lines) + "\n"


def timed(argv: list[str], folder: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Wall, CPU and peak RSS of one command, from wait4 of its process."""
    log = folder / f".{argv[1]}.log"
    with open(log, "wb") as err, open(os.devnull, "wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(argv, cwd=folder, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)  # already reaped: keep Popen quiet
    if process.returncode != 0:
        tail = log.read_text(errors="replace")[-1500:]
        raise SystemExit(f"{' '.join(argv)} exited {process.returncode} in {folder}:\n{tail}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def measure_size(steps: int, commands: list[str], shipyard: str, base: Path) -> list[Measure]:
    folder = Path(tempfile.mkdtemp(prefix=f"scale{steps}-", dir=base))
    try:
        (folder / "spec.yaml").write_text(spec_text(steps))
        results = []
        for name in commands:
            # A fresh home per command: each builds the plan, none finds it in the cache.
            env = {**os.environ, "SHIPYARD_HOME": str(folder / f"home-{name.split()[0]}")}
            wall, cpu, rss = timed([shipyard, *COMMANDS[name]], folder, env)
            results.append(Measure(name, steps, wall, cpu, rss))
            print(f"  {steps:>6} {name:<12} {wall:8.2f} s {cpu:8.2f} s CPU {rss / 2**20:7.0f} MB")
        return results
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def growth(before: float, after: float) -> str:
    return f"×{after / before:.1f}" if before > 0 else "–"


def table(measures: list[Measure]) -> list[str]:
    lines = [
        "| command | steps | wall (s) | CPU (s) | peak RSS (MB) "
        "| wall growth | CPU growth | RSS growth |",
        "|---|---|---|---|---|---|---|---|",
    ]
    previous: dict[str, Measure] = {}
    for m in measures:
        before = previous.get(m.command)
        grown = (
            [growth(before.wall, m.wall), growth(before.cpu, m.cpu), growth(before.rss, m.rss)]
            if before
            else ["", "", ""]
        )
        lines.append(
            f"| `{m.command}` | {m.steps:,} | {m.wall:.2f} | {m.cpu:.2f} | "
            f"{m.rss / 2**20:.0f} | {' | '.join(grown)} |"
        )
        previous[m.command] = m
    return lines


def byte_compile() -> None:
    spec = importlib.util.find_spec("shipyard")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("shipyard is not installed beside this interpreter")
    for location in spec.submodule_search_locations:
        compileall.compile_dir(location, quiet=1)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated step counts")
    parser.add_argument("--run-all", action="store_true", help=f"run above {RUN_LIMIT:,} too")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    sizes = sorted(int(size.replace("_", "")) for size in args.sizes.split(","))
    shipyard = str(Path(sys.executable).parent / "shipyard")
    byte_compile()
    print(f"{time.strftime('%Y-%m-%d %H:%M')} load {os.getloadavg()[0]:.1f} cores {os.cpu_count()}")
    measures: list[Measure] = []
    with tempfile.TemporaryDirectory(prefix="shipyard-scale-") as base:
        for steps in sizes:
            commands = list(COMMANDS)
            if steps > RUN_LIMIT and not args.run_all:
                commands.remove("run -q")
                print(f"  {steps:>6} run -q skipped: minutes of `true` two at a time (--run-all)")
            measures += measure_size(steps, commands, shipyard, Path(base))
    measures.sort(key=lambda m: (list(COMMANDS).index(m.command), m.steps))
    print(f"load after {os.getloadavg()[0]:.1f}")
    print("\n".join(table(measures)))
    if args.json:
        args.json.write_text(json.dumps([asdict(m) for m in measures], indent=2))


if __name__ == "__main__":
    main()
