"""``shipyard worker`` (issue 13 §4): an independent worker over the coordinator's HTTP routes.

It registers under its token (``$SHIPYARD_WORKER_TOKEN``, from ``POST
/api/v1/groups/{group}/workers``), heartbeats from a thread of its own, fetches one task at a
time (a waiting fetch, woken by the coordinator's NOTIFY), and runs each as a real subprocess —
argv, no shell — in its own process group and folder, with its timeout, its output to
``LOGS/{uuid}.log``. Files the task leaves in ``$SHIPYARD_ARTIFACTS`` are uploaded, then the
result is reported with the output's tail.

Stopping: a first SIGTERM (or Ctrl-C) lets the current task finish, reports it, and leaves; a
second one (or ``force``) kills the task's process group now and leaves, which puts the task
back to the queue (its attempt recorded as lost).

When things die (docs/coordinator.md): a coordinator that answered once and then does not (it
restarts, or its database does: 503) is asked again with a capped, jittered exponential
backoff — a fetch, and a report too, so a result is not lost to an outage; a heartbeat whose
answer no longer lists the running task (its lease ran out and the task went to another
attempt) kills that task's process group at once, and its result is not reported. The
decisions are :mod:`shipyard.coordinator.resilience`'s.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.coordinator.resilience import (
    BACKOFF_CAP,
    Verdict,
    backoff_delay,
    call_verdict,
    heartbeat_every,
    lease_lost,
)
from shipyard.errors import BadRequest, CoordinatorError

if TYPE_CHECKING:
    import httpx

#: How long a fetch waits for work before the worker looks at its own state again (seconds).
FETCH_WAIT = 5.0
#: The lease assumed when the coordinator's register answer does not say it (seconds).
LEASE = 30.0
#: After a timeout's SIGTERM, how long the task has before SIGKILL (seconds).
KILL_GRACE = 10.0
#: The tail of the output sent with the report (bytes; the whole log stays here).
TAIL = 64 * 1024
#: The exit status reported for a task killed at its timeout (as timeout(1) has it).
TIMED_OUT = 124


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
    ran: int = 0
    _stops: int = 0
    _reached: bool = False
    _beat: float = LEASE / 3
    _process: subprocess.Popen[bytes] | None = None
    _running: str | None = None  # the uuid of the task whose process runs
    _lost: str | None = None  # a task the heartbeat found gone to another attempt
    # Re-entrant: stop() takes it from the signal handler, which runs on the main thread, maybe
    # while that thread holds it.
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _done: threading.Event = field(default_factory=threading.Event)
    _wake: threading.Event = field(default_factory=threading.Event)

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
        return self._stops > 1 or (self.force and self._stops > 0)

    # --- the loop ---

    def run(self) -> int:
        """Work until stopped (or ``max_tasks`` ran); the number of tasks run."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._client() as client:
            # Not retried: a coordinator that never answered is a wrong --server, said now.
            registered = self._call(client, "POST", "/workers/register", json={"tags": self.tags})
            if registered["group"] != self.group:
                raise BadRequest(
                    f"the token is a worker's of group {registered['group']!r}, not {self.group!r}",
                    hint="issue a worker token for that group (POST /api/v1/groups/G/workers)",
                )
            self._beat = heartbeat_every(float(registered.get("lease") or LEASE))
            beat = threading.Thread(target=self._heartbeats, daemon=True)
            beat.start()
            try:
                self._work(client)
            finally:
                self._done.set()
                self._leave(client)
        return self.ran

    def _leave(self, client: httpx.Client) -> None:
        """A task still held (stopped now, or fetched after the stop) goes back now; with the
        coordinator away, it goes back when its lease runs out instead."""
        try:
            self._call(client, "POST", "/workers/leave")
        except WorkerError as error:
            if error.status not in (0, 502, 503, 504):
                raise
            _say(f"could not leave ({error.message}); held tasks go back as their leases end")

    def _work(self, client: httpx.Client) -> None:
        while self._stops == 0 and (self.max_tasks is None or self.ran < self.max_tasks):
            fetched = self._retrying(
                client, "/workers/fetch", report=False, give_up=lambda: self._stops > 0,
                json={"limit": 1, "wait": FETCH_WAIT},
            )  # fmt: skip
            for task in fetched["tasks"] if fetched else ():
                if self._stops:  # fetched as the stop came: leave gives it back
                    return
                report = self._execute(client, task)
                if report is None and self._lost == task["uuid"]:
                    _say(f"task {task['uuid']}: its lease went to another attempt; "
                         "stopped it, its result not reported")  # fmt: skip
                    continue
                if report is None:  # stopped now: the task goes back to the queue on leave
                    return
                taken = self._report(client, report)
                if taken is None:  # stopped now while the coordinator was away
                    return
                self.ran += taken

    def _report(self, client: httpx.Client, report: dict[str, Any]) -> bool | None:
        """Report until the coordinator takes it (True) or fences it off (False: dropped,
        said); None when a stop-now came while the coordinator was away."""
        try:
            taken = self._retrying(
                client, "/workers/report", report=True, give_up=self._leaving_now, json=report
            )
        except WorkerError as error:
            if call_verdict(error.status, report=True, reached=True) is not Verdict.DROP:
                raise
            # The lease ran out and the task went to another attempt: this result is
            # dropped (the coordinator fenced it), the worker goes on.
            _say(f"task {report['uuid']}: result dropped: {error.message}")
            return False
        return None if taken is None else True

    def _heartbeats(self) -> None:
        with self._client(timeout=max(1.0, self._beat)) as client:
            while not self._done.wait(self._beat):
                with self._lock:
                    asked = self._running  # what runs as the heartbeat is sent
                try:
                    answer = self._call(client, "POST", "/workers/heartbeat")
                except WorkerError:
                    continue  # the coordinator away: a later answer says what is still ours
                self._check_lease(asked, answer.get("held", []))

    def _check_lease(self, asked: str | None, held: list[str]) -> None:
        """Kill the running task's group at once when the coordinator gave it to another
        attempt: two copies must not run longer than they have to."""
        with self._lock:
            process = self._process
            if not lease_lost(self._running, asked, held) or process is None:
                return
            if _exited(process.pid):
                return  # it ended on its own: its report is fenced off (409) and dropped
            self._lost = self._running
        _kill_group(process, signal.SIGKILL)

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
                "output": _tail(log) + refused}  # fmt: skip

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
        with log.open("wb") as output:
            try:
                process = subprocess.Popen(
                    task["command"], cwd=workdir, env=env, stdout=output,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                )  # fmt: skip
            except OSError as error:
                output.write(f"shipyard worker: cannot start {task['command'][0]}: {error}\n"
                             .encode())  # fmt: skip
                return 127
        with self._lock:
            self._process, self._running = process, str(task["uuid"])
            stopped_meanwhile = self._leaving_now()
        if stopped_meanwhile:
            # A stop-now that came while the task was being started found no process to kill
            # (stop() reads it under the same lock): killed here instead, not left to run.
            _kill_group(process, signal.SIGKILL)
        try:
            return self._wait(process, task.get("timeout"), str(task["uuid"]))
        finally:
            with self._lock:
                self._process = self._running = None

    def _wait(
        self, process: subprocess.Popen[bytes], timeout: float | None, uuid: str
    ) -> int | None:
        try:
            status = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _end(process)
            status = TIMED_OUT
        if self._lost == uuid:
            return None  # killed because its lease went to another attempt
        if self._stops > 1 or (self.force and self._stops):
            return None  # killed by the second stop: not this task's result
        return status if status >= 0 else 128 - status

    # --- signals ---

    def stop(self) -> str:
        """A SIGTERM: the first lets the current task finish; the second (or with ``force``)
        kills its process group now. What it did, in words."""
        self._stops += 1
        self._wake.set()  # a wait for the coordinator ends: the loop looks at the stop
        if self._stops == 1 and not self.force:
            return "stopping after the current task (again to stop it now)"
        with self._lock:
            process = self._process
        if process is not None:
            _kill_group(process, signal.SIGKILL)
        return "stopping now; the current task goes back to the queue"

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


def _kill_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _exited(pid: int) -> bool:
    """Whether the child ended, without reaping it (Popen.wait on the main thread does)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True  # reaped already


def _end(process: subprocess.Popen[bytes]) -> None:
    """The timeout: SIGTERM to the group, SIGKILL after the grace."""
    _kill_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:
        _kill_group(process, signal.SIGKILL)
        process.wait()


def _tail(log: Path) -> str:
    with log.open("rb") as data:
        size = data.seek(0, os.SEEK_END)
        data.seek(max(0, size - TAIL))
        return data.read().decode("utf-8", errors="replace")
