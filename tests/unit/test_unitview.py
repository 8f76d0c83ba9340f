"""What a unit's record may claim: a health verdict and a pid only while its process runs."""

from __future__ import annotations

import pytest

from shipyard.models import UnitState
from shipyard.unitview import shown_health, shown_pid

S = UnitState


@pytest.mark.parametrize(
    ("kind", "state", "recorded", "ended", "shown"),
    [
        # While it runs, the probe's verdict stands.
        ("service", S.RUNNING, "healthy", False, "healthy"),
        ("service", S.RUNNING, "unhealthy", False, "unhealthy"),
        ("service", S.RUNNING, "starting", False, "starting"),
        ("service", S.RUNNING, None, False, "starting"),
        # A record still 'running' in an ended execution runs nothing (a lost supervisor).
        ("service", S.RUNNING, "healthy", True, "unknown"),
        # Stopped on purpose: down.
        ("service", S.STOPPED, "healthy", False, "down"),
        ("service", S.STOPPED, "down", True, "down"),
        # Not running for any other reason: nobody knows.
        ("service", S.CANCELLED, "healthy", True, "unknown"),
        ("service", S.FAILED, "down", False, "unknown"),
        ("service", S.RETRYING, "down", False, "unknown"),
        ("service", S.PENDING, None, False, "unknown"),
        ("service", S.SKIPPED, None, True, "unknown"),
        # Steps have no health.
        ("step", S.RUNNING, None, False, None),
        ("step", S.SUCCEEDED, None, True, None),
    ],
)
def test_shown_health(
    kind: str, state: UnitState, recorded: str | None, ended: bool, shown: str | None
) -> None:
    assert shown_health(kind, state, recorded, execution_finished=ended) == shown


@pytest.mark.parametrize(
    ("state", "ended", "shown"),
    [
        (S.RUNNING, False, 41),
        (S.RUNNING, True, None),  # its supervisor is gone, and with it the process
        (S.STOPPED, False, 41),  # the process that was stopped (seen dead before the record)
        (S.STOPPED, True, 41),
        (S.CANCELLED, True, None),
        (S.FAILED, False, None),
        (S.RETRYING, False, None),
        (S.SUCCEEDED, True, None),
        (S.PENDING, False, None),
    ],
)
def test_shown_pid(state: UnitState, ended: bool, shown: int | None) -> None:
    assert shown_pid(state, 41, execution_finished=ended) == shown
