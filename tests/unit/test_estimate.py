from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shipyard.estimate import remaining_seconds
from shipyard.models import UnitState, UnitStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def unit(name: str, state: UnitState, started_ago: float | None = None) -> UnitStatus:
    started = NOW - timedelta(seconds=started_ago) if started_ago is not None else None
    return UnitStatus(name=name, state=state, started_at=started)


def test_critical_path_of_what_is_left_with_running_steps_partly_done() -> None:
    units = [
        unit("a", UnitState.SUCCEEDED),
        unit("b", UnitState.RUNNING, started_ago=4),
        unit("c", UnitState.PENDING),
    ]
    needs = {"a": [], "b": ["a"], "c": ["b"]}
    seconds, basis = remaining_seconds(
        units, needs, {"a": 1, "b": 10, "c": 5}, max_parallel=4, now=NOW
    )
    assert seconds == pytest.approx(6 + 5)
    assert "earlier successful runs" in basis


def test_parallelism_limits_the_estimate_too() -> None:
    units = [unit(f"s{i}", UnitState.PENDING) for i in range(10)]
    needs: dict[str, list[str]] = {f"s{i}": [] for i in range(10)}
    seconds, _ = remaining_seconds(
        units, needs, {f"s{i}": 2.0 for i in range(10)}, max_parallel=2, now=NOW
    )
    assert seconds == pytest.approx(10.0)


def test_no_estimate_without_history_and_the_reason_says_why() -> None:
    units = [unit("a", UnitState.PENDING), unit("b", UnitState.PENDING)]
    seconds, basis = remaining_seconds(
        units, {"a": [], "b": []}, {"a": 1.0}, max_parallel=2, now=NOW
    )
    assert seconds is None
    assert basis == "no earlier successful run of b to estimate from"


def test_an_overdue_step_counts_as_nearly_done_not_negative() -> None:
    seconds, _ = remaining_seconds(
        [unit("a", UnitState.RUNNING, started_ago=30)],
        {"a": []},
        {"a": 10},
        max_parallel=1,
        now=NOW,
    )
    assert seconds == 0.0
