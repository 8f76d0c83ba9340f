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
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import BadRequest, CoordinatorError

if TYPE_CHECKING:
    import httpx

#: How long a fetch waits for work before the worker looks at its own state again (seconds).
FETCH_WAIT = 5.0
#: Between heartbeats (seconds): a third of the coordinator's 30 s lease.
HEARTBEAT_EVERY = 10.0
#: After a timeout's SIGTERM, how long the task has before SIGKILL (seconds).
KILL_GRACE = 10.0
#: The tail of the output sent with the report (bytes; the whole log stays here).
TAIL = 64 * 1024
#: The exit status reported for a task killed at its timeout (as timeout(1) has it).
TIMED_OUT = 124


class WorkerError(CoordinatorError):
    """The coordinator refused the worker (its message), or cannot be reached (status 0)."""

    status: int = 0


@dataclass
class Worker:
    server: str
    token: str
    group: str
    tags: list[str]
    folder: Path
    max_tasks: int | None = None
    force: bool = False
    ran: int = 0
    _stops: int = 0
    _process: subprocess.Popen[bytes] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: threading.Event = field(default_factory=threading.Event)

    # --- talking to the coordinator ---

    def _client(self) -> httpx.Client:
        import httpx

        return httpx.Client(
            base_url=self.server.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=FETCH_WAIT + 30,
        )

    @staticmethod
    def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            answer = client.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise WorkerError(
                f"the coordinator at {client.base_url} does not answer: {error}",
                hint="check --server and that shipyard serve --db runs there",
            ) from None
        if answer.status_code >= 400:
            try:
                message = answer.json().get("msg", answer.text)
            except ValueError:
                message = answer.text[:200]
            refused = WorkerError(f"{method} {path}: {answer.status_code} {message}")
            refused.status = answer.status_code
            raise refused
        return answer.json()

    # --- the loop ---

    def run(self) -> int:
        """Work until stopped (or ``max_tasks`` ran); the number of tasks run."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._client() as client:
            registered = self._call(client, "POST", "/workers/register", json={"tags": self.tags})
            if registered["group"] != self.group:
                raise BadRequest(
                    f"the token is a worker's of group {registered['group']!r}, not {self.group!r}",
                    hint="issue a worker token for that group (POST /api/v1/groups/G/workers)",
                )
            beat = threading.Thread(target=self._heartbeats, daemon=True)
            beat.start()
            try:
                self._work(client)
            finally:
                self._done.set()
                # A task still held (stopped now, or fetched after the stop) goes back.
                self._call(client, "POST", "/workers/leave")
        return self.ran

    def _work(self, client: httpx.Client) -> None:
        while self._stops == 0 and (self.max_tasks is None or self.ran < self.max_tasks):
            fetched = self._call(
                client, "POST", "/workers/fetch", json={"limit": 1, "wait": FETCH_WAIT}
            )
            for task in fetched["tasks"]:
                if self._stops:  # fetched as the stop came: leave gives it back
                    return
                report = self._execute(client, task)
                if report is None:  # stopped now: the task goes back to the queue on leave
                    return
                try:
                    self._call(client, "POST", "/workers/report", json=report)
                except WorkerError as error:
                    if error.status != 409:
                        raise
                    # The lease ran out and the task went to another attempt: this result
                    # is dropped (the coordinator fenced it), the worker goes on.
                    _say(f"task {report['uuid']}: result dropped: {error.message}")
                    continue
                self.ran += 1

    def _heartbeats(self) -> None:
        with self._client() as client:
            while not self._done.wait(HEARTBEAT_EVERY):
                with contextlib.suppress(WorkerError):
                    self._call(client, "POST", "/workers/heartbeat")

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
            self._process = process
        try:
            return self._wait(process, task.get("timeout"))
        finally:
            with self._lock:
                self._process = None

    def _wait(self, process: subprocess.Popen[bytes], timeout: float | None) -> int | None:
        try:
            status = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _end(process)
            return TIMED_OUT
        if self._stops > 1 or (self.force and self._stops):
            return None  # killed by the second stop: not this task's result
        return status if status >= 0 else 128 - status

    # --- signals ---

    def stop(self) -> str:
        """A SIGTERM: the first lets the current task finish; the second (or with ``force``)
        kills its process group now. What it did, in words."""
        self._stops += 1
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
