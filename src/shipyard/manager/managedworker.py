"""A managed worker: ``python -m shipyard.manager.managedworker``, a child of its node manager
(never seen by the coordinator). It binds itself to its CPUs, then asks its manager for tasks
over the manager's Unix socket (ipc.py) and runs each as a real subprocess in its own process
group, with its timeout (SIGTERM, a grace, SIGKILL), its output to
``{suite folder}/logs/{uuid}.{attempt}.log``, and reports the exit status with the output's tail.

A manager that goes away (its socket closes) is noticed within half a second even mid-task: the
task's group is killed and the worker leaves, so no task outlives its manager here. A SIGTERM
does the same (and the worker ends by that signal, which its manager never counts as a crash).
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import subprocess
import sys
import time
from io import BufferedIOBase
from pathlib import Path
from typing import Any

from shipyard.coordinator import taskprocess
from shipyard.manager import ipc

#: How often a running task's worker looks at its manager's socket (seconds).
LOOK_EVERY = 0.5

_running: subprocess.Popen[bytes] | None = None


def _on_sigterm(_signal: int, _frame: object) -> None:
    if _running is not None:
        taskprocess.kill_group(_running, signal.SIGKILL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _manager_gone(connection: socket.socket) -> bool:
    """The manager never writes unasked: a readable socket is a closed one."""
    readable, _, _ = select.select([connection], [], [], 0)
    return bool(readable)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """The manager went away: the task's whole group goes with it."""
    taskprocess.kill_group(process, signal.SIGKILL)
    process.wait()


def _run(task: dict[str, Any], folder: Path, suite: str, index: int,
         connection: socket.socket, stream: BufferedIOBase) -> int | None:  # fmt: skip
    """Run the task; its exit status (None: the manager went away, the task was killed)."""
    global _running
    uuid = str(task["uuid"])
    workdir = folder / task["local_path"] if task.get("local_path") else folder
    workdir.mkdir(parents=True, exist_ok=True)
    log = folder / "logs" / f"{uuid}.{task['attempt']}.log"
    env = {**os.environ, **task.get("env", {}), "SHIPYARD_TASK": uuid,
           "SHIPYARD_SUITE_UUID": suite, "SHIPYARD_WORKER_INDEX": str(index)}  # fmt: skip
    process = taskprocess.start(list(task["command"]), workdir, env, log, who="managed worker")
    if process is None:
        return taskprocess.NOT_STARTED
    _running = process
    timeout = task.get("timeout")
    deadline = time.monotonic() + float(timeout) if timeout else None
    try:
        try:
            ipc.send(stream, {"op": "started", "worker": index, "uuid": uuid, "pid": process.pid})
            ipc.receive(stream)  # None (closed): noticed below within LOOK_EVERY
        except OSError:
            # A manager that died before reading "started" resets the socket: this read
            # raises. The task must not outlive it (it ran on, orphaned, before).
            _kill(process)
            return None
        while True:
            left = LOOK_EVERY if deadline is None else min(LOOK_EVERY, deadline - time.monotonic())
            try:
                return taskprocess.exit_status(process.wait(timeout=max(0.0, left)))
            except subprocess.TimeoutExpired:
                pass
            if _manager_gone(connection):
                _kill(process)
                return None
            if deadline is not None and time.monotonic() >= deadline:
                taskprocess.end(process)
                return taskprocess.TIMED_OUT
    finally:
        _running = None


def serve(socket_path: Path, index: int, suite: str, folder: Path) -> int:
    """Ask for tasks and run them until told to stop (0) or the manager goes away (0)."""
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    connection = ipc.connect(socket_path)
    stream = connection.makefile("rwb")
    asked: float | None = None  # when this task was first asked for
    while True:
        if asked is None:
            asked = time.perf_counter()
        try:
            ipc.send(stream, {"op": "fetch", "worker": index})
            answer = ipc.receive(stream)
        except OSError:
            return 0
        if answer is None or answer["op"] == "stop":
            return 0
        if answer["op"] != "task":
            continue  # wait: the manager held the question a while already; ask again
        waited, asked = time.perf_counter() - asked, None
        task = answer["task"]
        status = _run(task, folder, suite, index, connection, stream)
        if status is None:
            return 0
        log = folder / "logs" / f"{task['uuid']}.{task['attempt']}.log"
        try:
            ipc.send(stream, {"op": "result", "worker": index, "uuid": task["uuid"],
                              "attempt": task["attempt"], "exit_status": status,
                              "output": taskprocess.tail(log), "waited": waited})  # fmt: skip
            if ipc.receive(stream) is None:
                return 0
        except OSError:
            return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shipyard.manager.managedworker")
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--suite", required=True)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--cpus", default="", help="CPU numbers to bind to: 0,1 (none: unbound)")
    given = parser.parse_args(argv)
    if given.cpus:
        # Bound here, in the child, before any task starts: tasks inherit it.
        os.sched_setaffinity(0, {int(cpu) for cpu in given.cpus.split(",")})
    signal.signal(signal.SIGTERM, _on_sigterm)
    return serve(given.socket, given.worker, given.suite, given.folder)


if __name__ == "__main__":
    sys.exit(main())
