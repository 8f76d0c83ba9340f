"""``shipyard worker`` (issue 13 §4): an independent worker over the coordinator's HTTP routes.

It registers under its token (``$SHIPYARD_WORKER_TOKEN``, from ``POST
/api/v1/groups/{group}/workers``), heartbeats from a thread of its own, fetches as many tasks
as it has free slots (``concurrency``, default 1; a waiting fetch, woken by the coordinator's
NOTIFY), and runs each in a thread of its own as a real subprocess — argv, no shell — in its own
process group and folder, with its timeout, its output to ``LOGS/{uuid}.log``. Files the task
leaves in ``$SHIPYARD_ARTIFACTS`` are uploaded; then a reporter thread sends the results that
ended close together in one ``POST /workers/reports`` (when: ``resilience.flush_wait``).

Stopping: a first SIGTERM (or Ctrl-C) takes no new task, lets the running ones finish, reports
them, and leaves; a second one (or ``force``) kills every running task's process group now and
leaves, which puts the tasks back to the queue (their attempts recorded as lost).

When things die (docs/coordinator.md): a coordinator that answered once and then does not (it
restarts, or its database does: 503) is asked again with a capped, jittered exponential
backoff — a fetch, and a report too, so a result is not lost to an outage; a heartbeat whose
answer no longer lists a running task (its lease ran out and the task went to another
attempt) kills that task's process group at once (only that one), and its result is not
reported. The decisions are :mod:`shipyard.coordinator.resilience`'s.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.coordinator.resilience import (
    BACKOFF_CAP,
    Verdict,
    backoff_delay,
    call_verdict,
    flush_wait,
    heartbeat_every,
    lease_lost,
)
from shipyard.coordinator.taskprocess import (
    KILL_GRACE,
    NOT_STARTED,
    TAIL,
    TIMED_OUT,
    end,
    exit_status,
    exited,
    kill_group,
    start,
    tail,
)
from shipyard.errors import BadRequest, CoordinatorError

if TYPE_CHECKING:
    import httpx

#: How long a fetch waits for work before the worker looks at its own state again (seconds).
FETCH_WAIT = 5.0
#: The lease assumed when the coordinator's register answer does not say it (seconds).
LEASE = 30.0
# KILL_GRACE, TAIL and TIMED_OUT are taskprocess's (a node manager's workers share them).
__all__ = ["KILL_GRACE", "LEASE", "TAIL", "TIMED_OUT", "Worker", "WorkerError"]
#: The most results one report call carries (the coordinator's bound, routes.MAX_REPORTS).
MAX_REPORTS = 1000


class WorkerError(CoordinatorError):
    """The coordinator refused the worker (its message), or cannot be reached (status 0)."""

    status: int = 0


def _refused(method: str, path: str, answer: httpx.Response, group: str) -> WorkerError:
    """A refusal in the coordinator's words, with its hint — or, for a token refused (401,
    403, which come without one), where a worker's token comes from."""
    try:
        data = answer.json()
    except ValueError:
        data = None
    data = data if isinstance(data, dict) else {"msg": answer.text[:200]}
    hint = data.get("hint")
    if not hint and answer.status_code in (401, 403):
        hint = f"set $SHIPYARD_WORKER_TOKEN to a token of POST /api/v1/groups/{group}/workers"
    message = f"{method} {path}: {answer.status_code} {data.get('msg')}"
    refused = WorkerError(message, hint=str(hint) if hint else None)
    refused.status = answer.status_code
    return refused


@dataclass
class Worker:
    server: str
    token: str
    group: str
    tags: list[str]
    folder: Path
    max_tasks: int | None = None
    force: bool = False
    #: The longest wait between two tries at an unreachable coordinator (seconds).
    backoff_cap: float = BACKOFF_CAP
    #: Uniform in [0, 1): the backoff's jitter (injected by tests that want it fixed).
    draw: Callable[[], float] = random.random
    #: How many tasks run at once (each its own subprocess, group, timeout and log).
    concurrency: int = 1
    ran: int = 0
    _stops: int = 0
    _reached: bool = False
    _beat: float = LEASE / 3
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)  # by uuid
    _lost: set[str] = field(default_factory=set)  # tasks the heartbeat found gone elsewhere
    # Tasks this worker knows it has, from the fetch answer until their report is settled: the
    # heartbeat extends only these leases (a claim whose answer was lost must run out).
    _holding: set[str] = field(default_factory=set)
    _executing: int = 0  # tasks claimed whose thread has not ended (their slots)
    _unreported: int = 0  # tasks claimed whose report is not settled (running ones too)
    _waiting: list[tuple[float, dict[str, Any]]] = field(default_factory=list)  # (ended, report)
    _fetching_done: bool = False  # the main loop fetches no more: the reporter drains, ends
    _failure: BaseException | None = None  # a side thread's end of the worker
    # Re-entrant: stop() takes it from the signal handler, which runs on the main thread, maybe
    # while that thread holds it.
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _changed: threading.Condition = field(init=False)
    _done: threading.Event = field(default_factory=threading.Event)
    _wake: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    # --- talking to the coordinator ---

    def _client(self, timeout: float = FETCH_WAIT + 30) -> httpx.Client:
        import httpx

        return httpx.Client(
            base_url=self.server.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=timeout,
        )

    def _call(self, client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            answer = client.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise WorkerError(
                f"the coordinator at {client.base_url} does not answer: {error}",
                hint="check --server and that shipyard serve --db runs there",
            ) from None
        self._reached = True
        if answer.status_code >= 400:
            raise _refused(method, path, answer, self.group)
        return answer.json()

    def _retrying(
        self, client: httpx.Client, path: str, *, report: bool, give_up: Callable[[], bool],
        **kwargs: Any,
    ) -> Any | None:  # fmt: skip
        """POST ``path`` until it is answered, waiting between tries while the coordinator
        (or its database) is away; None when ``give_up()`` turned true meanwhile. A refusal
        no wait changes is raised (a report's 409/404 too: the caller drops it)."""
        failures = 0
        while True:
            try:
                answer = self._call(client, "POST", path, **kwargs)
            except WorkerError as error:
                verdict = call_verdict(error.status, report=report, reached=self._reached)
                if verdict is not Verdict.RETRY:
                    raise
                failures += 1
                if failures == 1:
                    _say(f"{error.message}; trying again (waits up to {self.backoff_cap:g} s)")
                if self._wake.wait(backoff_delay(failures, self.draw(), cap=self.backoff_cap)):
                    self._wake.clear()  # a stop woke it: looked at below, once
                if give_up():
                    return None
                continue
            if failures:
                _say(f"the coordinator answers again ({path}, after {failures} failed tries)")
            return answer

    def _leaving_now(self) -> bool:
        return self._stops > 1 or (self.force and self._stops > 0) or self._failure is not None

    # --- the loop ---

    def run(self) -> int:
        """Work until stopped (or ``max_tasks`` ran); the number of tasks run."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._client() as client, self._client() as side:
            # Not retried: a coordinator that never answered is a wrong --server, said now.
            registered = self._call(client, "POST", "/workers/register", json={"tags": self.tags})
            if registered["group"] != self.group:
                raise BadRequest(
                    f"the token is a worker's of group {registered['group']!r}, not {self.group!r}",
                    hint="issue a worker token for that group (POST /api/v1/groups/G/workers)",
                )
            self._beat = heartbeat_every(float(registered.get("lease") or LEASE))
            threading.Thread(target=self._heartbeats, daemon=True).start()
            reporter = threading.Thread(target=self._reporting, args=(side,), daemon=True)
            reporter.start()
            threads: list[threading.Thread] = []
            try:
                self._work(client, side, threads)
            except BaseException:
                self._kill_all()  # the worker ends: its tasks go back with the leave
                raise
            finally:
                self._drain(threads, reporter)
                self._done.set()
                self._leave(client)
        if self._failure is not None:
            raise self._failure
        return self.ran

    def _drain(self, threads: list[threading.Thread], reporter: threading.Thread) -> None:
        """The running tasks end (or are killed by a stop now), their results are reported."""
        for thread in threads:
            thread.join()
        with self._changed:
            self._fetching_done = True
            self._changed.notify_all()
        reporter.join()

    def _leave(self, client: httpx.Client) -> None:
        """A task still held (stopped now, or fetched after the stop) goes back now; with the
        coordinator away, it goes back when its lease runs out instead."""
        try:
            self._call(client, "POST", "/workers/leave")
        except WorkerError as error:
            if error.status not in (0, 502, 503, 504):
                raise
            _say(f"could not leave ({error.message}); held tasks go back as their leases end")

    def _room(self) -> int:
        """Wait for a free slot; how many tasks to fetch now (0: fetch no more)."""
        with self._changed:
            while True:
                if self._stops or self._failure is not None:
                    return 0
                room = self.concurrency - self._executing
                if self.max_tasks is not None:
                    if self.ran >= self.max_tasks:
                        return 0
                    # Claimed and not settled yet (running ones included) may still count.
                    room = min(room, self.max_tasks - self.ran - self._unreported)
                if room > 0:
                    return room
                self._changed.wait(1.0)  # woken by a task's end or a stop; 1 s as a fallback

    def _work(
        self, client: httpx.Client, side: httpx.Client, threads: list[threading.Thread]
    ) -> None:
        while room := self._room():
            fetched = self._retrying(
                client, "/workers/fetch", report=False, give_up=lambda: self._stops > 0,
                json={"limit": room, "wait": FETCH_WAIT},
            )  # fmt: skip
            for task in fetched["tasks"] if fetched else ():
                if self._stops or self._failure is not None:
                    return  # fetched as the stop came: leave gives it back
                with self._changed:
                    self._executing += 1
                    self._unreported += 1
                    self._holding.add(str(task["uuid"]))
                thread = threading.Thread(target=self._task, args=(side, task), daemon=True)
                threads.append(thread)
                thread.start()
            threads[:] = [thread for thread in threads if thread.is_alive()]

    def _task(self, client: httpx.Client, task: dict[str, Any]) -> None:
        """One task's thread: run it, then hand its result to the reporter."""
        report: dict[str, Any] | None = None
        try:
            report = self._execute(client, task)
        except BaseException as error:  # a worker that cannot run tasks stops, said by run()
            with self._changed:
                self._failure = self._failure or error
        finally:
            with self._changed:
                self._executing -= 1
                if report is None:
                    self._unreported -= 1
                    self._holding.discard(str(task["uuid"]))
                else:
                    self._waiting.append((time.monotonic(), report))
                self._changed.notify_all()
        if report is None and task["uuid"] in self._lost:
            _say(f"task {task['uuid']}: its lease went to another attempt; "
                 "stopped it, its result not reported")  # fmt: skip

    # --- reporting, several results in one call ---

    def _next_batch(self) -> list[dict[str, Any]] | None:
        """The results to report now (flush_wait decides when); None once all are sent and
        the main loop fetches no more."""
        most = min(self.concurrency, MAX_REPORTS)
        with self._changed:
            while True:
                oldest = time.monotonic() - self._waiting[0][0] if self._waiting else 0.0
                wait = flush_wait(len(self._waiting), oldest, self._executing, most=most,
                                  stopping=self._stops > 0 or self._fetching_done)  # fmt: skip
                if wait == 0.0:
                    batch = [report for _, report in self._waiting[:most]]
                    del self._waiting[:most]
                    return batch
                if wait is None and self._fetching_done and not self._executing:
                    return None
                self._changed.wait(wait if wait is not None else 1.0)

    def _reporting(self, client: httpx.Client) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                taken = self._report(client, batch)
            except BaseException as error:  # a refusal no wait changes ends the worker
                taken = 0
                with self._changed:
                    self._failure = self._failure or error
                self._kill_all()
            with self._changed:
                self.ran += taken
                self._unreported -= len(batch)
                self._holding.difference_update(str(report["uuid"]) for report in batch)
                self._changed.notify_all()

    def _report(self, client: httpx.Client, batch: list[dict[str, Any]]) -> int:
        """Report until the coordinator answers; how many it took. A result it fenced off (its
        lease ran out and the task went to another attempt: 409; the task gone: 404) is
        dropped, said; all are given up when a stop-now came while the coordinator was away."""
        answer = self._retrying(
            client, "/workers/reports", report=True, give_up=self._leaving_now,
            json={"reports": batch},
        )  # fmt: skip
        if answer is None:
            return 0
        taken = 0
        for item in answer["results"]:
            if item["status"] == 200:
                taken += 1
                continue
            if call_verdict(item["status"], report=True, reached=True) is not Verdict.DROP:
                raise WorkerError(f"POST /workers/reports: {item['status']} {item.get('msg')}")
            _say(f"task {item['uuid']}: result dropped: {item['status']} {item.get('msg')}")
        return taken

    def _heartbeats(self) -> None:
        with self._client(timeout=max(1.0, self._beat)) as client:
            while not self._done.wait(self._beat):
                with self._lock:
                    asked = set(self._processes)  # what runs as the heartbeat is sent
                    holding = sorted(self._holding)
                try:
                    answer = self._call(
                        client, "POST", "/workers/heartbeat", json={"holding": holding}
                    )
                except WorkerError:
                    continue  # the coordinator away: a later answer says what is still ours
                self._check_leases(asked, set(answer.get("held", [])))

    def _check_leases(self, asked: set[str], held: set[str]) -> None:
        """Kill a running task's group at once when the coordinator gave it to another
        attempt (only that task's): two copies must not run longer than they have to."""
        with self._lock:
            lost = [
                (uuid, process) for uuid, process in self._processes.items()
                if lease_lost(uuid, uuid if uuid in asked else None, held)
                and not exited(process.pid)  # ended on its own: its report is fenced off
            ]  # fmt: skip
            self._lost.update(uuid for uuid, _ in lost)
        for _, process in lost:
            kill_group(process, signal.SIGKILL)

    def _kill_all(self) -> None:
        with self._lock:
            processes = list(self._processes.values())
        for process in processes:
            kill_group(process, signal.SIGKILL)

    # --- one task ---

    def _execute(self, client: httpx.Client, task: dict[str, Any]) -> dict[str, Any] | None:
        uuid = str(task["uuid"])
        place = self.folder / "tasks" / uuid
        workdir = place / task["local_path"] if task.get("local_path") else place
        artifacts = place / "artifacts"
        for folder in (workdir, artifacts, self.folder / "logs"):
            folder.mkdir(parents=True, exist_ok=True)
        log = self.folder / "logs" / f"{uuid}.log"
        env = {**os.environ, **task["env"], "SHIPYARD_TASK": uuid,
               "SHIPYARD_ARTIFACTS": str(artifacts)}  # fmt: skip
        status = self._spawn_and_wait(task, workdir, env, log)
        if status is None:
            return None
        refused = self._upload(client, uuid, artifacts)
        return {"uuid": uuid, "attempt": task["attempt"], "exit_status": status,
                "output": tail(log) + refused}  # fmt: skip

    def _upload(self, client: httpx.Client, uuid: str, artifacts: Path) -> str:
        """Each file of the task's artifacts folder; a refused one (too large, a name the
        coordinator does not take) is said at the end of the output, not the worker's end."""
        from urllib.parse import quote

        said = ""
        for item in sorted(artifacts.iterdir()):
            if not item.is_file():
                continue
            try:
                with item.open("rb") as data:
                    path = f"/tasks/{uuid}/artifacts/{quote(item.name, safe='')}"
                    self._call(client, "PUT", path, content=data)
            except WorkerError as error:
                said += f"\nshipyard worker: artifact {item.name!r} not uploaded: {error.message}"
        return said

    def _spawn_and_wait(
        self, task: dict[str, Any], workdir: Path, env: dict[str, str], log: Path
    ) -> int | None:
        uuid = str(task["uuid"])
        process = start(task["command"], workdir, env, log, who="shipyard worker")
        if process is None:
            return NOT_STARTED
        with self._lock:
            self._processes[uuid] = process
            stopped_meanwhile = self._leaving_now()
        if stopped_meanwhile:
            # A stop-now that came while the task was being started found no process to kill
            # (stop() reads them under the same lock): killed here instead, not left to run.
            kill_group(process, signal.SIGKILL)
        try:
            return self._wait(process, task.get("timeout"), uuid)
        finally:
            with self._lock:
                del self._processes[uuid]

    def _wait(
        self, process: subprocess.Popen[bytes], timeout: float | None, uuid: str
    ) -> int | None:
        try:
            status = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            end(process)
            status = TIMED_OUT
        if uuid in self._lost:
            return None  # killed because its lease went to another attempt
        if self._leaving_now():
            return None  # killed by the second stop: not this task's result
        return exit_status(status)

    # --- signals ---

    def stop(self) -> str:
        """A SIGTERM: the first lets the running tasks finish; the second (or with ``force``)
        kills their process groups now. What it did, in words."""
        self._stops += 1
        self._wake.set()  # a wait for the coordinator ends: the loop looks at the stop
        with self._changed:
            self._changed.notify_all()
        if self._stops == 1 and not self.force:
            return "stopping after the current task(s) (again to stop them now)"
        self._kill_all()
        return "stopping now; the running task(s) go back to the queue"

    def install_signals(self) -> None:
        def handler(_signal: int, _frame: object) -> None:
            # Said on stderr: whoever sent the signal knows when it was taken (two signals
            # sent at once can arrive as one).
            _say(self.stop())

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def _say(text: str) -> None:
    sys.stderr.write(f"shipyard worker: {text}\n")
    sys.stderr.flush()
