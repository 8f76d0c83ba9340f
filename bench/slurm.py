"""Slurm: submitting a 1,000-task array, and what the Slurm runner's poll costs while it runs
(issue 16 §5), on the throwaway single-node Slurm of tests/slurm.py (slurm-wlm and munge from the
OS packages, as root).

Measured, each ``--rounds`` times (medians and extremes printed):

* ``submit``: ``sbatch --parsable --array=0-(N-1) --hold`` of a ``true`` job (held, so the
  figure is the submission alone);
* ``poll (held)``: one tick of the runner's poll (:meth:`SlurmRunner._tick`: one
  ``squeue -h -t all -j <ids> -O …`` and its parsing) over the N tasks' ids, all pending;
* ``poll (running)``: the same once the array is released and its tasks run (two at a time on
  this node's two CPUs), while it runs;
* ``squeue by array id``: ``squeue -j <array id>`` alone, the floor of one call.

Wall time of each, and the CPU time of the squeue processes (``RUSAGE_CHILDREN``). Nothing is
asserted; the figures are in docs/hpc.md ("Speed" under Slurm). Every job is cancelled and
the Slurm stopped at the end.

    python bench/slurm.py [--tasks 1000] [--rounds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.slurm import SlurmCluster, throwaway_slurm

from shipyard.engine.runners.slurm import SlurmHandle, SlurmRunner


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def submit(cluster: SlurmCluster, tasks: int) -> tuple[str, float]:
    started = time.perf_counter()
    job = cluster.run(
        "sbatch", "--parsable", f"--array=0-{tasks - 1}", "--hold", "--output=/dev/null",
        "--job-name=bench", "--wrap", "true",
    ).strip()  # fmt: skip
    return job, time.perf_counter() - started


async def poll_ticks(
    cluster: SlurmCluster,
    job: str,
    tasks: int,
    rounds: int,
    folder: Path,
    unseen: list[int],
) -> tuple[list[float], list[float]]:
    """``rounds`` ticks of a runner tracking the N tasks: (wall, squeue CPU) of each; how many
    tasks a tick did not find in squeue's answer goes to ``unseen`` (0: every row was read)."""
    runner = SlurmRunner(None, folder, env={**os.environ, **cluster.env})  # type: ignore[arg-type]
    for index in range(tasks):
        task = f"{job}_{index}"
        runner._jobs[task] = SlurmHandle(runner, task, f"t{index}", "TERM", os.devnull)
    walls, cpus = [], []
    for _ in range(rounds):
        cpu = _children_cpu()
        started = time.perf_counter()
        await runner._tick()
        walls.append(time.perf_counter() - started)
        cpus.append(_children_cpu() - cpu)
        unseen.append(len(runner._missing))
    return walls, cpus


def floor(cluster: SlurmCluster, job: str, rounds: int) -> list[float]:
    walls = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(
            ["squeue", "-h", "-t", "all", "-j", job, "-O", "JobID:|,State:|"],
            env={**os.environ, **cluster.env}, capture_output=True, check=True,
        )  # fmt: skip
        walls.append(time.perf_counter() - started)
    return walls


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values) * 1000, 1),
        "min_ms": round(min(values) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, object] = {"tasks": args.tasks, "rounds": args.rounds}
    with throwaway_slurm() as cluster, tempfile.TemporaryDirectory() as scratch:
        submits, held, held_cpu, running, running_cpu, floors = [], [], [], [], [], []
        unseen: list[int] = []
        for round_ in range(args.rounds):
            job, took = submit(cluster, args.tasks)
            submits.append(took)
            try:
                walls, cpus = asyncio.run(
                    poll_ticks(cluster, job, args.tasks, 3, Path(scratch) / f"held{round_}", unseen)
                )
                held += walls
                held_cpu += cpus
                floors += floor(cluster, job, 3)
                cluster.run("scontrol", "release", job)
                time.sleep(1.0)  # some tasks run, some ended, most wait
                walls, cpus = asyncio.run(
                    poll_ticks(cluster, job, args.tasks, 3, Path(scratch) / f"run{round_}", unseen)
                )
                running += walls
                running_cpu += cpus
            finally:
                cluster.run("scancel", job)
        results["submit"] = summary(submits)
        results["poll_held"] = summary(held)
        results["poll_held_squeue_cpu"] = summary(held_cpu)
        results["poll_running"] = summary(running)
        results["poll_running_squeue_cpu"] = summary(running_cpu)
        results["squeue_by_array_id"] = summary(floors)
        results["tasks_unseen_by_a_tick_max"] = max(unseen)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
