"""The state an agent is shown in, from its fleet's state and its service's: a table."""

from __future__ import annotations

import pytest

from shipyard.models import ExecutionState, UnitState
from shipyard.operations.agent_names import _state_of, capped

E, U = ExecutionState, UnitState


@pytest.mark.parametrize(
    ("fleet", "unit", "shown"),
    [
        (E.RUNNING, U.RUNNING, "deployed"),
        (E.RUNNING, U.PENDING, "deployed"),  # starting: deployed, health "starting"
        (E.RUNNING, U.RETRYING, "deployed"),  # between restarts
        (E.RUNNING, U.FAILED, "failed"),  # gave up in a fleet that still runs others
        (E.RUNNING, U.STOPPED, "discovered"),  # undeployed by name from the folder's fleet
        (E.PENDING, U.PENDING, "deployed"),
        (E.FAILED, U.FAILED, "failed"),  # its own fleet ended failed
        (E.FAILED, U.CANCELLED, "failed"),
        (E.STOPPED, U.CANCELLED, "discovered"),  # undeployed
        (E.STOPPED, U.STOPPED, "discovered"),
        (E.SUCCEEDED, U.STOPPED, "discovered"),
        (E.CANCELLED, U.CANCELLED, "discovered"),  # Ctrl-C
        (E.LOST, U.RUNNING, "failed"),  # its supervisor died
    ],
)
def test_state_of(fleet: ExecutionState, unit: UnitState, shown: str) -> None:
    assert _state_of(fleet, unit) == shown


@pytest.mark.parametrize(
    ("asked", "limit", "runs_under"),
    [(None, None, None), (3, None, 3), (None, 2, 2), (5, 2, 2), (1, 2, 1)],
)
def test_a_request_cannot_raise_the_servers_max_agents(
    asked: int | None, limit: int | None, runs_under: int | None
) -> None:
    assert capped(asked, limit) == runs_under
