"""Watching executions: status (with its estimate), the event stream, the list; each look
first settles an execution whose supervisor died (reconcile)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from shipyard.errors import ExecutionNotFound
from shipyard.models import ExecutionStatus, ExecutionSummary
from shipyard.operations.core import Core
from shipyard.operations.reconcile import reconcile

if TYPE_CHECKING:
    from shipyard.api import EventBatch


class WatchOperations:
    def status(self: Core, execution_id: str | None = None) -> ExecutionStatus:
        wanted = execution_id or self.store.latest_execution_id()
        if wanted is None:
            raise ExecutionNotFound(
                "there are no executions yet", hint="start one with `shipyard run FILE`"
            )
        self._reconcile(wanted)
        status = self.store.get_execution(wanted)
        if status is None:
            raise ExecutionNotFound(
                f"no execution '{wanted}' in {self.workspace.home}",
                hint="`shipyard list` shows the executions; SHIPYARD_HOME selects the state folder",
            )
        if not status.state.finished and all(unit.kind == "step" for unit in status.units):
            from shipyard.operations.estimates import with_estimate

            status = with_estimate(status, self.store.mean_durations(status.name), self.clock)
        return status

    def events(
        self: Core, execution_id: str, *, after: int = 0, limit: int | None = None
    ) -> EventBatch:
        """The execution's committed events after cursor ``after`` (the store's event id)."""
        from shipyard.api import EventBatch

        status = self.status(execution_id)
        rows = self.store.events(status.id, after_id=after)
        if limit is not None:
            rows = rows[:limit]
        # `finished` is read before the events are: an execution that ends between the two
        # reads is reported unfinished, and the follower simply asks once more.
        finished = status.state.finished and (limit is None or len(rows) < limit)
        cursor = rows[-1][0] if rows else after
        return EventBatch(status.id, [event for _, event in rows], cursor, finished)

    def _looker(self: Core, execution_id: str) -> Callable[[], ExecutionStatus]:
        return lambda: self.status(execution_id)

    def list_executions(
        self: Core, *, active_only: bool = False, name: str | None = None, limit: int = 50
    ) -> list[ExecutionSummary]:
        for summary in self.store.list_executions(active_only=True, limit=limit):
            self._reconcile(summary.id)
        return self.store.list_executions(active_only=active_only, name=name, limit=limit)

    def _reconcile(self: Core, execution_id: str) -> None:
        reconcile(self.store, self.workspace.run_dir(execution_id), execution_id, self.clock)
