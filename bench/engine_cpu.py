"""The engine's own CPU per step on the 400-step fan-out, in process, round-robin across trees.

bench/peers.py times whole ``shipyard run`` processes: start-up, plan building and the steps'
own processes are in its figures, and on a shared machine its CPU medians move by ±10 % between
rounds, more than a change of a few µs per step. This bench drives the fan-out through
``shipyard.connect().run`` in a fresh interpreter per run (the plan built and cached by an
untimed first run), and reports only that process's CPU (user + system, ``RUSAGE_SELF``: the
steps' ``true`` processes are not in it) for the second run: the engine's CPU per step.

Each round runs every tree in turn (A B C, A B C, …). ``--profile`` instead prints a cProfile
(CPU clock) of one run of the first tree, grouped by module.

    python bench/engine_cpu.py [--rounds 9] [--tree LABEL=SRC ...] [--profile]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

FAN = 400

# Runs as `python -c CHILD folder [profile_path]`; prints the engine CPU seconds of the run.
CHILD = r"""
import os, resource, sys, time
from pathlib import Path
import shipyard
folder = Path(sys.argv[1])
os.chdir(folder)
ops = shipyard.connect(home=folder / "home")
first = resource.getrusage(resource.RUSAGE_SELF)
ops.run(str(folder / "spec.yaml"))  # builds and caches the plan (Pydantic): printed apart
built = resource.getrusage(resource.RUSAGE_SELF)
profile = sys.argv[2] if len(sys.argv) > 2 else None
if profile:
    import cProfile
    prof = cProfile.Profile(time.process_time)
    prof.enable()
before = resource.getrusage(resource.RUSAGE_SELF)
status = ops.run(str(folder / "spec.yaml"))
after = resource.getrusage(resource.RUSAGE_SELF)
if profile:
    prof.disable()
    prof.dump_stats(profile)
assert str(status.state.value) == "succeeded", status.state
cpu = lambda a, b: b.ru_utime - a.ru_utime + b.ru_stime - a.ru_stime
print(cpu(first, built), cpu(before, after))
"""


def spec() -> str:
    lines = ["name: fanout", "execution: {max_parallel: 2}", "steps:"]
    lines += [f"  s{i}: {{run: [true]}}" for i in range(FAN)]
    lines.append(f"  fanin: {{needs: [{', '.join(f's{i}' for i in range(FAN))}], run: [true]}}")
    return "\n".join(lines) + "\n"


def one_run(src: Path | None, where: Path, profile: Path | None = None) -> tuple[float, float]:
    """(CPU seconds of the first run, which builds the plan; of the second, from the cache)."""
    folder = Path(tempfile.mkdtemp(prefix=".engine-cpu-", dir=where))
    (folder / "spec.yaml").write_text(spec())
    env = dict(os.environ, NO_COLOR="1")
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    argv = [sys.executable, "-c", CHILD, str(folder)] + ([str(profile)] if profile else [])
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"run failed in {folder}: {done.stderr[-800:]}")
    subprocess.run(["rm", "-rf", str(folder)], check=False)
    first, cached = done.stdout.split()[-2:]
    return float(first), float(cached)


def grouped(profile: Path) -> list[tuple[float, str]]:
    """tottime per module (Shipyard's by file, the stdlib's by file, builtins by name)."""
    import pstats

    totals: dict[str, float] = {}
    for (file, _, function), row in pstats.Stats(str(profile)).stats.items():  # type: ignore[attr-defined]
        if "shipyard/" in file:
            key = "shipyard/" + file.split("shipyard/")[-1]
        elif file == "~":
            key = function.split(" of ")[0]
        else:
            key = file.rsplit("/", 1)[-1]
        totals[key] = totals.get(key, 0.0) + row[2]
    return sorted(((value, key) for key, value in totals.items()), reverse=True)


# The engine's parts, by the functions that do them: (label, file part, function, measure)
# where measure is "cum" (the function and what it calls) or "tot" (its own time only).
PARTS = [
    ("log file open (O_CREAT, per step)", "~", "<built-in method posix.open>", "tot"),
    ("posix_spawnp, parent side", "~", "<built-in method posix.posix_spawnp>", "tot"),
    ("runner start in all (open, spawn, containment)", "runners/local.py", "start", "cum"),
    ("exit seen: pidfd reader + wait4", "engine/process.py", "_watch_exit", "cum"),
    ("", "engine/process.py", "on_readable", "cum"),
    ("leftovers check at exit", "engine/runners/local.py", "leftovers", "cum"),
    ("attempt journal lines", "engine/executor.py", "_note", "cum"),
    ("spawn journal line", "engine/executor.py", "_journal_spawn", "cum"),
    ("recorder flush: events.jsonl + one store txn", "engine/recorder.py", "flush", "cum"),
    ("events made (recorder.event)", "engine/recorder.py", "event", "cum"),
    ("scheduler", "engine/scheduler.py", "*", "tot"),
    ("cache key of a success", "engine/cachekey.py", "step_key", "cum"),
    ("resource sampling (psutil import once)", "engine/sampler.py", "sample", "cum"),
    ("", "engine/sampler.py", "finish", "cum"),
    ("asyncio loop itself (_run_once + select)", "base_events.py", "_run_once", "tot"),
    ("", "selectors.py", "select", "cum"),
    ("per run: record + run folder + plan.json", "operations/plans.py", "prepare", "cum"),
    ("per run: plan from the cache", "operations/plans.py", "cached_plan", "cum"),
    ("per run: final status read", "operations/watching.py", "status", "cum"),
    ("all (LocalOperations.run)", "shipyard/local.py", "run", "cum"),
]


def parts(profile: Path) -> list[tuple[str, float]]:
    """Seconds per part of :data:`PARTS` (a part in several rows is summed)."""
    import pstats

    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    result: dict[str, float] = {}
    label = ""
    for name, file, function, measure in PARTS:
        label = name or label
        for (where, _, called), row in stats.items():
            if file in where and function in ("*", called):
                result[label] = result.get(label, 0.0) + row[3 if measure == "cum" else 2]
    return list(result.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--tree", action="append", default=[], help="LABEL=SRC (default: installed)"
    )
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="where to run (default: .)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    trees: dict[str, Path | None] = {"installed": None} if not args.tree else {}
    for item in args.tree:
        label, _, src = item.partition("=")
        trees[label] = Path(src).resolve()
    if args.profile:
        label, src = next(iter(trees.items()))
        target = Path(tempfile.mkdtemp()) / "fan.prof"
        print(
            f"{label}: engine CPU {one_run(src, args.dir, target)[1] / (FAN + 1) * 1e6:.0f} µs/step"
        )
        for name, seconds in parts(target):
            print(f"{seconds / (FAN + 1) * 1e6:8.1f} µs/step  {name}")
        print()
        rows = grouped(target)
        total = sum(value for value, _ in rows)
        print(f"profiled total {total / (FAN + 1) * 1e6:.0f} µs/step (cProfile inflates it)")
        for value, key in rows[:30]:
            print(f"{value / (FAN + 1) * 1e6:8.1f} µs/step  {key}")
        return
    figures: dict[str, list[float]] = {label: [] for label in trees}
    firsts: dict[str, list[float]] = {label: [] for label in trees}
    for round_ in range(args.rounds):
        for label, src in trees.items():
            first, cached = one_run(src, args.dir)
            firsts[label].append(first)
            figures[label].append(cached)
        print(f"  round {round_ + 1}/{args.rounds} (load {os.getloadavg()[0]:.2f})", flush=True)
    print(f"\nengine CPU per step, fan-out {FAN}+1, {args.rounds} rounds")
    print("| tree | min | median | max | first run (plan built), median |")
    print("|---|---|---|---|---|")
    for label, runs in figures.items():
        built = statistics.median(firsts[label]) / (FAN + 1) * 1e6
        low, mid, high = (
            v / (FAN + 1) * 1e6 for v in (min(runs), statistics.median(runs), max(runs))
        )
        print(f"| {label} | {low:.0f} µs | {mid:.0f} µs | {high:.0f} µs | {built:.0f} µs |")


if __name__ == "__main__":
    main()
