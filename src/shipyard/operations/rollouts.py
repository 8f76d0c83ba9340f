"""The rollout part of LocalOperations: a canary of a running fleet's service started,
promoted or aborted over the fleet's control socket, and its progress read from the
execution's events (each decision is committed there before it is carried out)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError
from shipyard.operations.core import Core

if TYPE_CHECKING:
    from shipyard.models import ExecutionStatus
    from shipyard.plan.model import Plan
    from shipyard.rollout.status import RolloutView

#: `rollout promote` and `abort` return once the rollout has ended: its old or new version
#: stopped within its stop timeout.
ACTION_TIMEOUT = 120.0


class RolloutOperations:
    def rollout_start(
        self: Core,
        execution_id: str,
        service: str,
        *,
        env: Mapping[str, str] | None = None,
        wait: bool = False,
        timeout: float = 3600.0,
    ) -> RolloutView:
        """Start ``service``'s new version — the same service with ``env`` changed — as a
        canary beside the running one; returns once it has begun (``wait``: once it is
        promoted, rolled back or aborted)."""
        status = self.status(execution_id)
        before = _latest(self, status.id, service)
        _send(self, status.id, {"op": "rollout", "action": "start", "name": service,
                                "env": dict(env or {})})  # fmt: skip
        return _await(self, status.id, service, before, new=True, finished=wait, timeout=timeout)

    def rollout_promote(self: Core, execution_id: str, service: str) -> RolloutView:
        """Skip the remaining steps: the canary becomes the service, the old version stops."""
        return _act(self, execution_id, service, "promote")

    def rollout_abort(self: Core, execution_id: str, service: str) -> RolloutView:
        """Traffic back to the stable version at once, the canary stopped."""
        return _act(self, execution_id, service, "abort")

    def rollout_status(
        self: Core, execution_id: str, service: str | None = None
    ) -> list[RolloutView]:
        """The latest rollout of each service with ``rollout:`` (or of ``service``)."""
        from shipyard.rollout.status import rollout_views

        status = self.status(execution_id)
        views = rollout_views(status.id, (event for _, event in self.store.events(status.id)))
        if service is None:
            return list(views.values())
        if service not in views:
            names = ", ".join(views) or "none"
            raise ShipyardError(
                f"service '{service}' of {status.id} has no rollout",
                hint=f"services with rollout settings: {names}",
            )
        return [views[service]]


def _latest(ops: Core, execution_id: str, service: str) -> RolloutView | None:
    from shipyard.rollout.status import rollout_views

    events = (event for _, event in ops.store.events(execution_id))
    return rollout_views(execution_id, events).get(service)


def _send(ops: Core, execution_id: str, request: dict[str, object]) -> None:
    from shipyard.operations.controlling import send

    status = ops.status(execution_id)
    send(ops.workspace.run_dir(status.id).control, status, dict(request))


def _act(ops: Core, execution_id: str, service: str, action: str) -> RolloutView:
    status = ops.status(execution_id)
    before = _latest(ops, status.id, service)
    _send(ops, status.id, {"op": "rollout", "action": action, "name": service})
    return _await(ops, status.id, service, before, new=False, finished=True, timeout=ACTION_TIMEOUT)


def _await(
    ops: Core,
    execution_id: str,
    service: str,
    before: RolloutView | None,
    *,
    new: bool,
    finished: bool,
    timeout: float,
) -> RolloutView:
    """The service's rollout once it is a new one (``new``; else the one running
    ``before``), and once it has ended (``finished``). Each look reads only the events since
    the previous one."""
    from shipyard.operations.controlling import poll_until
    from shipyard.rollout.status import rollout_views

    views: dict[str, RolloutView] = {}
    after = 0
    seen: list[RolloutView] = []

    def latest() -> RolloutView | None:
        nonlocal after
        batch = ops.store.events(execution_id, after_id=after)
        if batch:
            after = batch[-1][0]
            rollout_views(execution_id, (event for _, event in batch), views)
        return views.get(service)

    def reached(_: object) -> bool:
        now = latest()
        if now is None or now.started_at is None:
            return False
        if new and before is not None and now.started_at == before.started_at:
            return False  # still the rollout before this one
        seen[:] = [now]
        return now.finished or not finished

    _, done = poll_until(
        lambda: ops.status(execution_id),
        lambda status: reached(status) or status.state.finished,
        clock=ops.clock,
        timeout=timeout,
        interval=0.05,
    )
    if seen:
        return seen[0]
    view = latest()
    if view is not None and done:
        return view
    raise ShipyardError(
        f"the rollout of '{service}' of {execution_id} did not "
        f"{'end' if finished else 'begin'} within {timeout:g}s",
        hint=f"shipyard rollout status {execution_id} {service}",
    )


def rollout_on_up(ops: Core, plan: Plan) -> ExecutionStatus | None:
    """`up` of a spec whose fleet is running, changed only in the environment of services
    with ``rollout:``: a rollout of each, in the running fleet (its status returned); else
    None, and `up` brings a fleet up as always."""
    from pathlib import Path

    from shipyard.plan.codec import read_plan
    from shipyard.rollout.specdiff import rollout_changes

    if not any(service.rollout for service in plan.services):
        return None
    for summary in ops.list_executions(active_only=True, name=plan.name, limit=20):
        status = ops.status(summary.id)
        if status.state.finished or not status.run_dir:
            continue
        try:
            running = read_plan(Path(status.run_dir) / "plan.json")
        except (OSError, ShipyardError):
            continue
        changes = rollout_changes(running, plan)
        if changes is None:
            continue
        for service, env in changes.items():
            RolloutOperations.rollout_start(ops, status.id, service, env=env)
        return ops.status(status.id)
    return None
