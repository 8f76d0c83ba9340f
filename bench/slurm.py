"""Slurm: submitting a 1,000-task job array, and what following it costs while it runs
(issue 16 §5), on the throwaway single-node Slurm of tests/slurm.py (slurm-wlm and munge from the
OS packages, as root).

Through the code path a sweep with ``--slurm-array`` takes (:mod:`shipyard.slurmarray`), each of
``--rounds`` times:

* ``submit``: :func:`~shipyard.slurmarray.jobs.submit_array` of N tasks (its files written, then
  ``sbatch --parsable --array=0-(N-1) … array.sh``), each task a trivial ``true`` (a real sweep's
  task starts Python; here the tasks must not be what is measured);
* ``follow``: the sweep's follow of the N tasks until every one ended, by the Slurm runner's one
  batched poll (:meth:`SlurmRunner.follow`: one ``squeue -h -r -t all -j <N task ids>`` per tick):
  the polls made, the wall time, and the CPU it took — this process's (parsing, bookkeeping) and
  the squeue processes' (``RUSAGE_CHILDREN``) — in all and per poll;
* ``tick (all pending)``: one poll over the N ids of a held array (``--hold``), the cost of a
  poll whatever the state.

Nothing is asserted; the figures are in docs/performance.md ("Slurm job arrays"). Every job is
cancelled and the Slurm stopped at the end.

    python bench/slurm.py [--tasks 1000] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.slurm import SlurmCluster, throwaway_slurm

from shipyard.engine.runners.slurm import SlurmRunner
from shipyard.plan.model import SlurmSettings
from shipyard.slurmarray.decisions import job_ids_of
from shipyard.slurmarray.jobs import submit_array


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def submit(cluster: SlurmCluster, folder: Path, tasks: int, *, hold: bool) -> tuple[str, float]:
    settings = SlurmSettings(partition=cluster.partition, extra=["--hold"] if hold else [])
    started = time.perf_counter()
    job = submit_array(
        folder,
        [f"bench-{index}" for index in range(tasks)],
        settings=settings,
        throttle=tasks,
        job_name="shipyard.bench.array",
        command=["true"],
        env={**os.environ, **cluster.env},
    )
    return job, time.perf_counter() - started


def _runner(cluster: SlurmCluster, folder: Path) -> SlurmRunner:
    # Nothing is started through it: it only follows, as the sweep's does.
    return SlurmRunner(cast(Any, None), folder, env={**os.environ, **cluster.env})


async def follow(cluster: SlurmCluster, job: str, tasks: int, folder: Path) -> dict[str, float]:
    """Follow every task to its end as the sweep does; what it cost."""
    runner = _runner(cluster, folder)
    cpu, children = time.process_time(), _children_cpu()
    started = time.perf_counter()
    handles = [runner.follow(task, task, os.devnull) for task in job_ids_of(job, tasks)]
    ends = await asyncio.gather(*(handle.exited for handle in handles))
    wall = time.perf_counter() - started
    own, squeue = time.process_time() - cpu, _children_cpu() - children
    await runner.aclose()
    failed = sum(1 for end in ends if end.exit_code != 0)
    return {
        "wall_s": round(wall, 2),
        "polls": runner.polls,
        "cpu_own_s": round(own, 3),
        "cpu_squeue_s": round(squeue, 3),
        "cpu_per_poll_ms": round((own + squeue) / max(runner.polls, 1) * 1000, 1),
        "tasks_not_completed": failed,
    }


async def one_tick(
    cluster: SlurmCluster, job: str, tasks: int, folder: Path
) -> tuple[float, float]:
    runner = _runner(cluster, folder)
    for task in job_ids_of(job, tasks):
        runner.follow(task, task, os.devnull)
    cpu = time.process_time() + _children_cpu()
    started = time.perf_counter()
    await runner._tick()
    wall = time.perf_counter() - started
    spent = time.process_time() + _children_cpu() - cpu
    for handle in list(runner._jobs.values()):
        runner.forget(handle.job_id)
    await runner.aclose()
    return wall, spent


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values) * 1000, 1),
        "min_ms": round(min(values) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, object] = {"tasks": args.tasks, "rounds": args.rounds}
    with throwaway_slurm() as cluster, tempfile.TemporaryDirectory() as scratch:
        submits, follows, ticks, tick_cpu = [], [], [], []
        for round_ in range(args.rounds):
            folder = Path(scratch) / f"held{round_}"
            job, took = submit(cluster, folder, args.tasks, hold=True)
            try:
                for _ in range(3):
                    wall, spent = asyncio.run(one_tick(cluster, job, args.tasks, folder))
                    ticks.append(wall)
                    tick_cpu.append(spent)
            finally:
                cluster.run("scancel", job)
            folder = Path(scratch) / f"run{round_}"
            job, took = submit(cluster, folder, args.tasks, hold=False)
            submits.append(took)
            try:
                follows.append(asyncio.run(follow(cluster, job, args.tasks, folder)))
            finally:
                cluster.run("scancel", job)
        results["submit"] = summary(submits)
        results["tick_all_pending"] = summary(ticks)
        results["tick_all_pending_cpu"] = summary(tick_cpu)
        results["follow"] = follows
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
