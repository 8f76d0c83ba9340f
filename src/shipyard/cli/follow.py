"""Following an execution that runs in this process's main thread: its events and its logs,
read through the operations API from a thread of their own (as a remote front end would).

The engine drives the execution on the main thread (its signal handlers need it: Ctrl-C stops
the run gracefully); the live views are fed by a follower that polls
:meth:`shipyard.api.Executions.events` with its own :class:`~shipyard.api.Operations` (an
SQLite connection belongs to the thread that opened it), and that drains every event left
once the run has returned, so nothing is lost between the last poll and the end.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.api import LogLine, Operations
    from shipyard.models import Event

#: Between two looks at the store while a run goes on: the engine commits events every 200 ms,
#: so looking more often would mostly find nothing new.
POLL = 0.1


@contextlib.contextmanager
def events_of(
    connect: Callable[[], Operations],
    execution_id: str,
    after: int,
    on_event: Callable[[Event], None],
) -> Iterator[None]:
    """Call ``on_event`` with each event of ``execution_id`` after cursor ``after``, from
    a thread, while the body runs; then with every event still unseen, before returning."""
    done = threading.Event()
    failure: list[BaseException] = []

    def follow() -> None:
        ops = connect()
        try:
            cursor = after
            while True:
                last_look = done.wait(POLL)
                batch = ops.events(execution_id, after=cursor)
                for event in batch.events:
                    on_event(event)
                cursor = batch.cursor
                if last_look:
                    return
        except BaseException as error:  # shown on the main thread, where it can be raised
            failure.append(error)
        finally:
            ops.close()

    thread = threading.Thread(target=follow, name="shipyard-events", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    if failure:
        raise failure[0]


@contextlib.contextmanager
def logs_of(
    connect: Callable[[], Operations],
    execution_id: str,
    on_line: Callable[[LogLine], None],
) -> Iterator[None]:
    """Call ``on_line`` with every line the execution's units write, from a thread, while the
    body runs; the follow ends by itself once every unit has finished (and its lines are out)."""

    def follow() -> None:
        ops = connect()
        try:
            for line in ops.logs(execution_id, follow=True):
                on_line(line)
        finally:
            ops.close()

    thread = threading.Thread(target=follow, name="shipyard-logs", daemon=True)
    thread.start()
    try:
        yield
    finally:
        # Normally the units have all finished by now and the follow ends at its next look;
        # if the body failed before the run was driven, nothing will finish: do not hang.
        thread.join(timeout=5.0)
