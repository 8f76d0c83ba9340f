"""The coordinator beside Celery with Redis (issue 13 §7): one run, round-robin, on this machine.

What starts (all on 127.0.0.1, all stopped and removed at the end):

- **Shipyard**: a throwaway PostgreSQL (tests/postgres.py: ``initdb`` + ``pg_ctl``, fsync off),
  ``shipyard db upgrade``, ``shipyard admin create-user``, ``shipyard serve --db``, and 2
  ``shipyard worker`` processes (the installed command, as a user runs them). A no-op task is
  the command ``true``: a worker runs every task as a subprocess.
- **Celery**: its own ``redis-server`` (no persistence) as broker and result backend, and 2
  ``celery worker`` processes, prefork pool with ``--concurrency`` each (default 1: two
  processes running one task at a time, as the two Shipyard workers; N: N at a time each, as
  ``shipyard worker --concurrency N``). A no-op task is a Python function returning
  None; ``celery (true)`` is the same with the function running ``subprocess.run(["true"])``,
  the fair comparison with Shipyard's ``true``.

What is measured, for each system in turn (A B C, A B C, … over ``--rounds``):

- **end to end**: ``--tasks`` no-op tasks submitted as one batch (Shipyard: ``POST
  /tasks/batch`` of up to 10,000; Celery: ``group(...).apply_async()``), tasks/s from before the
  submit to the last task's end (Shipyard: the latest ``ended_at`` in the database, read once
  all are done; Celery: ``GroupResult.get()`` returning). The submit's own time is the
  **bulk submit** figure (tasks/s, workers running).
- **round trip**: one task submitted, its result awaited (Shipyard: ``POST /tasks`` then ``GET
  /tasks/{uuid}/result?wait=…``, a long poll woken when the task ends; Celery: ``delay().get()``),
  ``--trips`` times, p50/p95.
- **fetch** (Shipyard only; Celery has no such call): a worker token of a group no worker
  serves claims one task at a time over HTTP from a queue of ``--fetches``, p50/p95.
- **CPU seconds** of each phase: user + system of the systems' processes and everything under
  them (Shipyard: server, workers and their tasks, PostgreSQL; Celery: its workers and their
  pool processes, redis-server), from psutil, the bench's own client excluded.
- **RSS**: the coordinator's (``shipyard serve``) resident set at the end and its peak
  (``VmHWM``); Celery's largest worker process beside it.

Nothing is asserted; medians and minimums are printed (and written with ``--json``), with the
load average before and after: the machine is shared.

    python bench/tasks.py [--rounds 3] [--tasks 10000] [--trips 200] [--fetches 1000] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

# bench/ holds a queue.py, as the stdlib has (Celery's amqp imports ``queue``): drop this
# folder from the path, which Python put first, before Celery is imported.
HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench password"
GROUP = "bench"
IDLE_GROUP = "fetching"  # a group no worker serves: the fetch figure's queue
WORKERS = 2

CELERY_APP = """
import os
import subprocess

from celery import Celery

app = Celery("bench", broker=os.environ["BENCH_REDIS"], backend=os.environ["BENCH_REDIS"])
app.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
                result_expires=3600)


@app.task
def noop():
    return None


@app.task
def run_true():
    subprocess.run(["true"], check=True)
"""


def _shipyard_command() -> str:
    beside = Path(sys.executable).with_name("shipyard")
    return str(beside) if beside.exists() else "shipyard"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _tree_cpu(pids: list[int]) -> float:
    """User + system seconds of these processes, their live descendants and the reaped ones
    (counted in their parents' children times): differences of it are a phase's CPU."""
    seen: set[int] = set()
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(pid)
            for process in [root, *root.children(recursive=True)]:
                if process.pid in seen:
                    continue
                seen.add(process.pid)
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = process.cpu_times()
                    total += times.user + times.system + times.children_user
                    total += times.children_system
    return total


def _rss_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) in MB (10^6 bytes) of one process."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1000, int(fields["VmHWM"].split()[0]) / 1000)


def _family(pid: int) -> list[int]:
    return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]


def _stop(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- Shipyard ------------------------------------------------------------------------------------


@dataclass
class Shipyard:
    url: str
    db: str
    folder: Path
    server: subprocess.Popen[str]
    postmaster: int
    http: Any  # httpx.Client
    user: dict[str, str]
    workers: list[subprocess.Popen[str]] = field(default_factory=list)
    name: str = "shipyard"

    def pids(self) -> list[int]:
        return [self.server.pid, self.postmaster, *(w.pid for w in self.workers)]

    def parts(self) -> dict[str, list[int]]:
        """Where the CPU goes: the server, the workers (with their tasks), PostgreSQL."""
        return {"server": [self.server.pid], "workers": [w.pid for w in self.workers],
                "postgres": [self.postmaster]}  # fmt: skip

    def _issue_worker(self, group: str) -> tuple[str, dict[str, str]]:
        issued = self.http.post(f"/api/v1/groups/{group}/workers", headers=self.user)
        issued.raise_for_status()
        token = str(issued.json()["token"])
        return token, {"Authorization": f"Bearer {token}"}

    def start_workers(self, env: dict[str, str], concurrency: int = 1) -> None:
        # --concurrency only when above 1: a tree from before the option runs as it did.
        extra = ["--concurrency", str(concurrency)] if concurrency > 1 else []
        for number in range(WORKERS):
            token, _ = self._issue_worker(GROUP)
            log = (self.folder / f"worker{number}.log").open("w")
            self.workers.append(
                subprocess.Popen(
                    [
                        _shipyard_command(),
                        "worker",
                        "--server",
                        self.url,
                        "--group",
                        GROUP,
                        "--folder",
                        str(self.folder / f"worker{number}"),
                        *extra,
                    ],
                    env=env | {"SHIPYARD_WORKER_TOKEN": token},
                    stdout=log,
                    stderr=log,
                    text=True,
                    start_new_session=True,
                )
            )

    def _clear(self) -> None:
        """Every task gone between phases: each phase sees the same empty queue."""
        import psycopg

        with psycopg.connect(self.db, autocommit=True) as connection:
            connection.execute("TRUNCATE tasks CASCADE")

    def _batch(self, count: int, group: str = GROUP) -> list[str]:
        made: list[str] = []
        for first in range(0, count, 10_000):
            size = min(10_000, count - first)
            body = {"tasks": [{"group": group, "command": ["true"]} for _ in range(size)]}
            answer = self.http.post("/api/v1/tasks/batch", json=body, headers=self.user)
            answer.raise_for_status()
            got = answer.json()
            assert not got["refused"], got["refused"][:3]
            made += [item["uuid"] for item in got["accepted"]]
        return made

    def end_to_end(self, count: int) -> dict[str, float]:
        self._clear()
        started = time.time()
        self._batch(count)
        submitted = time.time()
        ended = self._until_done(count)
        return {"seconds": ended - started, "submit_seconds": submitted - started}

    def _until_done(self, count: int) -> float:
        """The last task's end (the database's clock, this machine's), once all ended."""
        import psycopg

        with psycopg.connect(self.db, autocommit=True) as connection:
            while True:
                row = connection.execute(
                    "SELECT count(*) FILTER (WHERE state NOT IN ('succeeded', 'failed', "
                    "'cancelled')), count(*) FILTER (WHERE state <> 'succeeded'), "
                    "extract(epoch FROM max(ended_at)) FROM tasks"
                ).fetchone()
                assert row is not None
                if row[0] == 0:
                    assert row[1] == 0, f"{row[1]} of {count} tasks did not succeed"
                    return float(row[2])
                time.sleep(0.05)

    def round_trips(self, count: int) -> list[float]:
        self._clear()
        times = []
        for _ in range(count):
            started = time.perf_counter()
            made = self.http.post(
                "/api/v1/tasks", json={"group": GROUP, "command": ["true"]}, headers=self.user
            )
            uuid = made.json()["uuid"]
            result = self._result(uuid)
            times.append(time.perf_counter() - started)
            assert result["state"] == "succeeded", result
        return times

    def _result(self, uuid: str) -> dict[str, Any]:
        while True:
            got = self.http.get(
                f"/api/v1/tasks/{uuid}/result", params={"wait": 10}, headers=self.user
            ).json()
            if got["state"] in ("succeeded", "failed", "cancelled"):
                return dict(got)
            time.sleep(0.001)  # a tree from before ?wait= answers at once: poll, gently

    def fetches(self, count: int) -> list[float]:
        self._clear()
        _, worker = self._issue_worker(IDLE_GROUP)
        self.http.post("/api/v1/workers/register", json={"tags": []}, headers=worker)
        self._batch(count, IDLE_GROUP)
        times = []
        for _ in range(count):
            started = time.perf_counter()
            answer = self.http.post("/api/v1/workers/fetch", json={"limit": 1}, headers=worker)
            times.append(time.perf_counter() - started)
            (task,) = answer.json()["tasks"]
            self.http.post(
                "/api/v1/workers/report",
                json={"uuid": task["uuid"], "attempt": task["attempt"], "exit_status": 0},
                headers=worker,
            )
        self.http.post("/api/v1/workers/leave", headers=worker)
        return times


def _env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    return env | {"SHIPYARD_HOME": str(home), "NO_COLOR": "1", "SHIPYARD_PASSWORD": PASSWORD}


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")


def _postmaster(folder: Path) -> int:
    return int((folder / "data" / "postmaster.pid").read_text().split()[0])


@contextlib.contextmanager
def shipyard(
    folder: Path, name: str = "shipyard", src: str | None = None, concurrency: int = 1
) -> Iterator[Shipyard]:
    """Shipyard's processes; ``src``: another tree's ``src`` first on their PYTHONPATH;
    ``concurrency``: tasks each worker runs at once."""
    import httpx
    from tests.postgres import throwaway_cluster
    from tests.serving import _url, _wait_healthy

    home = folder / "home"
    home.mkdir(parents=True)
    env = _env(home) | ({"PYTHONPATH": src} if src else {})
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
            with httpx.Client(base_url=url, timeout=120) as http:
                login = http.post("/api/v1/login", json={"name": "root", "password": PASSWORD})
                login.raise_for_status()
                user = {"Authorization": f"Bearer {login.json()['token']}"}
                for group in (GROUP, IDLE_GROUP):
                    http.post("/api/v1/groups", json={"name": group}, headers=user)
                system = Shipyard(url, db, folder, server, _postmaster(cluster.folder), http, user,
                                  name=name)  # fmt: skip
                system.start_workers(env, concurrency)
                try:
                    yield system
                finally:
                    for worker in system.workers:
                        _stop(worker)
        finally:
            _stop(server)


# --- Celery --------------------------------------------------------------------------------------


@dataclass
class Celery:
    name: str
    task: Any
    redis: subprocess.Popen[str]
    workers: list[subprocess.Popen[str]]

    def pids(self) -> list[int]:
        return [self.redis.pid, *(w.pid for w in self.workers)]

    def end_to_end(self, count: int) -> dict[str, float]:
        from celery import group

        started = time.time()
        results = group(self.task.s() for _ in range(count)).apply_async()
        submitted = time.time()
        results.get(timeout=600)
        ended = time.time()
        results.forget()
        return {"seconds": ended - started, "submit_seconds": submitted - started}

    def round_trips(self, count: int) -> list[float]:
        times = []
        for _ in range(count):
            started = time.perf_counter()
            result = self.task.delay()
            result.get(timeout=60)
            times.append(time.perf_counter() - started)
            result.forget()
        return times


def _wait_port(port: int, process: subprocess.Popen[str], what: str) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"{what} ended ({process.returncode}) before it listened")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port}")


@contextlib.contextmanager
def celery(folder: Path, concurrency: int = 1) -> Iterator[tuple[Celery, Celery]]:
    """Its redis-server and workers, as two systems: the no-op function and ``true``."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise SystemExit("bench/tasks.py needs redis-server (apt-get install redis-server)")
    port = _free_port()
    redis = subprocess.Popen(
        [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    workers: list[subprocess.Popen[str]] = []
    try:
        _wait_port(port, redis, "redis-server")
        broker = f"redis://127.0.0.1:{port}/0"
        (folder / "bench_celery.py").write_text(CELERY_APP)
        env = os.environ | {"BENCH_REDIS": broker, "PYTHONPATH": str(folder)}
        celery_command = str(Path(sys.executable).with_name("celery"))
        for number in range(WORKERS):
            log = (folder / f"celery{number}.log").open("w")
            workers.append(
                subprocess.Popen(
                    [
                        celery_command,
                        "-A",
                        "bench_celery",
                        "worker",
                        "--pool",
                        "prefork",
                        "--concurrency",
                        str(concurrency),
                        "--hostname",
                        f"bench{number}@%h",
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                        "--loglevel",
                        "WARNING",
                    ],
                    env=env,
                    cwd=folder,
                    stdout=log,
                    stderr=log,
                    text=True,
                    start_new_session=True,
                )
            )
        os.environ["BENCH_REDIS"] = broker
        sys.path.insert(0, str(folder))
        import bench_celery  # type: ignore[import-not-found]

        _ready(bench_celery.noop)
        yield (
            Celery("celery", bench_celery.noop, redis, workers),
            Celery("celery (true)", bench_celery.run_true, redis, workers),
        )
    finally:
        import gc

        # Results in reference cycles let go of their Redis subscriptions while Redis runs
        # (collected after its stop, each printed a reconnection error at exit).
        gc.collect()
        for worker in workers:
            _stop(worker)
        _stop(redis)


def _ready(task: Any) -> None:
    """Both workers up: a few tasks answered (a worker not yet started takes none)."""
    task.delay().get(timeout=120)
    for _ in range(WORKERS * 4):
        task.delay().get(timeout=120)


# --- the rounds ----------------------------------------------------------------------------------


def _measured(system: Any, work: Callable[[], Any], figures: dict[str, list[Any]], key: str) -> Any:
    parts = system.parts() if hasattr(system, "parts") else {}
    before = _tree_cpu(system.pids())
    split = {name: _tree_cpu(pids) for name, pids in parts.items()}
    result = work()
    figures.setdefault(f"{key} cpu s", []).append(_tree_cpu(system.pids()) - before)
    for name, pids in parts.items():
        figures.setdefault(f"{key} cpu s: {name}", []).append(_tree_cpu(pids) - split[name])
    return result


def run_rounds(systems: list[Any], args: argparse.Namespace) -> dict[str, dict[str, list[Any]]]:
    figures: dict[str, dict[str, list[Any]]] = {system.name: {} for system in systems}
    for number in range(args.rounds):
        for system in systems:
            mine = figures[system.name]
            done = _measured(system, lambda s=system: s.end_to_end(args.tasks), mine, "e2e")
            mine.setdefault("e2e tasks/s", []).append(args.tasks / done["seconds"])
            mine.setdefault("submit tasks/s", []).append(args.tasks / done["submit_seconds"])
        for system in systems:
            mine = figures[system.name]
            trips = _measured(system, lambda s=system: s.round_trips(args.trips), mine, "trip")
            mine.setdefault("trip p50 ms", []).append(1000 * statistics.median(trips))
            mine.setdefault("trip p95 ms", []).append(1000 * _percentile(trips, 0.95))
        for system in systems:
            if isinstance(system, Shipyard):
                mine = figures[system.name]
                times = system.fetches(args.fetches)
                mine.setdefault("fetch p50 ms", []).append(1000 * statistics.median(times))
                mine.setdefault("fetch p95 ms", []).append(1000 * _percentile(times, 0.95))
                now, peak = _rss_mb(system.server.pid)
                mine.setdefault("server RSS MB", []).append(now)
                mine.setdefault("server peak RSS MB", []).append(peak)
            else:
                largest = max(_rss_mb(pid)[1] for w in system.workers for pid in _family(w.pid))
                figures[system.name].setdefault("worker peak RSS MB", []).append(largest)
        print(f"round {number + 1}/{args.rounds} done (load {os.getloadavg()[0]:.2f})",
              file=sys.stderr, flush=True)  # fmt: skip
    return figures


def _table(figures: dict[str, dict[str, list[Any]]]) -> str:
    keys = sorted({key for mine in figures.values() for key in mine})
    lines = ["| figure | " + " | ".join(f"{name} min / median / max" for name in figures) + " |"]
    lines.append("|---" * (len(figures) + 1) + "|")
    for key in keys:
        cells = []
        for mine in figures.values():
            values = mine.get(key)
            cells.append(
                f"{min(values):.3g} / {statistics.median(values):.3g} / {max(values):.3g}"
                if values
                else "—"
            )
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ratios(figures: dict[str, dict[str, list[Any]]]) -> str:
    """The first system's median over each other's, per figure both have."""
    first = next(iter(figures))
    ours = figures[first]
    lines: list[str] = []
    for name, theirs in figures.items():
        if name == first:
            continue
        for key in sorted(set(ours) & set(theirs)):
            ratio = statistics.median(ours[key]) / statistics.median(theirs[key])
            lines.append(f"{first} ÷ {name}, {key}: {ratio:.2f}×")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--trips", type=int, default=200)
    parser.add_argument("--fetches", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, 1 round")
    parser.add_argument("--json", type=Path, help="write the figures there too")
    parser.add_argument("--only-shipyard", action="store_true", help="no Celery (profiling)")
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="LABEL=SRC",
        help="Shipyard from another tree's src/ (git archive it), as 'shipyard LABEL'; "
        "several for a before/after in the same rounds (the working tree's is then left out); "
        "LABEL=SRC@N: its workers at concurrency N (default --concurrency)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="tasks each worker runs at once, Shipyard's and Celery's alike (default 1)",
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.tasks, args.trips, args.fetches = 1, 200, 20, 50
    folder = Path(tempfile.mkdtemp(prefix="shipyard-bench-tasks-"))
    report: dict[str, Any] = {"load_before": os.getloadavg()}
    try:
        with contextlib.ExitStack() as running:
            trees = [_tree(tree, args.concurrency) for tree in args.tree]
            systems: list[Any] = [
                running.enter_context(shipyard(folder / label, f"shipyard {label}", src, n))
                for label, src, n in trees
            ] or [
                running.enter_context(shipyard(folder / "shipyard", concurrency=args.concurrency))
            ]
            if not args.only_shipyard:
                made = _made(folder / "celery")
                systems += running.enter_context(celery(made, args.concurrency))
            figures = run_rounds(systems, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report |= {"load_after": os.getloadavg(), "figures": figures, "args": vars(args)}
    print(f"{args.tasks} tasks, {args.trips} round trips, {args.fetches} fetches, "
          f"{args.rounds} round(s); load {report['load_before'][0]:.2f} → "
          f"{report['load_after'][0]:.2f}")  # fmt: skip
    print(_table(figures))
    print(_ratios(figures))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


def _tree(given: str, concurrency: int) -> tuple[str, str, int]:
    """``LABEL=SRC`` or ``LABEL=SRC@N``: the label, the src folder, its workers' concurrency."""
    label, src = given.split("=", 1)
    src, at, n = src.partition("@")
    return label, src, int(n) if at else concurrency


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder


if __name__ == "__main__":
    main()
