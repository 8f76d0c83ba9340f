"""What the coordinator's routes share inside one served app: the database engine, the auth,
the task queue's connections, the artifact folder and the ``/metrics`` figures.

Connections: :class:`~shipyard.coordinator.tasks.TaskQueue` holds one psycopg connection used
by one thread at a time, and FastAPI runs the routes in a thread pool. A *pool* of queues (not
one per thread) is used: a request borrows a queue and gives it back, so the connections open
are as many as requests run at once (never more than the thread pool), a connection broken by
a PostgreSQL restart is dropped instead of staying bound to a thread for good (the next request
connects again), and the app can close them all when it stops. Long-polling fetches borrow a
:class:`~shipyard.coordinator.tasks.Listener` from a pool of their own the same way.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from shipyard.coordinator.queries import ENDED_CHANNEL
from shipyard.coordinator.tasks import POLL, Listener, TaskQueue
from shipyard.errors import BadRequest, DatabaseUnavailable

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Histogram
    from prometheus_client.core import Metric
    from sqlalchemy import Engine

    from shipyard.coordinator.auth import Auth

#: The largest artifact one upload may hold (bytes) unless the ``[coordinator]`` table of the
#: settings says ``max_artifact_bytes``.
MAX_ARTIFACT = 1024**3
#: The longest a worker's fetch may wait for work (seconds): it holds a server thread meanwhile.
MAX_WAIT = 60.0
#: Idle connections kept for the next requests (more are opened under load, then closed).
KEEP_IDLE = 16


class Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closable)


class Pool(Generic[C]):
    """Connections lent one request at a time; a broken one is closed, not given back."""

    def __init__(self, make: Callable[[], C], keep: int = KEEP_IDLE) -> None:
        self._make = make
        self._keep = keep
        self._idle: list[C] = []
        self._lock = threading.Lock()
        self.opened = 0

    @contextlib.contextmanager
    def borrow(self) -> Iterator[C]:
        with self._lock:
            item = self._idle.pop() if self._idle else None
        if item is None:
            item = self._make()
            self.opened += 1
        try:
            yield item
        except DatabaseUnavailable:
            # The connection may be the broken thing: a fresh one next time. The idle ones
            # went to the same server: after a PostgreSQL restart each would fail one more
            # request (a 503 each) before being dropped, so they go now too.
            with contextlib.suppress(Exception):
                item.close()
            self.close()
            raise
        except BaseException:
            self._give_back(item)
            raise
        self._give_back(item)

    def _give_back(self, item: C) -> None:
        with self._lock:
            if len(self._idle) < self._keep:
                self._idle.append(item)
                return
        item.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for item in idle:
            with contextlib.suppress(Exception):
                item.close()


@dataclass
class Coordinator:
    """One per served app (``routers(settings)`` makes it)."""

    url: str
    engine: Engine
    auth: Auth
    storage: Path
    max_artifact: int = MAX_ARTIFACT
    max_wait: float = MAX_WAIT
    lease: float | None = None
    #: A waiting fetch looks again this often with no notification (the safety net, seconds).
    poll: float = POLL
    fetch_seconds: Histogram | None = None
    queues: Pool[TaskQueue] = field(init=False)
    listeners: Pool[Listener] = field(init=False)
    #: Listeners for tasks' ends: a result awaited with ``wait`` (GET /tasks/{uuid}/result).
    ended: Pool[Listener] = field(init=False)

    def __post_init__(self) -> None:
        lease = self.lease

        def queue() -> TaskQueue:
            return TaskQueue(self.url) if lease is None else TaskQueue(self.url, lease=lease)

        self.queues = Pool(queue)
        self.listeners = Pool(lambda: Listener(self.url))
        self.ended = Pool(lambda: Listener(self.url, ENDED_CHANNEL))

    def close(self) -> None:
        self.queues.close()
        self.listeners.close()
        self.ended.close()
        self.engine.dispose()

    def timed_fetch(self, queue: TaskQueue, worker: str, limit: int) -> list[Any]:
        """One claim, its duration observed (the fetch latency histogram of /metrics)."""
        started = time.perf_counter()
        claimed = queue.fetch(worker, limit)
        if self.fetch_seconds is not None:
            self.fetch_seconds.observe(time.perf_counter() - started)
        return claimed


def settings_number(table: dict[str, Any], name: str, default: float, low: float) -> float:
    """A number of the ``[coordinator]`` settings table, checked."""
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
        raise BadRequest(
            f"[coordinator] {name} = {value!r} is not a number ≥ {low:g}",
            hint="fix it in the settings file (docs/server.md)",
        )
    return float(value)


def install_metrics(coordinator: Coordinator, registry: CollectorRegistry | None) -> None:
    """Tasks by state, queue depth and workers by state (read at each scrape from the queue's
    ``counts()``), and the fetch latency histogram, in the app's registry."""
    if registry is None:
        return
    from prometheus_client import Histogram

    coordinator.fetch_seconds = Histogram(
        "shipyard_task_fetch_seconds",
        "Time a worker's claim of tasks takes (the wait for work excluded).",
        buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        registry=registry,
    )
    registry.register(_QueueFigures(coordinator))


class _QueueFigures:
    """A prometheus-client collector: the figures are the database's at scrape time."""

    def __init__(self, coordinator: Coordinator) -> None:
        self._coordinator = coordinator

    def describe(self) -> list[Metric]:
        return []  # figures vary with the database; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        try:
            with self._coordinator.queues.borrow() as queue:
                counts = queue.counts()
        except DatabaseUnavailable:
            return  # the scrape still answers (HTTP figures); these are missing, not wrong
        tasks = GaugeMetricFamily("shipyard_tasks", "Tasks by state.", labels=["state"])
        for state, number in counts.tasks.items():
            tasks.add_metric([state], number)
        depth = GaugeMetricFamily("shipyard_queue_depth", "Tasks queued, waiting for a worker.")
        depth.add_metric([], counts.tasks.get("queued", 0))
        workers = GaugeMetricFamily("shipyard_workers", "Workers by state.", labels=["state"])
        for state, number in counts.workers.items():
            workers.add_metric([state], number)
        yield from (tasks, depth, workers)
