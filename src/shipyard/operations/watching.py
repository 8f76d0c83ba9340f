"""Watching executions: status (with its estimate), the event stream, the list; each look
first settles an execution whose supervisor died (reconcile)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from shipyard.errors import ExecutionNotFound
from shipyard.models import Event, ExecutionStatus, ExecutionSummary
from shipyard.nodes import with_nodes
from shipyard.operations.core import Core
from shipyard.operations.reconcile import reconcile

if TYPE_CHECKING:
    from shipyard.api import EventBatch


class WatchOperations:
    def status(self: Core, execution_id: str | None = None) -> ExecutionStatus:
        wanted = execution_id_of(self, execution_id)
        self._reconcile(wanted)
        status = self.store.get_execution(wanted)
        if status is None:  # deleted between the two reads (clean --level complete)
            raise not_found(self, wanted)
        status = with_nodes(with_hooks(status, self.store.hook_events(wanted)))
        if not status.state.finished and all(unit.kind == "step" for unit in status.units):
            from shipyard.operations.estimates import with_estimate

            status = with_estimate(status, self.store, self.clock)
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
        # A pipeline's name is resolved once: a run of it started meanwhile is not followed.
        wanted = execution_id_of(self, execution_id)
        return lambda: self.status(wanted)

    def list_executions(
        self: Core, *, active_only: bool = False, name: str | None = None, limit: int = 50
    ) -> list[ExecutionSummary]:
        if not self._has_state():
            return []
        for summary in self.store.list_executions(active_only=True, limit=limit):
            self._reconcile(summary.id)
        return self.store.list_executions(active_only=active_only, name=name, limit=limit)

    def _reconcile(self: Core, execution_id: str) -> None:
        reconcile(self.store, self.workspace.run_dir(execution_id), execution_id, self.clock)


def with_hooks(status: ExecutionStatus, events: list[Event]) -> ExecutionStatus:
    """``status`` with its hooks as units (hookview.py), read from their events."""
    if not events:
        return status
    import dataclasses
    from pathlib import Path

    from shipyard.hookview import hook_units

    logs = str(Path(status.run_dir) / "logs")
    hooks = hook_units(events, logs, execution_finished=status.state.finished)
    return dataclasses.replace(status, hooks=hooks)


def execution_id_of(ops: Core, given: str | None) -> str:
    """The execution ``given`` names: an execution id; else a registered pipeline's name, for
    its latest execution; None, the latest execution of all. Every operation that takes an
    execution id comes through here (by :meth:`status`), so each front end takes names alike."""
    if given is None:
        latest = ops.store.latest_execution_id() if ops._has_state() else None
        if latest is None:
            raise ExecutionNotFound(
                f"there are no executions yet in {ops.workspace.home}",
                hint="start one with `shipyard run FILE`, or point SHIPYARD_HOME (--home) at "
                "the folder that holds them",
            )
        return latest
    if not ops._has_state():
        raise not_found(ops, given)
    store = ops.store
    if store.execution_state(given) is not None:
        return given
    latest = store.pipeline_latest_execution(given)
    if latest is not None:
        return latest
    raise not_found(ops, given)


def not_found(ops: Core, given: str) -> ExecutionNotFound:
    """Neither an execution nor a pipeline that has run: both are named, with where to look."""
    if ops._has_state() and ops.store.pipeline_get(given) is not None:
        return ExecutionNotFound(
            f"pipeline '{given}' has not run yet: it has no latest execution",
            hint=f"start it with `shipyard run {given}`",
        )
    return ExecutionNotFound(
        f"no execution '{given}' and no pipeline named so in {ops.workspace.home}",
        hint="`shipyard list` shows the executions, `shipyard pipelines list` the pipelines; "
        "SHIPYARD_HOME selects the state folder",
    )
