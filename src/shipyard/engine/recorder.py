"""Batched recording of what an execution does: store writes and the structured event log.

The engine calls ``event`` and ``write`` as things happen; observers (the live progress display)
see each event at once, while the store and ``events.jsonl`` get them in batches — one
transaction and one file write per flush — so a 400-step run does not spend its time in fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shipyard.errors import MachineFault, ShipyardError, StoreError
from shipyard.models import Event
from shipyard.store.base import Store
from shipyard.workspace import open_private

Observer = Callable[[Event], None]

#: Disk space set aside per execution for the end of its journal (see ``reserve_space``).
RESERVE_BYTES = 256 * 1024
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _json_line(event: Event, data_json: str) -> str:
    """One events.jsonl line: ts, action and unit, then the event's data, flattened."""
    head: dict[str, Any] = {"ts": event.ts, "action": event.action}
    if event.unit is not None:
        head["unit"] = event.unit
    text = json.dumps(head)
    return (text[:-1] + ", " + data_json[1:] if data_json != "{}" else text) + "\n"


def journal_durably(path: Path, events: Sequence[Event]) -> None:
    """Append ``events`` to the journal at ``path`` as the recorder writes them, and fsync:
    for records made outside a running engine (the steps a resumed run keeps), which must be
    on disk before the store commits them — what the user is told is what a rebuild finds.
    Raises OSError."""
    if not events:
        return
    text = "".join(_json_line(event, json.dumps(event.data, default=str)) for event in events)
    fd = open_private(path)
    try:
        data = text.encode()
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)


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
        self.journal_error: OSError | None = None  # of the latest failed events.jsonl write
        self._unwritten = b""  # events.jsonl bytes the disk has not taken yet
        self._uncommitted: list[tuple[Event, str]] = []  # journaled, not yet in the store
        self._reserve_path = events_path.with_name(".space-reserve")
        self._soon = False
        #: Flushes that reached the store (or found nothing to write): whatever was queued
        #: before a flush is committed once this has grown past its value at queueing time.
        self.commits = 0

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
        """Append new events to events.jsonl, then apply queued writes and events in one
        transaction.

        The journal comes first and does not depend on the store: it is what `status` recovers
        an outcome from when the store could not take it. Bytes the disk refused stay queued and
        are written, in order, at the next flush. If the store refuses (locked for longer than
        its busy timeout, disk full), nothing queued is dropped: the batch stays queued for the
        next flush and the error is raised.
        """
        if self._events:
            # Each event's data is serialised once, for the store and for events.jsonl alike.
            encoded = [json.dumps(event.data, default=str) for event in self._events]
            self._unwritten += "".join(map(_json_line, self._events, encoded)).encode()
            self._uncommitted.extend(zip(self._events, encoded, strict=True))
            self._events = []
        if self._unwritten:
            self._write_journal()
        if not self._uncommitted and not self._writes:
            self.commits += 1
            return
        with self._store.transaction():
            for operation in self._writes:
                operation()
            if self._uncommitted:
                self._store.append_events(
                    [event for event, _ in self._uncommitted],
                    [data for _, data in self._uncommitted],
                )
        self._uncommitted, self._writes = [], []
        self.commits += 1

    def _write_journal(self) -> None:
        """Write what events.jsonl has not got yet, as far as the disk allows (never twice: a
        partial write keeps exactly the bytes that did not make it)."""
        try:
            fd = open_private(self._events_path)
        except OSError as error:
            self.journal_error = error
            return
        try:
            while self._unwritten:
                written = os.write(fd, self._unwritten)
                self._unwritten = self._unwritten[written:]
            self.journal_error = None
        except OSError as error:
            self.journal_error = error
        finally:
            os.close(fd)

    @property
    def journal_complete(self) -> bool:
        """Every event so far is in events.jsonl."""
        return not self._events and not self._unwritten

    def reserve_space(self) -> None:
        """Set aside a little disk space in the run folder, released only at the final flush if
        the disk is full then: so the end of an execution still reaches events.jsonl."""
        try:
            fd = open_private(self._reserve_path, os.O_WRONLY | os.O_CREAT)
        except OSError:
            return  # no space even for this: the journal is written as far as it can be
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        except OSError:  # a file system without fallocate, or already full
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)

    def final_flush(self) -> None:
        """The last flush of an execution (nothing runs any more). A disk too full for the
        journal gets the reserved space back; a store that still refuses is reported with where
        the outcome is kept."""
        failure: Exception | None = None
        try:
            self.flush()
        except Exception as error:
            failure = error
        self._release_reserve_if_full()
        with contextlib.suppress(OSError):
            self._reserve_path.unlink(missing_ok=True)
        if failure is not None:
            raise self._unsaved(failure) from failure

    def _release_reserve_if_full(self) -> None:
        error = self.journal_error
        if self._unwritten and isinstance(error, OSError) and error.errno in _NO_SPACE:
            with contextlib.suppress(OSError):
                self._reserve_path.unlink(missing_ok=True)
            self._write_journal()

    def _unsaved(self, error: Exception) -> ShipyardError:
        what = error.message if isinstance(error, ShipyardError) else str(error)
        hint = (
            f"its outcome is kept in {self._events_path}: once the store can be written again, "
            f"`shipyard status {self._execution_id}` records it"
            if self.journal_complete
            else f"the units' logs are intact in {self._events_path.parent}; the end of "
            "events.jsonl could not be written either"
        )
        # The cause's kind (DiskFull, NotWritable…: exit 3) with what it means for this run.
        kind = type(error) if isinstance(error, StoreError | MachineFault) else StoreError
        return kind(f"the execution ended but its record could not be saved: {what}", hint=hint)

    def flush_soon(self) -> None:
        """Flush at the loop's next turn (several calls in one turn make one flush): for state
        changes others wait on, like a service turning healthy."""
        if self._soon:
            return
        self._soon = True

        def flush() -> None:
            self._soon = False
            # A failure keeps the batch queued: the periodic flush retries it, and stops the
            # run if the store keeps refusing (see flush_periodically).
            with contextlib.suppress(Exception):
                self.flush()

        asyncio.get_running_loop().call_soon(flush)

    async def flush_periodically(self, *, patience: int = 3) -> None:
        """Flush every ``interval`` seconds until cancelled. A failed flush keeps its batch and
        is retried at the next tick (a store locked for a moment); ``patience`` failures in a
        row end this task with the last error, which stops the run with that error recorded
        (it runs as a monitored side task, see :class:`shipyard.engine.runtime.ExecutionRun`):
        a run whose store refuses every write must not go on as if all were well."""
        self.reserve_space()
        failures = 0
        while True:
            await asyncio.sleep(self._interval)
            try:
                self.flush()
            except Exception:
                failures += 1
                if failures >= patience:
                    raise
            else:
                failures = 0
