"""What a unit's record may claim: a health verdict and a pid only while its process runs."""

from __future__ import annotations

import pytest

from shipyard.models import UnitState
from shipyard.unitview import counts_as_done, shown_health, shown_pid

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
        # A stopped service's process is gone: its number may be anyone's (issue 11 §10).
        (S.STOPPED, False, None),
        (S.STOPPED, True, None),
        (S.CANCELLED, True, None),
        (S.FAILED, False, None),
        (S.RETRYING, False, None),
        (S.SUCCEEDED, True, None),
        (S.PENDING, False, None),
    ],
)
def test_shown_pid(state: UnitState, ended: bool, shown: int | None) -> None:
    assert shown_pid(state, 41, execution_finished=ended) == shown


@pytest.mark.parametrize(
    ("kind", "state", "health", "ended", "done"),
    [
        # A step counts once it succeeded (or needs no run) — not once it merely ended.
        ("step", S.SUCCEEDED, None, True, True),
        ("step", S.DISABLED, None, True, True),
        ("step", S.FAILED, None, True, False),
        ("step", S.CANCELLED, None, True, False),
        ("step", S.SKIPPED, None, True, False),
        ("step", S.RUNNING, None, False, False),
        ("step", S.RETRYING, None, False, False),
        # A service counts while it is healthy now.
        ("service", S.RUNNING, "healthy", False, True),
        ("service", S.RUNNING, "starting", False, False),
        ("service", S.RUNNING, "unhealthy", False, False),
        ("service", S.RUNNING, "healthy", True, False),  # its supervisor was lost
        ("service", S.STOPPED, "healthy", True, False),
        ("service", S.SKIPPED, None, False, False),
        ("service", S.CANCELLED, "healthy", True, False),
    ],
)
def test_counts_as_done(
    kind: str, state: UnitState, health: str | None, ended: bool, done: bool
) -> None:
    assert counts_as_done(kind, state, health, execution_finished=ended) is done
