"""The coordinator's end of the manager channel (issue 14 §2): one request dispatcher
(:meth:`Channel.handle`) for the WebSocket ``/ws/managers`` and its HTTP fallback alike, the
pushes to connected managers, and the manager figures of ``/metrics``.

The protocol is :mod:`shipyard.coordinator.managerprotocol`'s. ``handle`` is blocking (the
database): the WebSocket loop runs each request on a thread of its own and writes each reply
as it finishes, so a slow fetch never holds back a heartbeat on the same socket.

Pushes cross coordinator processes through PostgreSQL: NOTIFY on channel ``shipyard_managers``
with ``{"manager": id, "push": {...}}`` (to one manager) or ``{"recheck": suite uuid}`` (a
suite has queued tasks: revision ``0005_managers``' trigger, or an assignment). Each server
process LISTENs on one connection of its own (a thread) and hands each push to the sockets it
holds. A push lost (no socket at that moment, a process restarted) costs little: the shutdown
flag and the suite's state are in every HeartbeatAck, and an idle manager asks ``next_suite``
on its own clock too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.coordinator import managerprotocol as mp
from shipyard.coordinator.managerqueries import CHANNEL
from shipyard.coordinator.managers import ManagerStore
from shipyard.coordinator.serving import Coordinator, Pool
from shipyard.coordinator.suites import Suite
from shipyard.coordinator.tasks import LEASE, Report
from shipyard.errors import BadRequest, CoordinatorError, DatabaseUnavailable

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.core import Metric

log = logging.getLogger(__name__)


# --- figures ---------------------------------------------------------------------------------


class Figures:
    """The manager and suite counters of ``/metrics`` (no-ops without a registry: the OpenAPI
    document's app)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry
        chosen = registry if registry is not None else CollectorRegistry()
        self.fetched: Counter = Counter(
            "shipyard_suite_tasks_fetched", "Tasks a manager claimed, by suite.", ["suite"],
            registry=chosen,
        )  # fmt: skip
        self.completed: Counter = Counter(
            "shipyard_suite_tasks_completed",
            "Task attempts a manager reported succeeded, by suite.", ["suite"], registry=chosen,
        )  # fmt: skip
        self.failed: Counter = Counter(
            "shipyard_suite_tasks_failed",
            "Task attempts a manager reported failed (exit status not 0), by suite.", ["suite"],
            registry=chosen,
        )  # fmt: skip
        self.heartbeats: Counter = Counter(
            "shipyard_manager_heartbeats", "Manager heartbeats received.", registry=chosen
        )
        self.hook_seconds: Histogram = Histogram(
            "shipyard_env_hook_duration_seconds", "A suite hook's run on a manager.",
            ["hook", "result"], registry=chosen,
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
        )  # fmt: skip
        self.hook_failures: Counter = Counter(
            "shipyard_env_hook_failures", "Suite hooks that failed on a manager.", ["hook"],
            registry=chosen,
        )  # fmt: skip
        self.connections: Gauge = Gauge(
            "shipyard_manager_websocket_connections",
            "Managers' WebSockets open to this coordinator process.", registry=chosen,
        )  # fmt: skip
        self.messages: Counter = Counter(
            "shipyard_manager_websocket_messages",
            "Messages on the managers' WebSockets, by direction (in, out) and type.",
            ["direction", "type"], registry=chosen,
        )  # fmt: skip


class StateFigures:
    """A prometheus-client collector: suites and managers by state, from the database at
    scrape time (as the task queue's figures)."""

    def __init__(self, stores: Pool[ManagerStore]) -> None:
        self._stores = stores

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        from shipyard.coordinator.suitestate import SUITE_STATES

        try:
            with self._stores.borrow() as store:
                suites, managers = store.counts()
        except DatabaseUnavailable:
            return
        by_suite = GaugeMetricFamily("shipyard_suites", "Suites by state.", labels=["state"])
        for state in SUITE_STATES:
            by_suite.add_metric([state], suites.get(state, 0))
        by_manager = GaugeMetricFamily("shipyard_managers", "Managers by state.", labels=["state"])
        for named in mp.MANAGER_STATES:
            by_manager.add_metric([named], managers.get(named, 0))
        yield by_suite
        yield by_manager


# --- the dispatcher --------------------------------------------------------------------------


@dataclass
class Channel:
    """The manager requests of one served coordinator."""

    coordinator: Coordinator
    offline_after: float = mp.OFFLINE_AFTER
    figures: Figures = field(default_factory=lambda: Figures(None))
    stores: Pool[ManagerStore] = field(init=False)
    #: The suite each manager last fetched from (the label of its reports' figures).
    _suites: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        url = self.coordinator.url
        self.stores = Pool(lambda: ManagerStore(url))

    @property
    def lease(self) -> float:
        return self.coordinator.lease if self.coordinator.lease is not None else LEASE

    def handle(self, manager: str, group: str, request: mp.Request) -> mp.Reply:
        """The reply to one request of ``manager`` (of ``group``): a refusal is an
        :class:`~shipyard.coordinator.managerprotocol.Error` reply, never an exception."""
        try:
            return self._handlers[request.type](self, manager, group, request)
        except CoordinatorError as refused:
            return mp.Error(id=request.id, status=refused.http_status, msg=refused.message,
                            hint=refused.hint)  # fmt: skip

    def view(self, store: ManagerStore, suite_id: int | None, group: str) -> mp.SuiteView | None:
        if suite_id is None:
            return None
        return suite_view(store.suite(suite_id), group)

    # --- one method a request type ---

    def _heartbeat(self, manager: str, group: str, request: mp.Heartbeat) -> mp.Reply:
        with self.stores.borrow() as store:
            beat = store.heartbeat(manager, request.state, request.metrics.model_dump())
            suite = self.view(store, beat.suite_id, group)
        self.figures.heartbeats.inc()
        if beat.was == "offline":
            log.info("manager %s is back", manager, extra={"action": "manager_back"})
        return mp.HeartbeatAck(id=request.id, suite=suite, shutdown=beat.shutdown,
                               lease=self.lease)  # fmt: skip

    def _next_suite(self, manager: str, group: str, request: mp.NextSuite) -> mp.Reply:
        with self.stores.borrow() as store:
            suite = self.view(store, store.next_suite(manager), group)
        if suite is not None:
            self._suites[manager] = suite.uuid
        return mp.Assigned(id=request.id, suite=suite)

    def _fetch(self, manager: str, group: str, request: mp.Fetch) -> mp.Reply:
        with self.stores.borrow() as store:
            suite_id = store.fetch_suite(manager, request.suite_uuid)
            with self.coordinator.queues.borrow() as queue:
                claimed = queue.fetch(manager, request.limit, suite=suite_id)
            suite = suite_view(store.suite(suite_id), group)
        self._suites[manager] = suite.uuid
        if claimed:
            self.figures.fetched.labels(suite.uuid).inc(len(claimed))
        tasks = [
            mp.ClaimedTask(uuid=c.uuid, attempt=c.attempt, command=c.command, env=c.env,
                           local_path=c.local_path, timeout=c.timeout, priority=c.priority)
            for c in claimed
        ]  # fmt: skip
        return mp.Tasks(id=request.id, tasks=tasks, suite=suite)

    def _hold(self, manager: str, group: str, request: mp.Hold) -> mp.Reply:
        with self.coordinator.queues.borrow() as queue:
            return mp.Held(id=request.id, held=queue.heartbeat(manager, request.holding))

    def _report(self, manager: str, group: str, request: mp.Report) -> mp.Reply:
        from shipyard.coordinator.decisions import checked_uuid

        seen = [checked_uuid(r.uuid) for r in request.reports]
        if len(set(seen)) != len(seen):
            raise BadRequest("a task is reported twice in one report",
                             hint="send each task's report once")  # fmt: skip
        with self.coordinator.queues.borrow() as queue:
            outcome = queue.report_many(manager, [
                Report(r.uuid, r.attempt, r.exit_status, r.output) for r in request.reports
            ])  # fmt: skip
        label = self._suites.get(manager, "unknown")
        results = []
        for uuid, sent in zip(seen, request.reports, strict=True):
            refused = outcome.refused.get(uuid)
            if refused is None:
                counter = self.figures.completed if sent.exit_status == 0 else self.figures.failed
                counter.labels(label).inc()
                results.append(mp.ReportResult(uuid=uuid, status=200, state=outcome.states[uuid]))
            else:
                results.append(mp.ReportResult(uuid=uuid, status=refused.http_status,
                                               msg=refused.message))  # fmt: skip
        return mp.Reported(id=request.id, results=results)

    def _release(self, manager: str, group: str, request: mp.Release) -> mp.Reply:
        with self.coordinator.queues.borrow() as queue:
            state = queue.release(manager, request.uuid, request.attempt, request.reason)
        with self.stores.borrow() as store:
            store.released(manager, request.uuid, request.reason)
        return mp.Ack(id=request.id, state=state)

    def _hook(self, manager: str, group: str, request: mp.HookRun) -> mp.Reply:
        with self.stores.borrow() as store:
            suite_id = store.suite_id(request.suite_uuid)
            store.event(manager, suite_id, request.hook, ok=request.ok,
                        exit_status=request.exit_status, seconds=request.seconds,
                        output=request.output)  # fmt: skip
        result = "ok" if request.ok else "failed"
        self.figures.hook_seconds.labels(request.hook, result).observe(request.seconds)
        if not request.ok:
            self.figures.hook_failures.labels(request.hook).inc()
        return mp.Ack(id=request.id)

    def _give_up(self, manager: str, group: str, request: mp.GiveUp) -> mp.Reply:
        with self.stores.borrow() as store:
            suite_id = store.suite_id(request.suite_uuid)
            store.event(manager, suite_id, "gave_up", ok=False, output=request.reason)
        with self.coordinator.queues.borrow() as queue:
            queue.release_all(manager, f"the manager gave the suite up: {request.reason}",
                              suite=suite_id)  # fmt: skip
        log.info("manager %s gave suite %s up: %s", manager, request.suite_uuid, request.reason,
                 extra={"action": "suite_given_up"})  # fmt: skip
        return mp.Ack(id=request.id)

    def _suite_done(self, manager: str, group: str, request: mp.SuiteDone) -> mp.Reply:
        with self.stores.borrow() as store:
            store.suite_done(manager, request.suite_uuid)
        return mp.Ack(id=request.id)

    _handlers: ClassVar[dict[str, Callable[..., mp.Reply]]] = {
        "heartbeat": _heartbeat,
        "next_suite": _next_suite,
        "fetch": _fetch,
        "hold": _hold,
        "report": _report,
        "release": _release,
        "hook": _hook,
        "give_up": _give_up,
        "suite_done": _suite_done,
    }

    # --- the server's sweep ---

    def sweep_once(self) -> list[str]:
        """Managers silent past ``offline_after``: offline, their tasks back to the queue now."""
        with self.stores.borrow() as store:
            gone = store.sweep_offline(self.offline_after)
        for manager in gone:
            with self.coordinator.queues.borrow() as queue:
                requeued = queue.recover(release=manager)
            log.warning(
                "manager %s silent for %g s: offline, %d of its tasks back to the queue",
                manager, self.offline_after, len(requeued), extra={"action": "manager_offline"},
            )  # fmt: skip
        return gone


def suite_view(suite: Suite, group: str) -> mp.SuiteView:
    return mp.SuiteView(
        uuid=suite.uuid, name=suite.name, group=group, state=suite.state,
        priority=suite.priority, pending=suite.pending, running=suite.running,
        worker_schedule=suite.worker_schedule, env_preparation=suite.env_preparation,
        env_cleanup=suite.env_cleanup,
    )  # fmt: skip


def parsed(text: str | bytes) -> mp.Request | mp.Error:
    """A frame's request, or the error reply saying what is wrong with it (with its ``id``
    when one can be read, so the manager can match it)."""
    from pydantic import ValidationError

    try:
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        return mp.Error(id=None, status=400, msg=f"the message is not JSON: {error}",
                        hint="send one JSON object a frame (managerprotocol)")  # fmt: skip
    given = raw.get("id") if isinstance(raw, dict) else None
    ident = given if isinstance(given, int) and not isinstance(given, bool) else None
    try:
        return mp.REQUEST.validate_python(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors()[:5]
        )
        return mp.Error(id=ident, status=400, msg=f"malformed request: {problems}",
                        hint="see shipyard.coordinator.managerprotocol")  # fmt: skip


# --- pushes ----------------------------------------------------------------------------------


Send = Callable[[str], Any]


class Hub:
    """The sockets this process holds, by manager, and the LISTEN that feeds them pushes."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self._sockets: dict[str, set[Send]] = {}
        self._sending: set[asyncio.Future[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, manager: str, send: Send) -> None:
        self._sockets.setdefault(manager, set()).add(send)

    def remove(self, manager: str, send: Send) -> bool:
        """Forget a socket; whether the manager has none left here."""
        held = self._sockets.get(manager, set())
        held.discard(send)
        if not held:
            self._sockets.pop(manager, None)
            return True
        return False

    def connected(self) -> list[str]:
        return list(self._sockets)

    def deliver(self, manager: str, push: dict[str, Any]) -> None:
        """On the event loop: the push to each socket of ``manager`` held here."""
        text = json.dumps(push)
        for send in list(self._sockets.get(manager, ())):
            self.channel.figures.messages.labels("out", str(push.get("type"))).inc()
            sending = asyncio.ensure_future(send(text))
            self._sending.add(sending)  # held until done (a bare task may be collected)
            sending.add_done_callback(self._sending.discard)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._listening, name="manager-pushes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _listening(self) -> None:
        """LISTEN until stopped; a lost connection is made again (pushes meanwhile are lost:
        the heartbeats carry what matters)."""
        import psycopg

        while not self._stop.is_set():
            try:
                self._listen_once()
            except psycopg.OperationalError as error:  # PostgreSQL away: no traceback for it
                log.warning("manager pushes: LISTEN failed (%s); trying again in 1 s",
                            str(error).strip(), extra={"action": "push_listen_failed"})  # fmt: skip
                self._stop.wait(1.0)
            except Exception:  # anything else: try again shortly, with what went wrong
                log.warning("manager pushes: LISTEN failed", exc_info=True,
                            extra={"action": "push_listen_failed"})  # fmt: skip
                self._stop.wait(1.0)

    def _listen_once(self) -> None:
        import psycopg

        from shipyard.coordinator.migrate import libpq_url

        with psycopg.connect(libpq_url(self.channel.coordinator.url), autocommit=True) as db:
            db.execute(f"LISTEN {CHANNEL}")
            while not self._stop.is_set():
                for note in db.notifies(timeout=0.5):
                    self._received(note.payload)

    def _received(self, payload: str) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            return
        if "recheck" in message:
            pushes = self._available(str(message["recheck"]))
        elif "manager" in message and isinstance(message.get("push"), dict):
            pushes = [(str(message["manager"]), message["push"])]
        else:
            return
        loop = self._loop
        for manager, push in pushes:
            if manager in self._sockets and loop is not None:
                loop.call_soon_threadsafe(self.deliver, manager, push)

    def _available(self, suite: str) -> list[tuple[str, dict[str, Any]]]:
        here = self.connected()
        if not here:
            return []
        with self.channel.stores.borrow() as store:
            found = store.available_to(suite, here)
        return [
            (manager, {"type": "suite_available", "suite_uuid": suite, "priority": priority})
            for manager, priority in found
        ]


async def serve_socket(
    hub: Hub, manager: str, group: str, receive: Callable[[], Any], send: Send
) -> None:
    """One manager's socket until it closes: each request handled on a thread, its reply
    written when ready (out of order when a later one finishes first)."""
    from fastapi.concurrency import run_in_threadpool

    channel = hub.channel
    lock = asyncio.Lock()
    running: set[asyncio.Task[None]] = set()

    async def locked_send(text: str) -> None:
        async with lock:
            with contextlib.suppress(Exception):  # the socket closed: nobody to tell
                await send(text)

    async def answer(request: mp.Request) -> None:
        reply = await run_in_threadpool(channel.handle, manager, group, request)
        channel.figures.messages.labels("out", reply.type).inc()
        await locked_send(reply.model_dump_json())

    hub.add(manager, locked_send)
    channel.figures.connections.inc()
    try:
        while True:
            text = await receive()
            if text is None:
                return
            request = parsed(text)
            if isinstance(request, mp.Error):
                channel.figures.messages.labels("in", "malformed").inc()
                channel.figures.messages.labels("out", "error").inc()
                await locked_send(request.model_dump_json())
                continue
            channel.figures.messages.labels("in", request.type).inc()
            task = asyncio.create_task(answer(request))
            running.add(task)
            task.add_done_callback(running.discard)
    finally:
        channel.figures.connections.dec()
        for task in list(running):
            task.cancel()
        hub.remove(manager, locked_send)
