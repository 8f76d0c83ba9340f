"""A service's rollout as `rollout status` shows it, read from the execution's events (the
controller commits each before acting on it). Pure: events in, views out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shipyard.models import Event

#: Each view keeps this many of its latest decisions (an hour of 30 s steps at most holds 120).
KEPT_DECISIONS = 50
FINISHED = ("promoted", "rolled_back", "aborted")


@dataclass
class RolloutView:
    execution_id: str
    service: str
    state: str  # starting | running | promoted | rolled_back | aborted
    port: int | None = None  # the public port, the proxy's
    weight: int = 0  # the canary's share of requests now (percent)
    steps: list[int] = field(default_factory=list)
    changes: dict[str, str] = field(default_factory=dict)  # the new version's env
    reason: str | None = None  # why it ended (promoted, rolled back, aborted)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    #: The canary's figures in the latest judged window: requests, errors, error_rate, pNN.
    figures: dict[str, float | None] = field(default_factory=dict)
    decisions: list[str] = field(default_factory=list)  # "advance: at 10%: KPIs held (…)"

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


def _when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _figures(data: Any) -> dict[str, float | None]:
    if not isinstance(data, dict):
        return {}
    return {str(k): None if v is None else float(v) for k, v in data.items()}


def rollout_views(
    execution_id: str, events: Iterable[Event], views: dict[str, RolloutView] | None = None
) -> dict[str, RolloutView]:
    """service → its latest rollout (services with ``rollout:`` and none yet: ``state``
    ``none``, with their port). ``views``: those read from earlier events, brought up to date
    (so a poll reads only the events since its last look)."""
    views = {} if views is None else views
    for event in events:
        if not event.action.startswith("rollout_") or event.unit is None:
            continue
        _apply(views, execution_id, event)
    return views


def _apply(views: dict[str, RolloutView], execution_id: str, event: Event) -> None:
    data, unit, action = event.data, event.unit, event.action
    assert unit is not None
    view = views.get(unit)
    if action == "rollout_proxy_serving":
        views[unit] = RolloutView(execution_id, unit, "none", port=data.get("port"))
        return
    if action == "rollout_started":
        port = view.port if view else None
        views[unit] = RolloutView(
            execution_id,
            unit,
            "starting",
            port=port,
            steps=[int(s) for s in data.get("steps", [])],
            changes={str(k): str(v) for k, v in (data.get("changes") or {}).items()},
            started_at=_when(event.ts),
        )
        return
    if view is None:
        return
    if action == "rollout_step":
        view.state, view.weight = "running", int(data.get("weight", 0))
    elif action == "rollout_decision":
        view.figures = _figures(data.get("canary"))
        view.decisions = [*view.decisions, f"{data.get('decision')}: {data.get('reason')}"][
            -KEPT_DECISIONS:
        ]
    elif action in ("rollout_promoted", "rollout_rolled_back", "rollout_aborted"):
        view.state = action.removeprefix("rollout_")
        view.weight = 100 if view.state == "promoted" else 0
        view.reason = data.get("reason")
        view.ended_at = _when(event.ts)
