"""``make suites-demo``: a task suite on two node managers on this machine, then nothing left.

A throwaway PostgreSQL, ``shipyard serve --db`` with a short idle-close (a suite closes 5 s
after its last new task), two ``shipyard manager`` processes, the suite of
examples/suites/demo-suite.yaml (200 small tasks from a generator, an ``env_preparation`` and
an ``env_cleanup`` hook) — then the suite's state as it goes Open → Closed → Complete, how many
tasks each manager ran and that each hook ran once on each, and every process stopped (checked:
none left) and every folder removed, also on Ctrl-C, SIGTERM or a failure.

    .venv/bin/python scripts/suites_demo.py

It reuses scripts/cluster_demo.py's parts (stages, starting and stopping processes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster_demo import (
    Stage,
    _interrupts_as_keyboard,
    _stop,
    _wait_healthy,
    say,
    shipyard_command,
)
from shipyard.coordinator.client import CoordinatorClient
from shipyard.coordinator.throwaway import Cluster, throwaway_cluster
from shipyard.errors import ShipyardError

ADMIN = "demo"
GROUP = "demo"
MANAGERS = 2
SUITE_FILE = Path(__file__).resolve().parents[1] / "examples" / "suites" / "demo-suite.yaml"
#: The coordinator's settings: a suite closes 5 s after its last new task (180 s by default),
#: and the sweep that closes and completes suites looks twice a second.
SETTINGS = "[coordinator]\nsuite_idle_close = 5\nsuite_sweep = 0.5\n"
#: Without a change of the suite's counters for this long (seconds), the demo gives up.
STALL = 120.0
#: A manager asked to leave finishes its running tasks first (at most 30 s) and cleans up.
LEAVE_GRACE = 45.0
HOOKS = ("env_preparation", "env_cleanup")


@dataclass
class Started:
    name: str
    process: subprocess.Popen[str]
    out: Path
    log: Path


@dataclass
class Demo:
    home: Path
    stage: Stage = field(default_factory=lambda: Stage(total=7))
    started: list[Started] = field(default_factory=list)
    env: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")} | {
            "SHIPYARD_HOME": str(self.home), "NO_COLOR": "1"}  # fmt: skip

    # --- processes ---

    def shipyard(self, *args: str, env: dict[str, str] | None = None, show: bool = True) -> str:
        if show:
            say(f"      $ shipyard {' '.join(args)}")
        done = subprocess.run([shipyard_command(), *args], env=env or self.env,
                              capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            raise ShipyardError(f"shipyard {' '.join(args[:2])} failed (exit {done.returncode}): "
                                f"{done.stderr.strip() or done.stdout.strip()}")  # fmt: skip
        return done.stdout

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Started:
        """A long-running ``shipyard`` process in a session of its own, stdout and stderr
        in files of the demo's home."""
        out, log = self.home / f"{name}.out", self.home / f"{name}.log"
        with out.open("w") as stdout, log.open("w") as stderr:
            process = subprocess.Popen(
                [shipyard_command(), *args], env=env, stdout=stdout, stderr=stderr, text=True,
                start_new_session=True,
            )  # fmt: skip
        started = Started(name, process, out, log)
        self.started.append(started)
        return started

    def check_alive(self) -> None:
        for one in self.started:
            if one.process.poll() is not None:
                raise ShipyardError(
                    f"the {one.name} exited (status {one.process.returncode}) before the end: "
                    f"{one.log.read_text()[-600:].strip()}"
                )

    def stop_all(self) -> None:
        """The managers first (each cleans up and leaves), then the server."""
        managers = [s for s in self.started if s.name.startswith("manager")]
        for one in managers:
            if one.process.poll() is None:
                one.process.send_signal(signal.SIGTERM)
        for one in managers:
            say(f"      {one.name}: {_stop(one.process, LEAVE_GRACE)}")
        for one in self.started:
            if one not in managers:
                say(f"      {one.name}: {_stop(one.process, 10.0)}")

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
        with CoordinatorClient(url) as anonymous:
            token = anonymous.login(ADMIN, password)
        with CoordinatorClient(url, token) as client:
            self.managers(url, client)
            uuid = self.create(url, token)
            self.follow(client, uuid)
            self.summary(client, uuid)

    def serve(self, db: str) -> str:
        self.stage.begin("the coordinator: shipyard serve --db … (suite_idle_close = 5 s)")
        settings = self.home / "settings.toml"
        settings.write_text(SETTINGS)
        say(f"      settings: {SETTINGS.strip().replace(chr(10), '; ')}")
        server = self.start("server", ["serve", "--port", "0", "--home", str(self.home), "--db",
                                       db, "--config", str(settings)], self.env)  # fmt: skip
        url = _until_said(server, r"http://127\.0\.0\.1:\d+", self.check_alive)
        _wait_healthy(url, self.check_alive)
        self.stage.done(f"serving at {url}")
        return url

    def managers(self, url: str, client: CoordinatorClient) -> None:
        self.stage.begin(f"group {GROUP!r} and {MANAGERS} node managers (tags cpu)")
        client.create_group(GROUP)
        for number in range(1, MANAGERS + 1):
            issued = client.call("POST", f"/groups/{GROUP}/managers")
            folder = self.home / f"manager-{number}"
            say(f"      $ shipyard manager --server {url} --group {GROUP} --tags cpu "
                f"--folder {folder} --json")  # fmt: skip
            self.start(f"manager-{number}", ["manager", "--server", url, "--group", GROUP,
                                             "--tags", "cpu", "--folder", str(folder), "--json"],
                       self.env | {"SHIPYARD_MANAGER_TOKEN": issued["token"]})  # fmt: skip
        for one in self.started[1:]:
            _until_said(one, r'"event": "registered"', self.check_alive)
        self.stage.done(f"{MANAGERS} registered, idle")

    def create(self, url: str, token: str) -> str:
        self.stage.begin(f"the suite: {SUITE_FILE.relative_to(SUITE_FILE.parents[2])}")
        env = self.env | {"SHIPYARD_SERVER": url, "SHIPYARD_TOKEN": token}
        made = json.loads(self.shipyard("suite", "create", str(SUITE_FILE), "--json", env=env))
        if made.get("refused"):
            raise ShipyardError(f"the coordinator refused tasks: {made['refused'][:3]}")
        self.stage.done(f"suite {made['uuid']} created with {len(made['accepted'])} tasks")
        return str(made["uuid"])

    def follow(self, client: CoordinatorClient, uuid: str) -> None:
        """The suite's state and counters at each change of state (and every 2 s)."""
        self.stage.begin("the suite runs: its state as the coordinator says it")
        began = last_change = shown = time.monotonic()
        states: list[str] = []
        seen: tuple[Any, ...] = ()
        while True:
            self.check_alive()
            suite = client.call("GET", f"/suites/{uuid}")
            state, counters = suite["state"], suite["counters"]
            now = time.monotonic()
            figures = tuple(counters.values())
            if figures != seen or not states or state != states[-1]:
                seen, last_change = figures, now
            new_state = not states or state != states[-1]
            if new_state or now - shown >= 2.0:
                shown = now
                say(f"      {now - began:5.1f} s  {state:<9} {counters['done']} done, "
                    f"{counters['failed']} failed, {counters['running']} running, "
                    f"{counters['pending']} queued (of {counters['total']})")  # fmt: skip
            if new_state:
                states.append(state)
            if state == "complete":
                break
            if state == "cancelled":
                raise ShipyardError(f"the suite was cancelled: {suite}")
            if now - last_change > STALL:
                raise ShipyardError(f"the suite did not change in {STALL:.0f} s: {counters}",
                                    hint=f"the managers' logs are in {self.home}")  # fmt: skip
            time.sleep(0.2)
        self.stage.done(f"states seen: {' → '.join(states)}")
        if "closed" not in states:
            raise ShipyardError(f"the suite never showed closed: {states}")

    def summary(self, client: CoordinatorClient, uuid: str) -> None:
        self.stage.begin("what each manager did (its --json progress)")
        # A manager reports its suite_done just after the coordinator saw the suite drained.
        deadline = time.monotonic() + 30
        while not all(_events(m, "idle") for m in self.started[1:] if _events(m, "suite_taken")):
            if time.monotonic() > deadline:
                raise ShipyardError("a manager did not finish its suite in 30 s")
            time.sleep(0.2)
        total = 0
        for manager in self.started[1:]:
            if not _events(manager, "suite_taken"):
                say(f"      {manager.name}: never took the suite (the other one drained it)")
                continue
            done = _events(manager, "suite_done")
            ran = {hook: [e for e in _events(manager, "hook_ran") if e["hook"] == hook]
                   for hook in HOOKS}  # fmt: skip
            if len(done) != 1 or any(len(runs) != 1 or not runs[0]["ok"] for runs in ran.values()):
                raise ShipyardError(f"{manager.name}: hooks {ran}, suite_done {done}",
                                    hint=f"its log: {manager.log}")  # fmt: skip
            total += done[0]["completed"]
            hooks = ", ".join(f"{hook} once ({runs[0]['seconds']:.2f} s)"
                              for hook, runs in ran.items())  # fmt: skip
            say(f"      {manager.name}: ran {done[0]['completed']} tasks "
                f"({done[0]['failed']} failed); {hooks}")  # fmt: skip
        counters = client.call("GET", f"/suites/{uuid}")["counters"]
        if total != counters["total"] or counters["done"] != counters["total"]:
            raise ShipyardError(f"the managers ran {total} tasks; the suite says {counters}")
        self.stage.done(f"{total} tasks, each run once, all succeeded")


def _events(started: Started, kind: str) -> list[dict[str, Any]]:
    """A manager's --json progress events of one kind."""
    lines = started.out.read_text().splitlines() if started.out.exists() else []
    found = [json.loads(line) for line in lines if line.startswith("{")]
    return [event for event in found if event.get("event") == kind]


def _until_said(started: Started, pattern: str, check_alive: Any, timeout: float = 60.0) -> str:
    """The first match of ``pattern`` in a process's stdout, once it says it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, started.out.read_text())
        if found is not None:
            return found.group(0)
        check_alive()
        time.sleep(0.05)
    raise ShipyardError(f"the {started.name} did not say {pattern!r} in {timeout:.0f} s")


def _left_behind(folders: list[Path]) -> list[str]:
    """Processes whose command line or working folder is under one of ``folders`` (the
    server's --home, a manager's --folder, its managed workers and tasks, PostgreSQL's -D)."""
    names = [str(folder) for folder in folders]
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            where = ""
            with contextlib.suppress(OSError):
                where = str((entry / "cwd").readlink())
            if any(name in command or where.startswith(name) for name in names):
                left.append(f"{entry.name}: {command.strip()[:120]}")
    return left


def _cleanup(demo: Demo) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    say("[stop] the managers (each leaves once idle), the server, PostgreSQL")
    demo.stop_all()


def demo() -> None:
    home = Path(tempfile.mkdtemp(prefix="shipyard-suites-demo-"))
    say(f"shipyard suites demo: one suite, {MANAGERS} node managers; everything under {home} "
        "and a PostgreSQL folder in the system's temporary folder, removed at the end")  # fmt: skip
    running = Demo(home)
    pg_folder: Path | None = None
    try:
        running.stage.begin("PostgreSQL: initdb + pg_ctl start (throwaway)")
        with throwaway_cluster(prefix="shipyard-suites-demo-pg-") as cluster:
            pg_folder = Path(cluster.folder)
            try:
                running.run(cluster)
            finally:
                _cleanup(running)
        left = _left_behind([home, *([pg_folder] if pg_folder else [])])
        if left:
            raise ShipyardError(f"{len(left)} process(es) left behind: {left}")
        say(f"[stop] PostgreSQL stopped; no process left (none in /proc names {home.name} "
            "or PostgreSQL's folder); folders removed")  # fmt: skip
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    began = time.monotonic()
    try:
        with _interrupts_as_keyboard():
            demo()
    except KeyboardInterrupt:
        say("interrupted: everything started was stopped and removed")
        return 130
    except ShipyardError as error:
        sys.stderr.write(f"suites demo failed: {error.render()}\n")
        sys.stderr.write("everything started was stopped and removed\n")
        return 1
    say(f"suites demo: done in {time.monotonic() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
