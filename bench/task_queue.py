"""The coordinator's task queue on PostgreSQL (issue 13 §3), measured directly (no HTTP yet):

1. bulk submit: N tasks in batches of ``--batch``, tasks/s;
2. fetch latency: one fetcher claiming one task at a time from a full queue, p50/p95 of the call;
3. wake latency: a fetcher waiting with LISTEN, a task submitted, time until it holds it (p50/p95);
4. end to end: M tasks, 2 fetcher processes doing no-op work (fetch ``--claim`` at a time, report
   each), tasks/s from the first fetch to the last report.

On a throwaway cluster (tests/postgres.py: initdb + pg_ctl, fsync off, 127.0.0.1) unless --db
gives one. Figures are printed (and written with --json); nothing is asserted. The load average
before and after is printed beside them: the machine is shared.

    python bench/task_queue.py [--tasks 10000] [--batch 1000] [--fetches 2000] [--claim 10]
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository's root instead of bench/ on the path (Python put bench/ first): the benches
# import each other only as bench.*.
HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shipyard.coordinator import migrate  # noqa: E402
from shipyard.coordinator.decisions import TaskSpec  # noqa: E402
from shipyard.coordinator.tasks import Listener, Report, TaskQueue  # noqa: E402

GROUP = 1


def _specs(count: int) -> list[TaskSpec]:
    return [TaskSpec(["true"], GROUP, 1, tags=["bench"], labels={"n": n}) for n in range(count)]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@contextlib.contextmanager
def _database(given: str | None) -> Iterator[str]:
    if given:
        yield given
        return
    from tests.postgres import throwaway_cluster

    with throwaway_cluster() as cluster:
        yield cluster.url("postgres")


def _fresh(url: str) -> None:
    migrate.downgrade(url, "base")
    migrate.upgrade(url)


def bulk_submit(url: str, count: int, batch: int) -> dict[str, float]:
    specs = _specs(count)
    with TaskQueue(url) as queue:
        start = time.perf_counter()
        for first in range(0, count, batch):
            report = queue.submit(specs[first : first + batch])
            assert not report.refused
        elapsed = time.perf_counter() - start
    return {"tasks": count, "batch": batch, "seconds": elapsed, "tasks_per_s": count / elapsed}


def fetch_latency(url: str, fetches: int) -> dict[str, float]:
    with TaskQueue(url) as queue:
        worker = queue.register_worker(GROUP, ["bench"])
        times = []
        for _ in range(fetches):
            start = time.perf_counter()
            (claimed,) = queue.fetch(worker, 1)
            times.append(time.perf_counter() - start)
            queue.report(worker, claimed.uuid, claimed.attempt, exit_status=0)
    return {
        "fetches": fetches,
        "p50_ms": 1000 * statistics.median(times),
        "p95_ms": 1000 * _percentile(times, 0.95),
    }


def wake_latency(url: str, samples: int) -> dict[str, float]:
    with TaskQueue(url) as queue, TaskQueue(url) as fetching, Listener(url) as listener:
        worker = queue.register_worker(GROUP, ["bench"])
        held: list[float] = []
        ready = threading.Event()

        def fetcher() -> None:
            for _ in range(samples):
                ready.set()
                (claimed,) = fetching.fetch_wait(worker, listener, wait=30)
                held.append(time.perf_counter())
                fetching.report(worker, claimed.uuid, claimed.attempt, exit_status=0)

        thread = threading.Thread(target=fetcher)
        thread.start()
        sent: list[float] = []
        for _ in range(samples):
            ready.wait()
            ready.clear()
            time.sleep(0.02)  # the fetcher is waiting, not looking
            sent.append(time.perf_counter())
            queue.submit(_specs(1))
            while len(held) < len(sent) and thread.is_alive():
                time.sleep(0.001)
        thread.join()
    times = [done - start for start, done in zip(sent, held, strict=True)]
    return {
        "samples": samples,
        "p50_ms": 1000 * statistics.median(times),
        "p95_ms": 1000 * _percentile(times, 0.95),
    }


def _drain(url: str, claim: int, done: multiprocessing.Queue[tuple[int, float, float]]) -> None:
    with TaskQueue(url) as queue:
        worker = queue.register_worker(GROUP, ["bench"])
        count, first, last = 0, time.time(), time.time()
        while claimed := queue.fetch(worker, claim):
            # No-op work; the batch's reports in one call, as a worker holding a batch would.
            queue.report_many(worker, [Report(task.uuid, task.attempt, 0) for task in claimed])
            count += len(claimed)
            last = time.time()
        done.put((count, first, last))


def end_to_end(url: str, count: int, claim: int, fetchers: int = 2) -> dict[str, float]:
    with TaskQueue(url) as queue:
        for first in range(0, count, 1000):
            queue.submit(_specs(min(1000, count - first)))
    done: multiprocessing.Queue[tuple[int, float, float]] = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=_drain, args=(url, claim, done)) for _ in range(fetchers)
    ]
    for process in processes:
        process.start()
    results = [done.get() for _ in processes]
    for process in processes:
        process.join()
    total = sum(result[0] for result in results)
    elapsed = max(result[2] for result in results) - min(result[1] for result in results)
    return {
        "tasks": total,
        "fetchers": fetchers,
        "claim": claim,
        "seconds": elapsed,
        "tasks_per_s": total / elapsed,
        "per_fetcher": [result[0] for result in results],  # type: ignore[dict-item]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="a PostgreSQL URL (its tables are dropped and re-made)")
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--fetches", type=int, default=2000)
    parser.add_argument("--wakes", type=int, default=100)
    parser.add_argument("--claim", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures: dict[str, object] = {"load_before": os.getloadavg()[:3]}
    with _database(args.db) as url:
        _fresh(url)
        figures["bulk_submit"] = bulk_submit(url, args.tasks, args.batch)
        figures["fetch"] = fetch_latency(url, min(args.fetches, args.tasks))
        _fresh(url)
        figures["wake"] = wake_latency(url, args.wakes)
        _fresh(url)
        figures["end_to_end_claim1"] = end_to_end(url, args.tasks, 1)
        _fresh(url)
        figures[f"end_to_end_claim{args.claim}"] = end_to_end(url, args.tasks, args.claim)
    figures["load_after"] = os.getloadavg()[:3]
    for name, value in figures.items():
        print(f"{name}: {json.dumps(value)}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
