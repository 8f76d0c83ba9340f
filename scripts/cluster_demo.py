"""``make cluster-demo``: the coordinator end to end on this machine, then nothing left.

A throwaway PostgreSQL (initdb + pg_ctl, 127.0.0.1, a free port), ``shipyard db upgrade``,
``shipyard admin create-user``, ``shipyard serve --db`` on a free 127.0.0.1 port, two
``shipyard worker`` processes, N small tasks (1,000 by default) submitted with ``shipyard
tasks submit``, their progress, a summary of their results — then every process stopped and
every folder removed, also on Ctrl-C, SIGTERM or a failure.

    .venv/bin/python scripts/cluster_demo.py [--tasks 1000] [--workers 2]

Each process runs in a session of its own, so a Ctrl-C reaches only this script, which stops
them in order (workers, then the server, then PostgreSQL); a second Ctrl-C during that is
ignored.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from shipyard.coordinator.client import STATES, CoordinatorClient
from shipyard.coordinator.throwaway import Cluster, throwaway_cluster
from shipyard.errors import ShipyardError

ADMIN = "demo"
GROUP = "demo"
#: Without progress for this long (seconds), the demo gives up and says where to look.
STALL = 120.0
#: A worker asked to leave finishes its task first; past this (seconds) it is killed.
LEAVE_GRACE = 30.0
#: The states a task ends in.
ENDED = ("succeeded", "failed", "cancelled")
#: The task each of the N runs: argv, no shell of ours; N reaches it in the environment.
TASK = ["sh", "-c", 'echo "task $N: $N squared is $((N * N))"']


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def shipyard_command() -> str:
    beside = Path(sys.executable).with_name("shipyard")
    return str(beside) if beside.exists() else (shutil.which("shipyard") or "shipyard")


@dataclass
class Stage:
    """Numbered stages, each said before it starts and timed when it ends."""

    total: int
    number: int = 0
    started: float = 0.0

    def begin(self, text: str) -> None:
        self.number += 1
        self.started = time.monotonic()
        say(f"[{self.number}/{self.total}] {text}")

    def done(self, text: str = "done") -> None:
        say(f"      {text} ({time.monotonic() - self.started:.1f} s)")


@dataclass
class Demo:
    tasks: int
    workers: int
    home: Path
    stage: Stage = field(default_factory=lambda: Stage(total=7))
    env: dict[str, str] = field(default_factory=dict)
    processes: list[tuple[str, subprocess.Popen[str], Path]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
        self.env |= {"SHIPYARD_HOME": str(self.home), "NO_COLOR": "1"}

    # --- the parts ---

    def shipyard(self, *args: str, env: dict[str, str] | None = None) -> str:
        """One ``shipyard`` command to its end: its output, or an error with what it said."""
        say(f"      $ shipyard {shlex.join(args)}")
        done = subprocess.run([shipyard_command(), *args], env=env or self.env,
                              capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            raise ShipyardError(
                f"shipyard {args[0]} {args[1] if len(args) > 1 else ''} failed "
                f"(exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
            )
        return done.stdout

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        """A long-running ``shipyard`` process in its own session, its stderr in a log."""
        log = self.home / f"{name}.log"
        with log.open("w") as errors:
            process = subprocess.Popen(
                [shipyard_command(), *args], env=env, stdout=subprocess.PIPE, stderr=errors,
                text=True, start_new_session=True,
            )  # fmt: skip
        self.processes.append((name, process, log))
        return process

    def check_alive(self) -> None:
        for name, process, log in self.processes:
            if process.poll() is not None:
                raise ShipyardError(
                    f"the {name} exited (status {process.returncode}) before the end: "
                    f"{log.read_text()[-600:].strip()}"
                )

    def stop_all(self) -> None:
        """Workers first, all asked at once (each finishes its task and leaves: up to a
        fetch's wait), then the server once no worker is left to report to it."""
        workers = [(n, p) for n, p, _ in self.processes if n.startswith("worker")]
        for _, process in workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in workers:
            stopped = _stop(process, LEAVE_GRACE)
            ran = re.search(r"ran (\d+) task", _rest(process))
            say(f"      {name}: {f'ran {ran.group(1)} tasks, ' if ran else ''}{stopped}")
        for name, process, _ in self.processes:
            if not name.startswith("worker"):
                say(f"      {name}: {_stop(process, 10.0)}")

    # --- the stages ---

    def run(self, cluster: Cluster) -> None:
        db = cluster.url("shipyard_demo")
        cluster.psql("CREATE DATABASE shipyard_demo")
        self.stage.done(f"PostgreSQL on 127.0.0.1:{cluster.port}, data in {cluster.data}")
        self.stage.begin("the coordinator's tables and its first user")
        self.shipyard("db", "upgrade", "--db", db)
        password = secrets.token_urlsafe(16)
        self.shipyard("admin", "create-user", ADMIN, "--admin", "--db", db,
                      env=self.env | {"SHIPYARD_PASSWORD": password})  # fmt: skip
        self.stage.done()
        url = self.serve(db)
        token = self.group_and_workers(url, password)
        uuids = self.submit(url, token)
        with CoordinatorClient(url, token) as client:
            elapsed = self.follow(client, len(uuids))
            self.summary(client, uuids, elapsed)

    def serve(self, db: str) -> str:
        self.stage.begin("the coordinator: shipyard serve --db … on a free port of 127.0.0.1")
        server = self.start(
            "server", ["serve", "--port", "0", "--home", str(self.home), "--db", db], self.env
        )
        assert server.stdout is not None
        first = server.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", first)
        if found is None:
            self.check_alive()
            raise ShipyardError(f"shipyard serve said no address: {first!r}")
        # Its later output, if any, must not fill the pipe and stall it.
        threading.Thread(target=server.stdout.read, daemon=True).start()
        url = found.group(0)
        _wait_healthy(url, self.check_alive)
        self.stage.done(f"serving at {url}, log in {self.home / 'server.log'}")
        return url

    def group_and_workers(self, url: str, password: str) -> str:
        self.stage.begin(f"group {GROUP!r}, {self.workers} worker token(s), {self.workers} workers")
        with CoordinatorClient(url) as anonymous:
            token = anonymous.login(ADMIN, password)
        with CoordinatorClient(url, token) as client:
            client.create_group(GROUP)
            for number in range(1, self.workers + 1):
                env = self.env | {"SHIPYARD_WORKER_TOKEN": client.worker_token(GROUP)}
                folder = self.home / f"worker-{number}"
                say(f"      $ shipyard worker --server {url} --group {GROUP} --folder {folder}")
                self.start(f"worker {number}", ["worker", "--server", url, "--group", GROUP,
                                                "--folder", str(folder)], env)  # fmt: skip
        self.stage.done()
        return token

    def submit(self, url: str, token: str) -> list[str]:
        self.stage.begin(f"{self.tasks} tasks submitted in one batch")
        env = self.env | {"SHIPYARD_SERVER": url, "SHIPYARD_TOKEN": token}
        out = self.shipyard("tasks", "submit", "--group", GROUP, "--count", str(self.tasks),
                            "--index-env", "N", "--json", "--", *TASK, env=env)  # fmt: skip
        answer = json.loads(out)
        if answer["refused"]:
            raise ShipyardError(f"the coordinator refused tasks: {answer['refused'][:3]}")
        uuids = [str(a["uuid"]) for a in answer["accepted"]]
        self.stage.done(f"{len(uuids)} queued; each runs {shlex.join(TASK)} with N=its index")
        return uuids

    def follow(self, client: CoordinatorClient, total: int) -> float:
        """Progress until every task ended; the time it took from the submit (seconds)."""
        self.stage.begin(f"{self.workers} workers run them")
        began = last_change = time.monotonic()
        shown = 0.0
        ended = -1
        # On a terminal one line redrawn at each change; elsewhere (a log, make's output) a
        # line every 2 s at most.
        every = 0.0 if sys.stdout.isatty() else 2.0
        while ended < total:
            self.check_alive()
            counts = _snapshot(client, total)
            now = time.monotonic()
            if sum(counts[state] for state in ENDED) != ended:
                ended = sum(counts[state] for state in ENDED)
                last_change = now
                if now - shown >= every or ended == total:
                    shown = now
                    _progress(counts, total, now - began)
            elif now - last_change > STALL:
                raise ShipyardError(
                    f"no task ended in {STALL:.0f} s ({counts})",
                    hint=f"the workers' logs are in {self.home}",
                )
            time.sleep(0.25)
        elapsed = time.monotonic() - began
        _end_line()
        self.stage.done(f"all {total} ended")
        return elapsed

    def summary(self, client: CoordinatorClient, uuids: list[str], elapsed: float) -> None:
        self.stage.begin("results")
        counts = client.counts(GROUP)
        say("      by state: " + ", ".join(f"{counts[s]} {s}" for s in STATES if counts[s]))
        say(f"      throughput: {len(uuids)} tasks in {elapsed:.1f} s = "
            f"{len(uuids) / elapsed:.0f} tasks/s through {self.workers} workers "
            "(measured: submitted → all ended, polled every 0.25 s)")  # fmt: skip
        picks = sorted({0, len(uuids) // 2, len(uuids) - 1})
        for index in picks:
            result = client.result(uuids[index])
            output = (result["output_tail"] or "").strip()
            worker = result["attempts"][-1]["worker_id"][:8] if result["attempts"] else "-"
            say(f"      {uuids[index][:8]}  {result['state']}, exit {result['exit_status']}, "
                f"worker {worker}: {output}")  # fmt: skip
        self.stage.done()


def _snapshot(client: CoordinatorClient, total: int) -> dict[str, int]:
    """Tasks by state. One count per state, so not one instant: the ended ones are counted
    first, then the running ones, and queued is what is left — so the figures add up to
    ``total`` (counting queued too would count a task that moved meanwhile twice)."""
    counts = {state: client.count(GROUP, [state]) for state in (*ENDED, "running")}
    counts["queued"] = max(0, total - sum(counts.values()))
    return counts


def _progress(counts: dict[str, int], total: int, seconds: float) -> None:
    ended = sum(counts[state] for state in ENDED)
    width = 30
    bar = "#" * (width * ended // max(total, 1))
    line = (f"      [{bar:<{width}}] {ended}/{total} ended ({counts['succeeded']} succeeded, "
            f"{counts['failed']} failed), {counts['running']} running, {counts['queued']} "
            f"queued, {seconds:.1f} s")  # fmt: skip
    if sys.stdout.isatty():
        sys.stdout.write("\r" + line)
        sys.stdout.flush()
        _redrawn.add("progress")
    else:
        say(line)


#: Holds "progress" while a line redrawn in place (no newline yet) is on the terminal.
_redrawn: set[str] = set()


def _end_line() -> None:
    """End a progress line being redrawn, so the next text starts on a line of its own."""
    if _redrawn:
        _redrawn.clear()
        say("")


def _wait_healthy(url: str, check_alive: Callable[[], None], timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_alive()
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return
        time.sleep(0.05)
    raise ShipyardError(f"the server at {url} did not answer /health in {timeout:.0f} s")


def _stop(process: subprocess.Popen[str], grace: float) -> str:
    """SIGTERM, then SIGKILL to its whole process group after ``grace`` seconds."""
    if process.poll() is not None:
        return "stopped" if process.returncode == 0 else f"had exited ({process.returncode})"
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
        return "stopped"
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return f"killed after {grace:.0f} s"


def _rest(process: subprocess.Popen[str]) -> str:
    """What the process wrote to stdout that nobody read (a worker's "ran N task(s)")."""
    if process.stdout is None or process.stdout.closed:
        return ""
    with contextlib.suppress(ValueError, OSError):
        text = process.stdout.read()
        process.stdout.close()
        return text
    return ""


@contextlib.contextmanager
def _interrupts_as_keyboard() -> Iterator[None]:
    """SIGTERM as a Ctrl-C, so the same cleanup runs; the old handler restored after."""

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cleanup(demo: Demo | None, home: Path) -> None:
    """Stop and remove everything; a Ctrl-C now would leave a half-stopped cluster: ignored."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    _end_line()
    say("[stop] workers (one waiting for work leaves within 5 s), the server, PostgreSQL")
    if demo is not None:
        demo.stop_all()
    shutil.rmtree(home, ignore_errors=True)


def demo(tasks: int, workers: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="shipyard-demo-"))
    running: Demo | None = None
    say(f"shipyard cluster demo: {tasks} tasks, {workers} workers; everything under {home} "
        "and a PostgreSQL folder in the system's temporary folder, removed at the end")  # fmt: skip
    try:
        running = Demo(tasks, workers, home)
        running.stage.begin("PostgreSQL: initdb + pg_ctl start (throwaway)")
        with throwaway_cluster(prefix="shipyard-demo-pg-") as cluster:
            try:
                running.run(cluster)
            finally:
                _cleanup(running, home)
        say(f"[stop] PostgreSQL stopped; {cluster.folder} and {home} removed")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000, help="how many tasks (default 1000)")
    parser.add_argument("--workers", type=int, default=2, help="how many workers (default 2)")
    args = parser.parse_args(argv)
    if not 1 <= args.tasks <= 100_000 or not 1 <= args.workers <= 16:
        parser.error("--tasks takes 1 to 100000, --workers 1 to 16")
    started = time.monotonic()
    try:
        with _interrupts_as_keyboard():
            demo(args.tasks, args.workers)
    except KeyboardInterrupt:
        say("interrupted: everything started was stopped and removed")
        return 130
    except ShipyardError as error:
        sys.stderr.write(f"cluster demo failed: {error.render()}\n")
        sys.stderr.write("everything started was stopped and removed\n")
        return 1
    say(f"cluster demo: done in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
