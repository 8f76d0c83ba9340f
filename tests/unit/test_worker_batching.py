"""The worker's batching decision (coordinator/resilience.py ``flush_wait``): report the
results waiting now, or wait a little for running tasks' ends to share the call."""

from __future__ import annotations

import pytest

from shipyard.coordinator.resilience import flush_wait


@pytest.mark.parametrize(
    ("waiting", "oldest", "running", "most", "stopping", "wait"),
    [
        (0, 0.0, 3, 8, False, None),  # nothing to report
        (0, 0.0, 0, 8, True, None),  # nothing, even when stopping
        (1, 0.0, 0, 8, False, 0.0),  # no running task could join: now
        (1, 0.0, 3, 8, False, 0.02),  # others run: wait the window
        (1, 0.015, 3, 8, False, 0.005),  # the rest of the window only
        (2, 0.02, 3, 8, False, 0.0),  # waited the window: now
        (2, 0.5, 3, 8, False, 0.0),  # waited longer (the call before was slow): now
        (8, 0.0, 3, 8, False, 0.0),  # the call is full: now
        (9, 0.0, 3, 8, False, 0.0),  # more than full (the call carries `most`; the rest next)
        (1, 0.0, 3, 8, True, 0.0),  # stopping: a result does not wait on a leave
        (1, 0.0, 3, 1, False, 0.0),  # one at a time (concurrency 1's reports are not delayed)
    ],
)
def test_flush_wait(
    waiting: int, oldest: float, running: int, most: int, stopping: bool, wait: float | None
) -> None:
    got = flush_wait(waiting, oldest, running, most=most, stopping=stopping)
    if wait is None:
        assert got is None, f"{waiting} waiting: nothing to report, not {got}"
    else:
        assert got == pytest.approx(wait), f"flush after {wait} s, not {got}"
