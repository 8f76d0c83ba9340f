"""Replaying the journal line of a step kept from an earlier run (``unit_reused``): its reason
and cache key come back as the store was given them; a later attempt of the step drops the key."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.models import UnitState
from shipyard.recovery import replay


def line(ts: float, action: str, unit: str, **data: Any) -> dict[str, Any]:
    return {"ts": ts, "action": action, "unit": unit, **data}


REUSED = line(
    1.0,
    "unit_reused",
    "a",
    reason="reused from exec_1 (same cache key)",
    cache_key="k1",
    **{"from": "exec_1"},
)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([REUSED], (UnitState.SUCCEEDED, "reused from exec_1 (same cache key)", "k1", None)),
        (  # a journal line without its reason (never written so, but readable)
            [line(1.0, "unit_reused", "a", **{"from": "exec_1"})],
            (UnitState.SUCCEEDED, "reused from exec_1", None, None),
        ),
        (  # restored: its own reason, no key when the checkpointed execution had none
            [line(1.0, "unit_reused", "a", reason="done before x/ckpt-0001", **{"from": "x"})],
            (UnitState.SUCCEEDED, "done before x/ckpt-0001", None, None),
        ),
        (  # run again later (resume --force): the old key is not the new attempt's
            [REUSED, line(2.0, "unit_started", "a", attempt=1, pid=5)],
            (UnitState.RUNNING, None, None, 1),
        ),
    ],
    ids=["reused", "no-reason", "restored", "run-again"],
)
def test_a_kept_step_replays_with_its_reason_and_key(
    lines: list[dict[str, Any]], expected: tuple[UnitState, str | None, str | None, int | None]
) -> None:
    unit = replay(lines).units["a"]
    assert (unit.state, unit.reason, unit.cache_key, unit.attempts) == expected
