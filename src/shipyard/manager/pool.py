"""A suite's managed workers on one manager: their processes (each bound to its CPUs), the
Unix socket they ask on, the prefetch buffer they are served from, the task each one runs, and
the results waiting to be reported. Threads: one accepting on the socket, one per worker's
connection, one watching the processes (a worker's end is seen within ``WATCH_EVERY``).

What a worker's end means (a crash: release its task, count it, respawn it or give the suite
up) is the suite's to decide (:mod:`shipyard.manager.suiterun`, through ``on_end``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.coordinator.managerprotocol import MAX_BATCH, ClaimedTask, TaskReport
from shipyard.manager import ipc

#: How often the workers' processes are looked at (seconds): a crash is seen within this.
WATCH_EVERY = 0.2
#: How long a worker's fetch waits for a task before it is told to ask again (seconds).
FETCH_HOLD = 1.0
#: How long stopped workers have to leave before they are killed (seconds).
STOP_GRACE = 5.0


@dataclass
class Running:
    task: ClaimedTask
    pid: int | None = None
    #: Killed by the manager (a cancel, a lost lease, a give-up): its result is not reported.
    killed: bool = False


def _kill_group(pid: int | None) -> None:
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


@dataclass
class Pool:
    suite: str
    folder: Path  # the suite's folder: tasks run and log there
    socket_path: Path
    plan: list[frozenset[int] | None]
    #: (worker, returncode, the task it held or None) for each worker that ended unasked.
    on_end: Callable[[int, int, ClaimedTask | None], None]
    #: Called when there is something for the suite's loop to do (a result, a buffer drop).
    on_change: Callable[[], None]
    buffer: deque[ClaimedTask] = field(default_factory=deque)
    running: dict[int, Running] = field(default_factory=dict)
    results: list[TaskReport] = field(default_factory=list)
    #: Each task's wait, as its worker timed it: asked for a task → got one (seconds; --stats).
    waits: list[float] = field(default_factory=list)
    reporting: set[str] = field(default_factory=set)
    #: Tasks of workers that ended, until their end is dealt with (released): still held, so
    #: the suite does not look drained in between.
    releasing: set[str] = field(default_factory=set)
    #: No more tasks will come: a fetch on an empty buffer is told to stop.
    closing: bool = False
    #: The workers are leaving: none is respawned.
    stopping: bool = False
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _server: socket.socket | None = None
    _threads: list[threading.Thread] = field(default_factory=list)

    # --- start, respawn, stop ---

    def start(self) -> None:
        self._server = ipc.listen(self.socket_path)
        for target in (self._accept, self._watch):
            thread = threading.Thread(target=target, daemon=True, name=f"pool-{target.__name__}")
            thread.start()
            self._threads.append(thread)
        for index in range(len(self.plan)):
            self.spawn(index)

    def spawn(self, index: int) -> None:
        cpus = self.plan[index]
        command = [sys.executable, "-m", "shipyard.manager.managedworker",
                   "--socket", str(self.socket_path), "--worker", str(index),
                   "--suite", self.suite, "--folder", str(self.folder),
                   "--cpus", ",".join(map(str, sorted(cpus))) if cpus else ""]  # fmt: skip
        log = self.folder / "logs" / f"worker-{index}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as output:
            # Its own session: a Ctrl-C at the manager's terminal is the manager's alone.
            process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        with self._cond:
            self.processes[index] = process

    def respawn_wanted(self) -> bool:
        with self._cond:
            return not self.stopping and not (self.closing and not self.buffer)

    def close(self) -> None:
        """Hand out no more tasks than the buffer holds now."""
        with self._cond:
            self.closing = True
            self._cond.notify_all()

    def stop(self, grace: float = STOP_GRACE) -> None:
        """The workers leave (those waiting are told to stop, the others when they next ask);
        any still there after ``grace`` is killed with its task's group."""
        with self._cond:
            self.closing = self.stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + grace
        for process in list(self.processes.values()):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
        self.kill_workers()
        if self._server is not None:
            self._server.close()
        self.socket_path.unlink(missing_ok=True)

    def kill_workers(self) -> None:
        """SIGKILL every worker and every task running (each its own process group)."""
        with self._cond:
            self.stopping = True
            pids = [running.pid for running in self.running.values()]
            processes = list(self.processes.values())
        for pid in pids:
            _kill_group(pid)
        for process in processes:
            _kill_group(process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)

    # --- what the suite's loop asks ---

    def add(self, tasks: list[ClaimedTask]) -> None:
        with self._cond:
            self.buffer.extend(tasks)
            self._cond.notify_all()

    @property
    def buffered(self) -> int:
        return len(self.buffer)

    @property
    def busy(self) -> int:
        with self._cond:
            return len(self.running)

    def holding(self) -> list[str]:
        """Every task this manager holds: buffered, running, or with a result not settled."""
        with self._cond:
            held = {task.uuid for task in self.buffer}
            held.update(running.task.uuid for running in self.running.values())
            held.update(report.uuid for report in self.results)
            held.update(self.reporting)
            held.update(self.releasing)
        return sorted(held)

    def take_results(self) -> list[TaskReport]:
        with self._cond:
            batch, self.results = self.results[:MAX_BATCH], self.results[MAX_BATCH:]
            self.reporting.update(report.uuid for report in batch)
        return batch

    def settled(self, batch: list[TaskReport], *, again: bool = False) -> None:
        """A report call ended; ``again``: not answered, its results wait for the next one."""
        with self._cond:
            self.reporting.difference_update(report.uuid for report in batch)
            if again:
                self.results[:0] = batch

    def drain_buffer(self) -> list[ClaimedTask]:
        with self._cond:
            tasks = list(self.buffer)
            self.buffer.clear()
        return tasks

    def kill_running(self, only: set[str] | None = None) -> list[ClaimedTask]:
        """Kill the running tasks' groups (those in ``only``, or all); their results are not
        reported. The tasks killed."""
        with self._cond:
            chosen = [r for r in self.running.values()
                      if not r.killed and (only is None or r.task.uuid in only)]  # fmt: skip
            for running in chosen:
                running.killed = True
        for running in chosen:
            _kill_group(running.pid)
        return [running.task for running in chosen]

    def drop(self, uuids: set[str]) -> None:
        """Forget buffered tasks that are no longer this manager's (their lease went)."""
        with self._cond:
            self.buffer = deque(task for task in self.buffer if task.uuid not in uuids)

    def wait_idle(self, seconds: float) -> bool:
        """Wait until no task runs (at most ``seconds``); whether none does."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while self.running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, WATCH_EVERY))
            return True

    # --- the socket ---

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return  # closed: the pool stopped
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rwb") as stream:
            while True:
                try:
                    message = ipc.receive(stream)
                    if message is None:
                        return
                    ipc.send(stream, self._answer(message))
                except (OSError, ValueError):
                    return

    def _answer(self, message: dict[str, Any]) -> dict[str, Any]:
        worker = int(message["worker"])
        if message["op"] == "fetch":
            return self._fetch(worker)
        with self._cond:
            running = self.running.get(worker)
            mine = running is not None and running.task.uuid == message.get("uuid")
            if message["op"] == "started" and running is not None and mine:
                running.pid = int(message["pid"])
                if running.killed:  # killed while it was being started
                    _kill_group(running.pid)
            elif message["op"] == "result" and running is not None and mine:
                del self.running[worker]
                waited = message.get("waited")
                if isinstance(waited, float):
                    self.waits.append(waited)
                if not running.killed:
                    self.results.append(TaskReport(
                        uuid=running.task.uuid, attempt=running.task.attempt,
                        exit_status=int(message["exit_status"]),
                        output=str(message.get("output") or ""), worker=worker))  # fmt: skip
                self._cond.notify_all()
        self.on_change()
        return {"op": "ok"}

    def _fetch(self, worker: int) -> dict[str, Any]:
        deadline = time.monotonic() + FETCH_HOLD
        with self._cond:
            while True:
                if self.stopping:
                    return {"op": "stop"}
                if self.buffer:
                    task = self.buffer.popleft()
                    self.running[worker] = Running(task)
                    break
                if self.closing:
                    return {"op": "stop"}
                left = deadline - time.monotonic()
                if left <= 0:
                    return {"op": "wait"}
                self._cond.wait(left)
        self.on_change()  # the buffer fell: maybe time to refill
        return {"op": "task", "task": task.model_dump()}

    # --- the processes ---

    def _watch(self) -> None:
        while True:
            with self._cond:
                if self.stopping and not self.processes:
                    return
                ended = [(i, p) for i, p in self.processes.items() if p.poll() is not None]
                held: list[Running | None] = []
                for index, _ in ended:
                    del self.processes[index]
                    held.append(self.running.pop(index, None))
                    if held[-1] is not None:
                        self.releasing.add(held[-1].task.uuid)
                if ended:
                    self._cond.notify_all()
            for (index, process), running in zip(ended, held, strict=True):
                if running is not None:
                    _kill_group(running.pid)  # its task must not outlive it
                try:
                    if self.stopping and process.returncode == 0:
                        continue
                    task = running.task if running is not None and not running.killed else None
                    self.on_end(index, process.returncode, task)
                finally:
                    if running is not None:
                        with self._cond:
                            self.releasing.discard(running.task.uuid)
            time.sleep(WATCH_EVERY)
