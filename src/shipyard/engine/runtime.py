"""What every engine (pipeline or fleet) shares: the units' base environment, and one
execution's run — its lifecycle and the side tasks that keep it going.

:class:`ExecutionRun` is that lifecycle, written once for both executors: mark the execution
running, start the periodic flush and the heartbeat, open the spawn journal; at the end record
how it ended, stop the side tasks, sweep the containment, flush for the last time, close the
journal. Its side tasks (flush, heartbeat, sampling, automatic checkpoints…) are *monitored*: one
that dies of an error stops the run through ``on_fault``, with the error in an event and in the
execution's reason — never silently, never leaving a half-alive run whose store nobody writes.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from shipyard.engine.containment import Containment
from shipyard.engine.recorder import Recorder
from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState
from shipyard.plan.model import Plan
from shipyard.store.base import Store
from shipyard.workspace import RunDir


def base_environment(
    plan: Plan, execution_id: str, run_dir: RunDir, base: dict[str, str] | None = None
) -> dict[str, str]:
    """This process's environment (or ``base``) plus what every unit of the execution gets.
    SHIPYARD_EXECUTION_ID also marks every process the execution starts, for cleanup."""
    env = dict(os.environ if base is None else base)
    env.update(
        SHIPYARD_EXECUTION_ID=execution_id,
        SHIPYARD_RUN_DIR=str(run_dir.root),
        SHIPYARD_ARTIFACTS_DIR=str(run_dir.artifacts),
        SHIPYARD_MODE=plan.mode,
        TMPDIR=str(run_dir.tmp),
    )
    return env


async def heartbeat(
    recorder: Recorder, store: Store, execution_id: str, interval: float = 1.0
) -> None:
    """The heartbeat other processes use to tell a live run from one whose process died."""
    while True:
        await asyncio.sleep(interval)
        recorder.write(store.update_execution, execution_id, heartbeat_at=time.time())


def describe_failure(name: str, error: BaseException) -> str:
    """The reason an execution ends with when its side task ``name`` died of ``error``."""
    what = error.message if isinstance(error, ShipyardError) else f"{type(error).__name__}: {error}"
    return f"the engine's {name} task failed: {what}"


class ExecutionRun:
    """One execution's run, shared by the executors that take part in it (a fleet hosting
    steps shares its own with the pipeline executor). ``on_fault(reason)`` is the owner's way
    to stop the run when a side task dies; it is called once, with the first such failure."""

    def __init__(
        self,
        *,
        execution_id: str,
        run_dir: RunDir,
        store: Store,
        recorder: Recorder,
        containment: Containment,
        on_fault: Callable[[str], None],
    ) -> None:
        self.execution_id = execution_id
        self.run_dir = run_dir
        self.store = store
        self.recorder = recorder
        self.containment = containment
        self._on_fault = on_fault
        self.fault: str | None = None  # why a side task stopped the run, if one did
        self.started = 0.0
        self._journal = -1
        self._attempts = -1
        self._tasks: dict[asyncio.Task[None], str] = {}
        self._lifelong: list[asyncio.Task[None]] = []

    # -- the beginning ----------------------------------------------------------------------

    def begin(self, **started: Any) -> None:
        """Mark the execution running (written at once: `status` may look right away), record
        its start and containment, open the spawn journal, start the flush and the heartbeat."""
        self.started = time.time()
        self.store.update_execution(
            self.execution_id,
            state=ExecutionState.RUNNING,
            started_at=self.started,
            supervisor_pid=os.getpid(),
            heartbeat_at=self.started,
        )
        self.recorder.event("execution_started", **started)
        self.recorder.event(
            "containment",
            mechanism=self.containment.mechanism,
            detail=self.containment.detail(),
        )
        self._journal = os.open(self.run_dir.spawns, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._attempts = os.open(
            self.run_dir.attempts, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
        )
        self._lifelong = [
            self.side_task("flush", self.recorder.flush_periodically()),
            self.side_task("heartbeat", heartbeat(self.recorder, self.store, self.execution_id)),
        ]

    # -- side tasks -------------------------------------------------------------------------

    def side_task(self, name: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``work`` beside the units, watched: if it raises, the run stops with its error.
        Ending normally (nothing to do, say) is fine; cancelling it is how it is stopped."""
        task = asyncio.create_task(work, name=f"shipyard-{name}")
        self._tasks[task] = name
        task.add_done_callback(self._side_task_done)
        return task

    def _side_task_done(self, task: asyncio.Task[None]) -> None:
        name = self._tasks.pop(task, "side")
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            return
        reason = describe_failure(name, error)
        self.recorder.event("side_task_failed", task=name, reason=reason)
        if self.fault is None:
            self.fault = reason
            self._on_fault(reason)

    @staticmethod
    async def stop_tasks(tasks: Iterable[asyncio.Task[None]]) -> None:
        """Cancel ``tasks`` and wait until they are gone. Their errors, if any, were already
        handled by the monitor (:meth:`side_task`): nothing is swallowed here."""
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    # -- the spawn journal ------------------------------------------------------------------

    def journal(self, entry: str) -> None:
        """Note a unit the run started (a handle's ``journal_entry()``), before anything else
        happens to it: the watchdog and `status` kill what it lists if this process dies. One
        small unbuffered append (no fsync: it must survive our death, not the machine's)."""
        os.write(self._journal, entry.encode())

    def note_attempt(self, line: bytes) -> None:
        """Append a line (:mod:`shipyard.engine.attemptlog`) to the attempt journal: one
        unbuffered write, before whatever the line tells of is acted on."""
        os.write(self._attempts, line)

    # -- the end ----------------------------------------------------------------------------

    async def end(self, state: ExecutionState, reason: str | None, **finished: Any) -> None:
        """Record how the execution ended, stop the side tasks, sweep its containment, flush
        for the last time (a StoreError saying where the outcome is kept, if the store refuses)
        and close the journal."""
        self.recorder.event("execution_finished", state=state.value, reason=reason, **finished)
        self.recorder.write(
            self.store.update_execution,
            self.execution_id,
            state=state,
            ended_at=time.time(),
            reason=reason,
        )
        await self.stop_tasks(self._lifelong)
        try:
            self.containment.close()  # the execution's last sweep; its cgroup goes
            self.recorder.final_flush()
        finally:
            os.close(self._journal)
            os.close(self._attempts)
