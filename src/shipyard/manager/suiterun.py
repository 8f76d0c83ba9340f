"""One suite on one manager, from the moment it is taken to its ``suite_done``: the folder
``{folder}/suites/{uuid}/``, ``env_preparation`` (a failure gives the suite up here), the managed
workers served from the prefetch buffer, their results reported in batches, crashes released
and respawned (three give the suite up), a cancel, a drain, a shutdown; ``env_cleanup`` always;
then ``suite_done``. The rules are :mod:`shipyard.manager.decisions`'; this performs them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shipyard.coordinator import taskprocess
from shipyard.coordinator.managerprotocol import (
    Fetch,
    GiveUp,
    HookRun,
    Release,
    Report,
    SuiteDone,
    SuiteView,
    Tasks,
)
from shipyard.manager.channel import Channel, ChannelError
from shipyard.manager.decisions import (
    Event,
    ManagerError,
    State,
    counts,
    cpu_plan,
    crash_reason,
    fetch_limit,
    gives_up,
    next_state,
    suite_finished,
)
from shipyard.manager.hooks import run_hook
from shipyard.manager.pool import Pool

#: How long a graceful shutdown lets the running tasks finish (seconds).
SHUTDOWN_GRACE = 30.0
#: How often the progress line "N tasks done" is printed at most (seconds).
PROGRESS_EVERY = 2.0
#: The most of a failed hook's output repeated in its give-up reason (characters).
REASON_TAIL = 2000

Progress = Callable[..., None]  # progress(event, **fields)


@dataclass
class SuiteRun:
    channel: Channel
    view: SuiteView
    folder: Path  # the manager's folder
    manager_id: str
    progress: Progress
    say: Callable[[str], None]
    state: State = "preparing"
    completed: int = 0
    failed: int = 0
    crashes: int = 0
    pool: Pool | None = None
    #: Set from other threads (pushes, heartbeat answers, signals); read by the loop.
    cancelled: bool | None = None  # None: not cancelled; else cancel_running
    shutdown: Literal["graceful", "force"] | None = None
    gave_up: str | None = None
    recheck: bool = False
    wake: threading.Event = field(default_factory=threading.Event)
    _fetched: bool = False
    _last_output: str = ""  # the last hook's output's tail
    _plan: list[frozenset[int] | None] = field(default_factory=list)  # the workers' CPUs
    _hook_process: subprocess.Popen[bytes] | None = None  # a hook running now
    _printed: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def uuid(self) -> str:
        return self.view.uuid

    @property
    def home(self) -> Path:
        return self.folder / "suites" / self.uuid

    def _move(self, event: Event) -> None:
        self.state = next_state(self.state, event)

    # --- told from outside ---

    def cancel(self, cancel_running: bool) -> None:
        self.cancelled = bool(self.cancelled) or cancel_running
        self.wake.set()

    def stop(self, how: Literal["graceful", "force"]) -> None:
        if self.shutdown != "force":
            self.shutdown = how
        if how == "force" and self._hook_process is not None:
            taskprocess.kill_group(self._hook_process, signal.SIGKILL)
        if how == "force" and self.pool is not None:
            self.pool.kill_workers()
        self.wake.set()

    def forced(self) -> bool:
        """A shutdown-now came (read again each time: another thread sets it)."""
        return self.shutdown == "force"

    def seen(self, view: SuiteView) -> None:
        """The suite as a heartbeat answer (or a fetch) shows it now."""
        if view.uuid != self.uuid:
            return
        self.view = view
        if view.state == "cancelled" and self.cancelled is None:
            self.cancel(False)
        self.wake.set()

    def check_held(self, asked: set[str], held: set[str]) -> None:
        """A hold's answer: a task asked for and not held any more went to another attempt
        (or was cancelled): a running one is killed (its result would be refused), a buffered
        one dropped."""
        if self.pool is None:
            return
        gone = asked - held
        if gone:
            killed = self.pool.kill_running(gone)
            self.pool.drop(gone)
            for task in killed:
                self.say(f"task {task.uuid}: no longer this manager's; stopped it")

    def holding(self) -> list[str]:
        return self.pool.holding() if self.pool is not None else []

    # --- the run ---

    def run(self) -> None:
        name = self.view.name or ""
        self.progress("suite_taken", suite=self.uuid, name=name, group=self.view.group)
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        schedule = self.view.worker_schedule
        context = {
            "SHIPYARD_SUITE_UUID": self.uuid,
            "SHIPYARD_SUITE_NAME": name,
            "SHIPYARD_GROUP": self.view.group,
            "SHIPYARD_WORKER_COUNT": str(int(schedule.get("count", 1))),
            "SHIPYARD_MANAGER_ID": self.manager_id,
        }
        problem = self._prepare(context)
        if self.forced():
            return  # killed (its hook too); leave now
        if problem is not None:
            self._give_up(problem)
            self._move("prep_failed")
            reason: Literal["drained", "cancelled", "gave_up", "shutdown"] = "gave_up"
        elif self.cancelled is not None or self.shutdown:
            reason = "cancelled" if self.cancelled is not None else "shutdown"
            self._move("cancelled" if self.cancelled is not None else "shutdown")
        else:
            self._move("prepared")
            reason = self._execute()
            if self.forced():
                return  # killed; leave now: the coordinator takes the tasks back
            self._move(reason)  # each reason is the event of that name
        self._hook("env_cleanup", context)
        done = SuiteDone(id=0, suite_uuid=self.uuid, reason=reason,
                         tasks_completed=self.completed, tasks_failed=self.failed)  # fmt: skip
        self._request(done)
        self._move("cleaned")
        self.progress("suite_done", suite=self.uuid, reason=reason, completed=self.completed,
                      failed=self.failed)  # fmt: skip

    def _prepare(self, context: dict[str, str]) -> str | None:
        """Run env_preparation and plan the workers' CPUs; why the suite cannot run here."""
        outcome = self._hook("env_preparation", context)
        if outcome is not None and not outcome:
            return outcome_reason(self.view.env_preparation, self._last_output)
        binding = self.view.worker_schedule.get("cpu_binding") or None
        try:
            self._plan = cpu_plan(
                int(self.view.worker_schedule.get("count", 1)),
                binding["strategy"] if binding else None,
                binding.get("cores", []) if binding else [],
                os.sched_getaffinity(0),
            )
        except ManagerError as error:
            return error.render()
        return None

    def _hook(self, which: Literal["env_preparation", "env_cleanup"],
              context: dict[str, str]) -> bool | None:  # fmt: skip
        """Run the hook if the suite has one; whether it succeeded (None: it has none)."""
        hook: dict[str, Any] | None = getattr(self.view, which)
        if not hook:
            return None
        if which == "env_cleanup" and self.forced():
            return None  # leaving now: no cleanup
        outcome = run_hook(which, hook, self.home, context, self._running_hook)
        self._last_output = outcome.output
        self._request(HookRun(id=0, suite_uuid=self.uuid, hook=which, ok=outcome.ok,
                              exit_status=outcome.exit_status, seconds=outcome.seconds,
                              output=outcome.output[-100_000:]))  # fmt: skip
        self.progress("hook_ran", suite=self.uuid, hook=which, ok=outcome.ok,
                      exit_status=outcome.exit_status,
                      seconds=round(outcome.seconds, 3))  # fmt: skip
        return outcome.ok

    def _running_hook(self, process: subprocess.Popen[bytes] | None) -> None:
        self._hook_process = process
        if process is not None and self.forced():  # forced as it was being started
            taskprocess.kill_group(process, signal.SIGKILL)

    def _give_up(self, reason: str) -> None:
        self.gave_up = reason
        self._request(GiveUp(id=0, suite_uuid=self.uuid, reason=reason[-10_000:]))
        self.progress("gave_up", suite=self.uuid, reason=reason)

    def _request(self, message: Any) -> Any:
        """A request that must arrive: asked again while the coordinator is away (up to a
        shutdown-now); None when it refused (said) or a force shutdown came meanwhile."""
        tries = 0
        while True:
            try:
                return self.channel.request(message)
            except ChannelError as error:
                if not error.transient or self.shutdown == "force":
                    self.say(f"{message.type}: {error.message}")
                    return None
                tries += 1
                if tries == 1:
                    self.say(f"{message.type}: {error.message}; trying again")
                time.sleep(min(5.0, 0.2 * 2**tries))

    # --- executing ---

    def _execute(self) -> Literal["drained", "cancelled", "gave_up", "shutdown"]:
        self.pool = Pool(self.uuid, self.home, self.folder / f"{self.uuid[:8]}.sock",
                         self._plan, self._ended, self.wake.set)  # fmt: skip
        self.pool.start()
        self.progress("workers_started", suite=self.uuid, count=len(self._plan))
        reason = self._loop()
        self._wind_down(reason)
        return reason

    def _loop(self) -> Literal["drained", "cancelled", "gave_up", "shutdown"]:
        assert self.pool is not None
        prefetch = int(self.view.worker_schedule.get("prefetch", 16))
        while True:
            if self.shutdown:
                return "shutdown"
            if self.gave_up is not None:
                return "gave_up"
            if self.cancelled is not None:
                return "cancelled"
            self._flush()
            limit = fetch_limit(self.pool.buffered, prefetch,
                                queued=self.view.pending if self._fetched else None,
                                recheck=self.recheck)  # fmt: skip
            if limit:
                self._fetch(limit)
            finished = suite_finished(self.view.state, self.view.pending,
                                      len(self.pool.holding()))  # fmt: skip
            if finished is not None:
                return finished
            self.wake.wait(0.5)
            self.wake.clear()

    def _fetch(self, limit: int) -> None:
        assert self.pool is not None
        self.recheck = False
        try:
            reply = self.channel.request(Fetch(id=0, suite_uuid=self.uuid, limit=limit))
        except ChannelError as error:
            if error.transient:
                return  # asked again at the next turn; the tasks held keep running
            if error.status in (404, 409):
                self.say(f"fetch: {error.message}; the suite is no longer this manager's")
                self.cancel(True)
                return
            raise
        assert isinstance(reply, Tasks)
        self._fetched = True
        self.pool.add(reply.tasks)
        self.seen(reply.suite)

    def _flush(self) -> None:
        assert self.pool is not None
        batch = self.pool.take_results()
        if not batch:
            return
        try:
            reply = self.channel.request(Report(id=0, reports=batch))
        except ChannelError as error:
            self.pool.settled(batch, again=error.transient)
            if not error.transient:
                self.say(f"report: {error.message}; {len(batch)} result(s) dropped")
            return
        statuses = {report.uuid: report.exit_status for report in batch}
        for result in getattr(reply, "results", []):
            if result.status == 200:
                if statuses.get(result.uuid) == 0:
                    self.completed += 1
                else:
                    self.failed += 1
            else:
                self.say(f"task {result.uuid}: result dropped: {result.status} {result.msg}")
        self.pool.settled(batch)
        now = time.monotonic()
        if now - self._printed >= PROGRESS_EVERY:
            self._printed = now
            self.progress("tasks_done", suite=self.uuid, completed=self.completed,
                          failed=self.failed)  # fmt: skip

    def _ended(self, worker: int, returncode: int, task: Any) -> None:
        """A managed worker ended unasked (on the pool's watch thread)."""
        assert self.pool is not None
        counted = counts(returncode)
        reason = crash_reason(worker, returncode)
        with self._lock:
            self.crashes += counted
            crashes = self.crashes
        if task is not None:
            answer = self._request(Release(id=0, uuid=task.uuid, attempt=task.attempt,
                                           reason=reason))  # fmt: skip
            state = getattr(answer, "state", None)
            self.say(f"{reason} running task {task.uuid}; released ({state})")
            if state == "queued":  # one more queued than last seen: not drained
                self.view = self.view.model_copy(update={"pending": self.view.pending + 1})
            self.recheck = True
        else:
            self.say(reason)
        self.progress("worker_ended", suite=self.uuid, worker=worker, reason=reason,
                      counted=bool(counted), crashes=crashes)  # fmt: skip
        if counted and gives_up(crashes):
            if self.gave_up is None:
                self.gave_up = f"{crashes} managed worker crashes (the last: {reason})"
            self.wake.set()
            return
        if self.pool.respawn_wanted():
            self.pool.spawn(worker)

    def _wind_down(self, reason: str) -> None:
        """After the loop: stop handing out tasks, give back what will not run here, let the
        running tasks end (or kill them), report their results, stop the workers."""
        pool = self.pool
        assert pool is not None
        pool.close()
        if self.shutdown == "force":
            pool.kill_workers()
            return
        why = {"cancelled": "the suite was cancelled", "gave_up": f"gave up: {self.gave_up}",
               "shutdown": "the manager shuts down"}.get(reason, reason)  # fmt: skip
        for task in pool.drain_buffer():
            self._request(Release(id=0, uuid=task.uuid, attempt=task.attempt,
                                  reason=f"prefetched; {why}"))  # fmt: skip
        if reason == "gave_up":
            self._give_up(self.gave_up or "crashes")
            self._release(pool.kill_running(), why)
        elif reason == "cancelled" and self.cancelled:
            pool.kill_running()  # cancelled with its running tasks: nothing to give back
        elif reason == "shutdown" and not pool.wait_idle(SHUTDOWN_GRACE):
            self._release(pool.kill_running(), f"{why}; still running after "
                          f"{SHUTDOWN_GRACE:g} s")  # fmt: skip
        # The running tasks end (cancelled without them: as long as they take).
        while not self.forced() and not pool.wait_idle(0.5):
            self._flush()
        self._flush()
        pool.stop()
        self._flush()

    def _release(self, tasks: list[Any], why: str) -> None:
        for task in tasks:
            self._request(Release(id=0, uuid=task.uuid, attempt=task.attempt, reason=why))


def outcome_reason(hook: dict[str, Any] | None, output: str) -> str:
    """Why a failed preparation gives the suite up, with the end of its output."""
    command = " ".join((hook or {}).get("command", []))
    return f"env_preparation ({command}) failed; its output ends:\n{output[-REASON_TAIL:]}"
