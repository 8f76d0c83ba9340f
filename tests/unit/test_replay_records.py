"""The journal replayed into what issue 15 records (pure): a step's artifacts (parts, a later
attempt's list replacing an earlier one's) and gate approvals (the step succeeded by approval,
the record with who, why, when and the failed gates)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shipyard.models import Artifact, GateApproval, UnitState
from shipyard.recovery import approval_note, replay


def line(ts: float, action: str, unit: str | None = None, **data: Any) -> dict[str, Any]:
    return {"ts": ts, "action": action, **({"unit": unit} if unit else {}), **data}


def recorded(ts: float, part: int, parts: int, *files: tuple[str, int, str]) -> dict[str, Any]:
    return line(ts, "artifacts_recorded", "train", part=part, parts=parts, files=list(files))


GATED = line(
    5.0, "unit_finished", "train", attempt=1, state="gated", exit_code=0, reason="gate failed"
)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([], {}),
        ([recorded(1.0, 1, 1)], {"train": []}),
        ([recorded(1.0, 1, 1, ("m.txt", 3, "aa"))], {"train": [("m.txt", 3, "aa")]}),
        (
            [recorded(1.0, 1, 2, ("a", 1, "x")), recorded(1.0, 2, 2, ("b", 2, "y"))],
            {"train": [("a", 1, "x"), ("b", 2, "y")]},
        ),
        (  # a later attempt's files replace the earlier attempt's
            [recorded(1.0, 1, 1, ("old", 1, "x")), recorded(2.0, 1, 1, ("new", 2, "y"))],
            {"train": [("new", 2, "y")]},
        ),
        (  # a malformed line is passed over, the others kept
            [recorded(1.0, 1, 1, ("a", 1, "x")), line(2.0, "artifacts_recorded", "train")],
            {"train": [("a", 1, "x")]},
        ),
    ],
)
def test_artifacts(lines: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    replayed = replay(lines)
    assert replayed.artifacts == {
        unit: [Artifact(unit, *file) for file in files] for unit, files in expected.items()
    }


def test_a_gate_approved_makes_the_step_succeeded_with_its_record() -> None:
    approved = line(
        9.5, "gate_approved", "train", by="ann", reason="fine", gates=["gate accuracy failed"]
    )
    replayed = replay([GATED, approved])
    unit = replayed.units["train"]
    assert (unit.state, unit.reason, unit.ended_at) == (
        UnitState.SUCCEEDED,
        approval_note("ann", "fine"),
        5.0,
    )
    assert replayed.approvals == {
        "train": GateApproval(
            "train", "ann", "fine", datetime.fromtimestamp(9.5, UTC), ["gate accuracy failed"]
        )
    }


def test_a_gated_step_without_approval_stays_gated() -> None:
    replayed = replay([GATED, line(9.5, "gate_approved", "train", reason="no approver")])
    assert replayed.units["train"].state == UnitState.GATED
    assert replayed.approvals == {}
