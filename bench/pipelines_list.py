"""`shipyard pipelines list|show` wall time, round-robin against `shipyard --version`.

Registers the examples and builtin templates (9 specs) in a fresh home, then runs each command
as a new process N rounds, round-robin, and prints min / median in ms. With ``--before SRC``
(a snapshot of an older ``src`` folder, e.g. ``git archive HEAD~1 src | tar -x -C /tmp/old``)
the same commands also run on that source, with a home of its own, in the same rounds.

    .venv/bin/python -m compileall -q src/shipyard
    .venv/bin/python bench/pipelines_list.py [--rounds 9] [--before /tmp/old/src]
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

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "list": ["pipelines", "list"],
    "list --json": ["pipelines", "list", "--json"],
    "show": ["pipelines", "show", "p7"],
    "show --json": ["pipelines", "show", "p7", "--json"],
    "--version": ["--version"],
}


def shipyard(src: Path, home: Path, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(src), "SHIPYARD_HOME": str(home), "NO_COLOR": "1"}
    subprocess.run(
        [sys.executable, "-m", "shipyard", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )


def register(src: Path, home: Path) -> None:
    specs = sorted(ROOT.glob("examples/*.yaml")) + sorted(
        ROOT.glob("src/shipyard/builtin_templates/*/*.yaml")
    )
    for number, spec in enumerate(specs, 1):
        shipyard(src, home, "pipelines", "add", f"p{number}", str(spec))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--before", type=Path, help="an older src folder to time as well")
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-pipelines-"))
    variants = {"now": ROOT / "src"}
    if options.before:
        variants["before"] = options.before.resolve()
    homes = {name: scratch / name for name in variants}
    for name, src in variants.items():
        register(src, homes[name])
    times: dict[tuple[str, str], list[float]] = {(v, c): [] for v in variants for c in COMMANDS}
    load = os.getloadavg()[0]
    for _ in range(options.rounds):
        for command, args in COMMANDS.items():
            for name, src in variants.items():
                started = time.perf_counter()
                shipyard(src, homes[name], *args)
                times[(name, command)].append((time.perf_counter() - started) * 1000)
    print(f"{options.rounds} rounds, load {load:.1f}-{os.getloadavg()[0]:.1f}")
    for command in COMMANDS:
        cells = [
            f"{name}: min {min(times[(name, command)]):4.0f} / median "
            f"{statistics.median(times[(name, command)]):4.0f} ms"
            for name in variants
        ]
        print(f"{command:12} " + "   ".join(cells))


if __name__ == "__main__":
    main()
