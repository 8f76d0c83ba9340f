"""The hint of a fleet that did not come up (cli/uphint.py): logs only when something ran."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from shipyard.cli.uphint import not_up_hint
from shipyard.models import ExecutionState, ExecutionStatus, Progress, UnitState, UnitStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def fleet(reason: str, *units: UnitStatus) -> ExecutionStatus:
    return ExecutionStatus(
        "exec_x", "x", ExecutionState.FAILED, "normal", NOW, Progress(0, 1), "/r",
        reason=reason, units=list(units),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # a service ran (and wrote a log): its logs say why
        (
            fleet("web not healthy", UnitStatus("web", UnitState.FAILED, "service", 1, NOW)),
            "shipyard logs exec_x shows what the services said",
        ),
        # refused before anything started: no log exists, the cause is the hint
        (
            fleet(
                "port 80 of service 'web' is already in use", UnitStatus("web", UnitState.PENDING)
            ),
            "nothing was started: stop what listens on that port",
        ),
        (
            fleet("no free port left", UnitStatus("web", UnitState.PENDING)),
            "nothing was started, so there are no logs",
        ),
        # a prepare hook failed: nothing else started, its log says why
        (
            dataclasses.replace(
                fleet(
                    "the prepare hook `false` exited with code 1",
                    UnitStatus("web", UnitState.SKIPPED),
                ),
                hooks=[UnitStatus("_prepare", UnitState.FAILED, "hook", 1, NOW)],
            ),
            "shipyard logs exec_x _prepare shows what the hook said",
        ),
        # a cleanup that failed after the fleet did is not why: the services' logs, the port
        (
            dataclasses.replace(
                fleet("web not healthy", UnitStatus("web", UnitState.FAILED, "service", 1, NOW)),
                hooks=[UnitStatus("_cleanup", UnitState.FAILED, "hook", 1, NOW)],
            ),
            "shipyard logs exec_x shows what the services said",
        ),
        (
            dataclasses.replace(
                fleet(
                    "port 80 of service 'web' is already in use",
                    UnitStatus("web", UnitState.PENDING),
                ),
                hooks=[UnitStatus("_cleanup", UnitState.FAILED, "hook", 1, NOW)],
            ),
            "nothing was started: stop what listens on that port",
        ),
    ],
)
def test_not_up_hint(status: ExecutionStatus, expected: str) -> None:
    assert not_up_hint(status).startswith(expected)
