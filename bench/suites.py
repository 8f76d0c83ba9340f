"""Task suites through node managers beside independent workers (issue 14 §5): one run,
round-robin, on this machine.

What starts (all on 127.0.0.1, all stopped and removed at the end): a throwaway PostgreSQL
(tests/postgres.py), ``shipyard db upgrade``, ``shipyard admin create-user``, ``shipyard serve
--db``, and two systems side by side, each in a group of its own so neither takes the other's
tasks:

- **suite**: 2 ``shipyard manager`` processes (group ``suites``, ``--stats FILE``), started
  afresh each round and left idle before the clock starts; each round one suite with
  ``worker_schedule {count: 2, prefetch: --prefetch}``: each manager runs 2 managed workers.
- **workers**: 2 ``shipyard worker --concurrency 2`` (group ``lone``), started once: the
  independent workers of issue 13, the same 4 tasks at a time.

A no-op task is the command ``true`` (a real subprocess either way). Each round, for each
system in turn:

- **end to end**: tasks/s from before the submit (the suite's ``POST /suites`` and its tasks'
  ``POST /tasks/batch`` of up to 10,000; the workers': the batches alone) to the last task's end
  (the latest ``ended_at`` in the database, read once all of the round's tasks succeeded).
- **fetch p50/p95** (suite only): each manager's ``fetch`` request, sent to the reply read,
  over its WebSocket, as the manager itself timed it (``shipyard manager --stats FILE``, written
  at its exit; the worse manager's p95 is printed); ``report`` the same.
- **task wait p50/p95** (suite only): what a managed worker waits for its next task, from
  asking its manager over the local socket to getting one (served from the prefetch buffer;
  ``wait`` answers and asking again included), as each worker timed it, summed up in its
  manager's ``--stats`` file (the worse manager's p95 is printed): the issue's "fetch p95 with
  prefetch".
- **fetch alone** (after the suite's round, managers stopped): an in-process client on the
  manager's own channel takes a suite of ``--fetches × prefetch/2`` tasks and fetches
  prefetch/2 at a time (what a manager asks at its refill), reporting each batch before the next:
  the coordinator's side of the round trip without a busy manager beside it.
- **CPU seconds** of the end to end (user + system, psutil, reaped children included): the
  coordinator (``serve``), PostgreSQL, and the node side (managers with their managed workers
  and tasks, or the workers with their tasks).
- **RSS**: the coordinator's resident set after the round and its peak (``VmHWM``, since its
  start); the node side's largest total sampled every 0.2 s during the round (both managers
  with their managed workers; both workers).

Then each figure's min / median / max over the rounds, and the suite's median ÷ the workers'.
Nothing is asserted; the load average before and after is printed: the machine is shared.

    python bench/suites.py [--rounds 3] [--tasks 5000] [--prefetch 64] [--fetches 200]
                           [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.tasks import (  # noqa: E402  (after the path)
    PASSWORD,
    _env,
    _percentile,
    _postmaster,
    _rss_mb,
    _run,
    _shipyard_command,
    _stop,
    _tree_cpu,
)

SUITES, LONE = "suites", "lone"
PAIR = 2  # managers, and independent workers
WORKERS_EACH = 2  # managed workers a manager, tasks a worker at once
API = "/api/v1"


@dataclass
class Bench:
    url: str
    db: str
    folder: Path
    server: subprocess.Popen[str]
    postmaster: int
    http: Any  # httpx.Client
    user: dict[str, str]
    env: dict[str, str]
    manager_tokens: list[str] = field(default_factory=list)
    probe_token: str = ""
    workers: list[subprocess.Popen[str]] = field(default_factory=list)
    rounds: int = 0

    # --- helpers ---

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        answer = self.http.post(API + path, json=body, headers=headers or self.user)
        if answer.status_code >= 400:
            raise RuntimeError(f"POST {path}: {answer.status_code} {answer.text[:500]}")
        return answer.json()

    def last_id(self) -> int:
        import psycopg

        with psycopg.connect(self.db, autocommit=True) as connection:
            row = connection.execute("SELECT coalesce(max(id), 0) FROM tasks").fetchone()
            assert row is not None
            return int(row[0])

    def until_done(self, after: int, count: int) -> tuple[float, int]:
        """The last of the round's tasks' end (the database's clock), once all ended, and how
        many did not succeed (a figure, not an abort: under heavy load a worker's lease can
        lapse and its task run out of attempts)."""
        import psycopg

        with psycopg.connect(self.db, autocommit=True) as connection:
            while True:
                row = connection.execute(
                    "SELECT count(*), count(*) FILTER (WHERE state NOT IN ('succeeded', "
                    "'failed', 'cancelled')), count(*) FILTER (WHERE state <> 'succeeded'), "
                    "extract(epoch FROM max(ended_at)) FROM tasks WHERE id > %s",
                    (after,),
                ).fetchone()
                assert row is not None
                if row[0] >= count and row[1] == 0:
                    return float(row[3]), int(row[2])
                time.sleep(0.05)

    def until_complete(self, suite: str, seconds: float = 120) -> None:
        """The server's sweep (every ``suite_sweep`` s) completes the drained closed suite."""
        deadline = time.monotonic() + seconds
        while (state := self.http.get(f"{API}/suites/{suite}", headers=self.user)
               .json()["state"]) != "complete":  # fmt: skip
            assert time.monotonic() < deadline, f"the suite is {state}, not complete"
            time.sleep(0.2)

    def batch(self, count: int, group: str, suite: str | None = None) -> None:
        extra = {"suite_uuid": suite} if suite else {}
        for first in range(0, count, 10_000):
            size = min(10_000, count - first)
            tasks = [{"group": group, "command": ["true"], **extra} for _ in range(size)]
            got = self.post("/tasks/batch", {"tasks": tasks})
            assert not got["refused"], got["refused"][:3]

    # --- the independent workers ---

    def start_workers(self) -> None:
        for number in range(PAIR):
            token = self.post(f"/groups/{LONE}/workers")["token"]
            log = (self.folder / f"worker{number}.log").open("w")
            self.workers.append(subprocess.Popen(
                [_shipyard_command(), "worker", "--server", self.url, "--group", LONE,
                 "--folder", str(self.folder / f"worker{number}"),
                 "--concurrency", str(WORKERS_EACH)],
                env=self.env | {"SHIPYARD_WORKER_TOKEN": token},
                stdout=log, stderr=log, text=True, start_new_session=True,
            ))  # fmt: skip

    # --- the managers ---

    @contextlib.contextmanager
    def managers(self) -> Iterator[list[Manager]]:
        """Two managers, registered and idle; stopped (SIGTERM: they write --stats) after."""
        self.rounds += 1
        running: list[Manager] = []
        try:
            for number, token in enumerate(self.manager_tokens):
                place = self.folder / f"round{self.rounds}-manager{number}"
                place.mkdir()
                out = place / "out.jsonl"
                with out.open("w") as stdout, (place / "err.txt").open("w") as stderr:
                    process = subprocess.Popen(
                        [_shipyard_command(), "manager", "--server", self.url, "--group",
                         SUITES, "--folder", str(place / "folder"), "--json",
                         "--stats", str(place / "stats.json")],
                        env=self.env | {"SHIPYARD_MANAGER_TOKEN": token},
                        stdout=stdout, stderr=stderr, text=True, start_new_session=True,
                    )  # fmt: skip
                running.append(Manager(process, place))
            for manager in running:
                manager.until("registered")
            yield running
        finally:
            for manager in running:
                _stop(manager.process, grace=60)


@dataclass
class Manager:
    process: subprocess.Popen[str]
    place: Path

    def events(self, kind: str) -> list[dict[str, Any]]:
        lines = (self.place / "out.jsonl").read_text().splitlines()
        found = [json.loads(line) for line in lines if line.startswith("{")]
        return [event for event in found if event["event"] == kind]

    def until(self, kind: str, count: int = 1, seconds: float = 300) -> None:
        deadline = time.monotonic() + seconds
        while len(self.events(kind)) < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                said = (self.place / "err.txt").read_text()[-2000:]
                raise RuntimeError(f"manager in {self.place}: no {kind!r} event\n{said}")
            time.sleep(0.05)

    def stats(self) -> dict[str, Any]:
        written = self.place / "stats.json"
        assert written.exists(), f"the manager in {self.place} wrote no --stats file at its exit"
        return dict(json.loads(written.read_text())["requests"])

    def task_wait(self) -> dict[str, Any] | None:
        """Its managed workers' wait for a task (asked its manager → got one), as --stats has
        it; None when no task was handed out."""
        workers = json.loads((self.place / "stats.json").read_text()).get("workers") or {}
        found: dict[str, Any] | None = workers.get("task_wait")
        return found


class Sampler:
    """The largest total RSS (MB) of these processes and their direct children (a manager's
    managed workers), sampled every 0.2 s while it runs."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            for pid in self.pids:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process = psutil.Process(pid)
                    for one in [process, *process.children()]:
                        with contextlib.suppress(psutil.NoSuchProcess):
                            total += one.memory_info().rss
            self.peak = max(self.peak, total / 1e6)
            self._stop.wait(0.2)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _cpu(bench: Bench, node: list[int]) -> dict[str, float]:
    return {"server": _tree_cpu([bench.server.pid]), "postgres": _tree_cpu([bench.postmaster]),
            "node": _tree_cpu(node)}  # fmt: skip


def _record(figures: dict[str, list[float]], key: str, value: float) -> None:
    figures.setdefault(key, []).append(value)


def _spent(figures: dict[str, list[float]], before: dict[str, float], after: dict[str, float],
           node: str) -> None:  # fmt: skip
    names = {"server": "coordinator", "postgres": "postgres", "node": node}
    for part, name in names.items():
        _record(figures, f"e2e cpu s: {name}", after[part] - before[part])
    _record(figures, "e2e cpu s", sum(after.values()) - sum(before.values()))


def suite_round(bench: Bench, count: int, prefetch: int, figures: dict[str, list[float]]) -> None:
    with bench.managers() as managers:
        pids = [manager.process.pid for manager in managers]
        after = bench.last_id()
        with Sampler(pids) as sampler:
            before = _cpu(bench, pids)
            started = time.time()
            schedule = {"count": WORKERS_EACH, "prefetch": prefetch}
            body = {"group": SUITES, "name": f"bench {count}", "worker_schedule": schedule}
            suite = bench.post("/suites", body)["uuid"]
            bench.batch(count, SUITES, suite)
            submitted = time.time()
            # Closed now (a user with a known list does so): each manager sees it drained
            # from its own fetch's answer, not at its next heartbeat (30 s).
            bench.post(f"/suites/{suite}/close")
            ended, unsucceeded = bench.until_done(after, count)
            _spent(figures, before, _cpu(bench, pids), "managers + workers")
            for manager in managers:
                manager.until("idle")
        _record(figures, "e2e tasks/s", count / (ended - started))
        _record(figures, "tasks not succeeded", unsucceeded)
        _record(figures, "submit tasks/s", count / (submitted - started))
        _record(figures, "node peak RSS MB", sampler.peak)
        bench.until_complete(suite)
    stats = [manager.stats() for manager in managers]
    for kind in ("fetch", "report"):
        mine = [one[kind] for one in stats if kind in one]
        if not mine:
            continue
        _record(figures, f"{kind} count", sum(one["count"] for one in mine))
        _record(figures, f"{kind} over HTTP", sum(one["over_http"] for one in mine))
        _record(figures, f"{kind} p50 ms", statistics.median(one["p50_ms"] for one in mine))
        _record(figures, f"{kind} p95 ms (worse manager)", max(one["p95_ms"] for one in mine))
    waits = [found for manager in managers if (found := manager.task_wait()) is not None]
    if waits:
        _record(figures, "task wait count", sum(one["count"] for one in waits))
        _record(figures, "task wait p50 ms", statistics.median(one["p50_ms"] for one in waits))
        _record(figures, "task wait p95 ms (worse manager)", max(one["p95_ms"] for one in waits))
        _record(figures, "task wait max ms", max(one["max_ms"] for one in waits))


def fetch_alone(bench: Bench, fetches: int, limit: int, figures: dict[str, list[float]]) -> None:
    """The coordinator's side of a fetch alone: an in-process client on the manager's own
    channel (channel.py, over the WebSocket) takes a suite of ``fetches × limit`` tasks and
    fetches ``limit`` at a time, reporting each batch before the next, with no manager or
    worker process busy beside it: the same request the managers time, without their load."""
    from shipyard.coordinator.managerprotocol import (
        Assigned,
        Fetch,
        NextSuite,
        RegisterBody,
        Report,
        SuiteDone,
        TaskReport,
        Tasks,
    )
    from shipyard.manager.channel import Channel

    def nothing(*_: object) -> None:
        pass

    channel = Channel(bench.url, bench.probe_token, SUITES, on_push=nothing, on_connect=nothing,
                      say=nothing)  # fmt: skip
    channel.register(RegisterBody(tags=[], hostname="bench-probe", cpus=1))
    channel.start()
    try:
        deadline = time.monotonic() + 30
        while not channel.connected:
            assert time.monotonic() < deadline, "the probe's WebSocket did not open"
            time.sleep(0.02)
        body = {"group": SUITES, "name": "fetch alone", "worker_schedule": {"count": 1}}
        suite = bench.post("/suites", body)["uuid"]
        bench.batch(fetches * limit, SUITES, suite)
        bench.post(f"/suites/{suite}/close")
        assigned = channel.request(NextSuite(id=0))
        assert isinstance(assigned, Assigned) and assigned.suite is not None
        assert assigned.suite.uuid == suite, (assigned.suite.uuid, suite)
        times = []
        for _ in range(fetches):
            started = time.perf_counter()
            got = channel.request(Fetch(id=0, suite_uuid=suite, limit=limit))
            times.append(time.perf_counter() - started)
            assert isinstance(got, Tasks) and len(got.tasks) == limit, got
            channel.request(Report(id=0, reports=[
                TaskReport(uuid=task.uuid, attempt=task.attempt, exit_status=0)
                for task in got.tasks]))  # fmt: skip
        channel.request(SuiteDone(id=0, suite_uuid=suite, reason="drained",
                                  tasks_completed=fetches * limit))  # fmt: skip
    finally:
        channel.close()
    _record(figures, "fetch alone p50 ms", 1000 * statistics.median(times))
    _record(figures, "fetch alone p95 ms", 1000 * _percentile(times, 0.95))
    _record(figures, "fetch alone over HTTP", channel.over_http.get("fetch", 0))


def workers_round(bench: Bench, count: int, figures: dict[str, list[float]]) -> None:
    pids = [worker.pid for worker in bench.workers]
    after = bench.last_id()
    with Sampler(pids) as sampler:
        before = _cpu(bench, pids)
        started = time.time()
        bench.batch(count, LONE)
        submitted = time.time()
        ended, unsucceeded = bench.until_done(after, count)
        _spent(figures, before, _cpu(bench, pids), "workers")
    _record(figures, "e2e tasks/s", count / (ended - started))
    _record(figures, "tasks not succeeded", unsucceeded)
    _record(figures, "submit tasks/s", count / (submitted - started))
    # A worker's direct children are its running tasks (``true``): its own RSS is the figure.
    _record(figures, "node peak RSS MB", sampler.peak)


def _coordinator_rss(bench: Bench, figures: dict[str, list[float]]) -> None:
    now, peak = _rss_mb(bench.server.pid)
    _record(figures, "coordinator RSS MB", now)
    _record(figures, "coordinator peak RSS MB", peak)


@contextlib.contextmanager
def started(folder: Path) -> Iterator[Bench]:
    import httpx
    from tests.postgres import throwaway_cluster
    from tests.serving import _url, _wait_healthy

    home = folder / "home"
    home.mkdir(parents=True)
    env = _env(home)
    command = _shipyard_command()
    with throwaway_cluster() as cluster:
        db = cluster.url("postgres")
        _run([command, "db", "upgrade", "--db", db], env)
        _run([command, "admin", "create-user", "root", "--admin", "--db", db], env)
        settings = folder / "settings.toml"
        settings.write_text("[coordinator]\nmax_fetch_wait = 60\n")
        log = folder / "server.log"
        with log.open("w") as errors:
            server = subprocess.Popen(
                [command, "serve", "--port", "0", "--home", str(home), "--db", db,
                 "--config", str(settings)],
                stdout=subprocess.PIPE, stderr=errors, text=True, env=env,
                start_new_session=True,
            )  # fmt: skip
        try:
            url = _url(server, log)
            _wait_healthy(url, server, log, 60)
            with httpx.Client(base_url=url, timeout=300) as http:
                login = http.post(f"{API}/login", json={"name": "root", "password": PASSWORD})
                login.raise_for_status()
                user = {"Authorization": f"Bearer {login.json()['token']}"}
                bench = Bench(url, db, folder, server, _postmaster(cluster.folder), http, user,
                              env)  # fmt: skip
                for group in (SUITES, LONE):
                    bench.post("/groups", {"name": group})
                bench.manager_tokens = [
                    bench.post(f"/groups/{SUITES}/managers")["token"] for _ in range(PAIR)
                ]
                bench.probe_token = bench.post(f"/groups/{SUITES}/managers")["token"]
                bench.start_workers()
                try:
                    yield bench
                finally:
                    for worker in bench.workers:
                        _stop(worker)
        finally:
            _stop(server)


def _table(figures: dict[str, dict[str, list[float]]]) -> str:
    keys = sorted({key for mine in figures.values() for key in mine})
    lines = ["| figure | " + " | ".join(f"{name} min / median / max" for name in figures) + " |"]
    lines.append("|---" * (len(figures) + 1) + "|")
    for key in keys:
        cells = []
        for mine in figures.values():
            values = mine.get(key)
            cells.append(f"{min(values):.3g} / {statistics.median(values):.3g} / "
                         f"{max(values):.3g}" if values else "—")  # fmt: skip
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ratios(figures: dict[str, dict[str, list[float]]]) -> str:
    ours, theirs = figures["suite"], figures["workers"]
    return "\n".join(
        f"suite ÷ workers, {key}: "
        f"{statistics.median(ours[key]) / statistics.median(theirs[key]):.2f}×"
        for key in sorted(set(ours) & set(theirs))
        if statistics.median(theirs[key])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--prefetch", type=int, default=64, help="worker_schedule.prefetch")
    parser.add_argument(
        "--fetches",
        type=int,
        default=200,
        help="fetches of prefetch/2 tasks by the in-process client (0: none)",
    )
    parser.add_argument("--json", type=Path, help="write the figures there too")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="shipyard-bench-suites-"))
    report: dict[str, Any] = {"load_before": os.getloadavg()}
    figures: dict[str, dict[str, list[float]]] = {"suite": {}, "workers": {}}
    began = time.monotonic()
    try:
        with started(folder) as bench:
            for number in range(args.rounds):
                suite_round(bench, args.tasks, args.prefetch, figures["suite"])
                mine = figures["suite"]
                print(f"round {number + 1}: suite {mine['e2e tasks/s'][-1]:.0f} tasks/s, "
                      f"CPU {mine['e2e cpu s'][-1]:.1f} s (coordinator "
                      f"{mine['e2e cpu s: coordinator'][-1]:.1f} s), fetch p50/p95 "
                      f"{mine.get('fetch p50 ms', [0])[-1]:.1f}/"
                      f"{mine.get('fetch p95 ms (worse manager)', [0])[-1]:.1f} ms; the "
                      f"workers' wait for a task p50/p95 "
                      f"{mine.get('task wait p50 ms', [0])[-1]:.2f}/"
                      f"{mine.get('task wait p95 ms (worse manager)', [0])[-1]:.2f} ms",
                      file=sys.stderr, flush=True)  # fmt: skip
                if args.fetches:
                    fetch_alone(bench, args.fetches, args.prefetch // 2, figures["suite"])
                _coordinator_rss(bench, figures["suite"])
                workers_round(bench, args.tasks, figures["workers"])
                _coordinator_rss(bench, figures["workers"])
                print(f"round {number + 1}/{args.rounds}: suite "
                      f"{figures['suite']['e2e tasks/s'][-1]:.0f} tasks/s, fetch p95 "
                      f"{figures['suite'].get('fetch p95 ms (worse manager)', [0])[-1]:.2f} ms, "
                      f"task wait p95 "
                      f"{figures['suite'].get('task wait p95 ms (worse manager)', [0])[-1]:.2f}"
                      f" ms; "
                      f"workers {figures['workers']['e2e tasks/s'][-1]:.0f} tasks/s "
                      f"(load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report |= {"load_after": os.getloadavg(), "seconds": time.monotonic() - began,
               "figures": figures, "args": {k: str(v) for k, v in vars(args).items()}}  # fmt: skip
    print(f"{args.tasks} tasks a round, {args.rounds} round(s), prefetch {args.prefetch}, "
          f"{PAIR} managers × {WORKERS_EACH} managed workers beside {PAIR} workers × "
          f"--concurrency {WORKERS_EACH}; load {report['load_before'][0]:.2f} → "
          f"{report['load_after'][0]:.2f}; {report['seconds']:.0f} s in all")  # fmt: skip
    print(_table(figures))
    print(_ratios(figures))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
