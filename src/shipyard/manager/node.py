"""``shipyard manager``: a node manager (issue 14 §2; docs/suites.md "Running node managers").

It registers (``POST /api/v1/managers``), holds its line to the coordinator (channel.py: the
WebSocket, HTTP when it is down), heartbeats every ``heartbeat`` seconds and at once after each
connect, holds its tasks' leases every lease/3, and, while idle, asks for a suite
(``next_suite``; none: it waits for a ``suite_available`` push, or asks again at the next
heartbeat). Each suite is a :class:`~shipyard.manager.suiterun.SuiteRun`.

Stopping: a first SIGTERM/SIGINT (or an admin's graceful ``shutdown``) finishes the running
tasks (at most 30 s), gives the rest back, runs cleanup and leaves; a second one (or a force
shutdown) kills the workers and their tasks and leaves (the coordinator takes the tasks back).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from pydantic import BaseModel

from shipyard.coordinator.managerprotocol import (
    HEARTBEAT_EVERY,
    Assigned,
    CancelSuite,
    Heartbeat,
    HeartbeatAck,
    Held,
    Hold,
    Metrics,
    NextSuite,
    RegisterBody,
    Shutdown,
    SuiteAvailable,
)
from shipyard.manager.channel import Channel, ChannelError, request_stats, wait_stats
from shipyard.manager.decisions import heartbeat_interval, hold_interval
from shipyard.manager.suiterun import SuiteRun
from shipyard.manager.tokenrefresh import (
    REFRESH_CHECK,
    REFRESH_MARGIN,
    refresh_due,
    token_times,
    write_token_file,
)


@dataclass
class Manager:
    server: str
    token: str
    group: str
    tags: list[str]
    folder: Path
    heartbeat: float = HEARTBEAT_EVERY
    as_json: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    manager_id: str = ""
    lease: float = 30.0
    stats: Path | None = None  # --stats: request timings written there at exit
    token_file: Path | None = None  # --token-file: a refreshed token is written there
    refresh_margin: float = REFRESH_MARGIN  # refresh when the token expires within this
    refresh_check: float = REFRESH_CHECK  # seconds between looks
    current: SuiteRun | None = None
    suites_run: int = 0
    completed: int = 0
    failed: int = 0
    #: Each task's wait in the managed workers, asked → got (seconds; for --stats).
    waits: list[float] = field(default_factory=list)
    _leaving: Literal["graceful", "force"] | None = None
    _stops: int = 0
    _away: set[str] = field(default_factory=set)  # calls failing now (said once)
    _started: float = field(default_factory=time.monotonic)
    _available: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)
    _print_lock: threading.Lock = field(default_factory=threading.Lock)
    channel: Channel = field(init=False)

    def __post_init__(self) -> None:
        self.channel = Channel(self.server, self.token, self.group, on_push=self._push,
                               on_connect=self._beat, say=self.say)  # fmt: skip

    # --- output ---

    def progress(self, event: str, **fields: Any) -> None:
        """A progress line on stdout: words, or (``--json``) one JSON object."""
        if self.as_json:
            line = json.dumps({"event": event, **fields})
        else:
            line = "shipyard manager: " + _words(event, fields)
        with self._print_lock:
            self.out.write(line + "\n")
            self.out.flush()

    def say(self, text: str) -> None:
        """A diagnostic on stderr (what went wrong and what the manager does about it)."""
        sys.stderr.write(f"shipyard manager: {text}\n")
        sys.stderr.flush()

    # --- the run ---

    def run(self) -> int:
        """Serve suites until shut down; how many suites ran here."""
        self.folder.mkdir(parents=True, exist_ok=True)
        registered = self.channel.register(RegisterBody(
            tags=self.tags, hostname=socket.gethostname()[:255],
            cpus=max(1, len(os.sched_getaffinity(0)))))  # fmt: skip
        self.manager_id = registered.manager_id
        self.lease = registered.lease
        # Never slower than the coordinator expects (a test's short offline setting).
        self.heartbeat = heartbeat_interval(self.heartbeat, registered.heartbeat)
        self.progress("registered", manager=self.manager_id, group=self.group, tags=self.tags)
        self.channel.start()
        for target in (self._heartbeats, self._holds, self._refreshes):
            threading.Thread(target=target, daemon=True, name=target.__name__).start()
        try:
            while self._leaving is None:
                view = self._next_suite()
                if view is None:
                    self._available.wait(self.heartbeat)
                    self._available.clear()
                    continue
                self.current = SuiteRun(self.channel, view, self.folder, self.manager_id,
                                        self.progress, self.say)  # fmt: skip
                if self._leaving is not None:  # a stop came as the suite was taken
                    self.current.stop(self._leaving)
                try:
                    self.current.run()
                finally:
                    self.completed += self.current.completed
                    self.failed += self.current.failed
                    if self.current.pool is not None:
                        self.waits.extend(self.current.pool.waits)
                    self.suites_run += 1
                    self.current = None
                self.progress("idle", manager=self.manager_id)
        finally:
            self._done.set()
            self.channel.close()
            if self.stats is not None:
                summary = request_stats(self.channel.timings, self.channel.over_http)
                summary["workers"] = wait_stats(self.waits)
                self.stats.write_text(json.dumps(summary, indent=2) + "\n")
        self.progress("left", manager=self.manager_id, suites=self.suites_run,
                      completed=self.completed, failed=self.failed)  # fmt: skip
        return self.suites_run

    def _next_suite(self) -> Any:
        try:
            reply = self.channel.request(NextSuite(id=0))
        except ChannelError as error:
            if error.status == 409:
                # Marked offline while the coordinator could not hear it (it restarted, or the
                # machine was slow past manager_offline): a heartbeat makes it live again, and
                # the suite taken from it is offered again.
                self.say(f"next_suite: {error.message}; heartbeating to be live again")
                try:
                    self._beat()
                except ChannelError as beat:
                    self.say(f"heartbeat: {beat.message}; asking again at the next heartbeat")
                return None
            if not error.transient:
                raise
            self.say(f"next_suite: {error.message}; asking again at the next heartbeat")
            return None
        assert isinstance(reply, Assigned)
        return reply.suite

    # --- heartbeats and holds ---

    def _metrics(self) -> Metrics:
        run = self.current
        return Metrics(
            active_workers=len(run.pool.processes) if run and run.pool else 0,
            tasks_completed=self.completed + (run.completed if run else 0),
            tasks_failed=self.failed + (run.failed if run else 0),
            uptime_seconds=time.monotonic() - self._started,
        )

    def _beat(self) -> None:
        run = self.current
        state = run.state if run is not None else "idle"
        reply = self.channel.request(Heartbeat(
            id=0, state=state, suite_uuid=run.uuid if run else None,
            metrics=self._metrics()))  # fmt: skip
        assert isinstance(reply, HeartbeatAck)
        self.lease = reply.lease or self.lease
        if reply.shutdown is not None:
            self.stop(reply.shutdown)
        if run is not None and reply.suite is not None:
            run.seen(reply.suite)
            run.recheck = True
        elif run is None and reply.suite is not None:
            self._available.set()

    def _failed(self, what: str, error: ChannelError) -> None:
        """Said once while the coordinator stays away (a heartbeat a second would flood)."""
        if what not in self._away:
            self._away.add(what)
            self.say(f"{what}: {error.message} (said once; tried again every time)")

    def _answered(self, what: str) -> None:
        if what in self._away:
            self._away.discard(what)
            self.say(f"{what}: the coordinator answers again")

    def _heartbeats(self) -> None:
        while not self._done.wait(self.heartbeat):
            try:
                self._beat()
            except ChannelError as error:
                self._failed("heartbeat", error)
            else:
                self._answered("heartbeat")

    def _holds(self) -> None:
        while not self._done.wait(hold_interval(self.lease)):
            run = self.current
            if run is None:
                continue
            asked = run.holding()
            if not asked:
                continue
            try:
                reply = self.channel.request(Hold(id=0, holding=asked))
            except ChannelError as error:
                self._failed("hold", error)
                continue
            self._answered("hold")
            assert isinstance(reply, Held)
            run.check_held(set(asked), set(reply.held))

    def _refreshes(self) -> None:
        # A first look at once: a token that expires before the first (hourly) look is
        # refreshed all the same.
        while True:
            self._refresh_token()
            if self._done.wait(self.refresh_check):
                return

    def _refresh_token(self) -> None:
        times = token_times(self.channel.token)
        if times is None or not refresh_due(times[1], time.time(), self.refresh_margin):
            return
        issued, expires = times
        try:
            # The same lifetime as the token it replaces (at least the route's 60 s).
            token, expires_at = self.channel.refresh_token(max(60, expires - issued))
        except ChannelError as error:
            self._failed("token refresh", error)
            return
        self._answered("token refresh")
        if self.token_file is not None:
            try:
                write_token_file(self.token_file, token)
            except OSError as error:
                self.say(f"cannot write the new token to {self.token_file}: {error} "
                         "(it is used here all the same)")  # fmt: skip
        self.token = token
        self.channel.use_token(token)
        self.progress("token_refreshed", manager=self.manager_id, expires_at=expires_at)

    # --- pushes and stops ---

    def _push(self, message: BaseModel) -> None:
        run = self.current
        if isinstance(message, SuiteAvailable):
            if run is not None and run.uuid == message.suite_uuid:
                run.recheck = True
                run.wake.set()
            self._available.set()
        elif isinstance(message, CancelSuite):
            if run is not None and run.uuid == message.suite_uuid:
                self.progress("suite_cancelled", suite=message.suite_uuid,
                              cancel_running=message.cancel_running)  # fmt: skip
                run.cancel(message.cancel_running)
        elif isinstance(message, Shutdown):
            self.stop("graceful" if message.graceful else "force")

    def stop(self, how: Literal["graceful", "force"]) -> None:
        if self._leaving == "force" or self._leaving == how:
            return
        self._leaving = how
        self.progress("shutdown", how=how)
        run = self.current
        if run is not None:
            run.stop(how)
        self._available.set()

    def install_signals(self) -> None:
        def handler(_signal: int, _frame: object) -> None:
            self._stops += 1
            how: Literal["graceful", "force"] = "graceful" if self._stops == 1 else "force"
            # Off the signal handler: stopping takes locks the interrupted thread may hold.
            threading.Thread(target=self.stop, args=(how,), daemon=True).start()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


#: Progress events as a person reads them (``str.format`` of the event's fields).
_WORDS = {
    "registered": "registered as {manager} (group {group}, tags {tag_list})",
    "suite_taken": "suite {suite}{named} taken",
    "hook_ran": "suite {suite}: {hook} {how} in {seconds:g} s",
    "workers_started": "suite {suite}: {count} managed worker(s) started",
    "tasks_done": "suite {suite}: {completed} task(s) done, {failed} failed",
    "worker_ended": "suite {suite}: {reason}{crash}",
    "gave_up": "suite {suite}: given up on this machine: {reason}",
    "suite_cancelled": "suite {suite} cancelled{with_running}",
    "suite_done": "suite {suite} done ({reason}): {completed} task(s) done, {failed} failed",
    "idle": "idle",
    "shutdown": "shutting down ({how})",
    "token_refreshed": "token refreshed (expires at {expires_at})",
    "left": "left after {suites} suite(s), {completed} task(s) done",
}


def _words(event: str, fields: dict[str, Any]) -> str:
    """A progress event as a line a person reads."""
    extra = {
        "tag_list": ",".join(fields.get("tags") or []) or "none",
        "named": f" ({fields['name']})" if fields.get("name") else "",
        "how": fields.get("how") or ("ok" if fields.get("ok") else
                                     f"FAILED (exit {fields.get('exit_status')})"),
        "crash": f" (crash {fields.get('crashes')})" if fields.get("counted") else "",
        "with_running": " with its running tasks" if fields.get("cancel_running") else "",
    }  # fmt: skip
    template = _WORDS.get(event)
    return template.format(**(fields | extra)) if template else f"{event} {fields}"
