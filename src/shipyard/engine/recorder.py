"""Batched recording of what an execution does: store writes and the structured event log.

The engine calls ``event`` and ``write`` as things happen; observers (the live progress display)
see each event at once, while the store and ``events.jsonl`` get them in batches — one
transaction and one file write per flush — so a 400-step run does not spend its time in fsync.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard.models import Event
from shipyard.store.base import Store

Observer = Callable[[Event], None]


def _json_line(event: Event, data_json: str) -> str:
    """One events.jsonl line: ts, action and unit, then the event's data, flattened."""
    head: dict[str, Any] = {"ts": event.ts, "action": event.action}
    if event.unit is not None:
        head["unit"] = event.unit
    text = json.dumps(head)
    return (text[:-1] + ", " + data_json[1:] if data_json != "{}" else text) + "\n"


class Recorder:
    def __init__(
        self,
        store: Store,
        execution_id: str,
        events_path: Path,
        *,
        observer: Observer | None = None,
        interval: float = 0.2,
    ) -> None:
        self._store = store
        self._execution_id = execution_id
        self._events_path = events_path
        self._observer = observer
        self._interval = interval
        self._events: list[Event] = []
        self._writes: list[Callable[[], None]] = []
        self.last_error: Exception | None = None  # of the latest failed periodic flush
        self._soon = False

    def event(self, action: str, unit: str | None = None, **data: Any) -> Event:
        event = Event(
            ts=time.time(), execution_id=self._execution_id, action=action, unit=unit, data=data
        )
        self._events.append(event)
        if self._observer is not None:
            self._observer(event)
        return event

    def write(self, operation: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        """Queue a store write, applied in order at the next flush."""
        self._writes.append(lambda: operation(*args, **kwargs))

    def flush(self) -> None:
        """Apply queued writes and events in one transaction.

        If the store refuses (locked for longer than its busy timeout, disk full), nothing queued
        is dropped: the batch stays queued for the next flush and the error is raised.
        """
        if not self._events and not self._writes:
            return
        events, writes = self._events, self._writes
        # Each event's data is serialised once, for the store and for events.jsonl alike.
        encoded = [json.dumps(event.data, default=str) for event in events]
        with self._store.transaction():
            for operation in writes:
                operation()
            if events:
                self._store.append_events(events, encoded)
        self._events, self._writes = [], []
        if events:
            with self._events_path.open("a", encoding="utf-8") as log:
                log.write("".join(map(_json_line, events, encoded)))

    def flush_soon(self) -> None:
        """Flush at the loop's next turn (several calls in one turn make one flush): for state
        changes others wait on, like a service turning healthy."""
        if self._soon:
            return
        self._soon = True

        def flush() -> None:
            self._soon = False
            try:
                self.flush()
            except Exception as error:  # kept queued; the periodic flush retries
                self.last_error = error

        asyncio.get_running_loop().call_soon(flush)

    async def flush_periodically(self) -> None:
        """Flush every ``interval`` seconds until cancelled. A failed flush is retried at the
        next tick (the batch is kept); the executor's final flush reports a lasting failure."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                self.flush()
            except Exception as error:
                self.last_error = error
