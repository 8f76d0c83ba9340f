"""Step retries cannot busy-loop: ``backoff: 0`` waits at least 0.1 s, doubling (a hostile-spec
review saw ~270 attempts a second, 11 MB of store in 40 s, without the floor).

Lower bounds only, read from the store's attempts and the ``unit_retrying`` events: a loaded
machine makes waits longer, never shorter.
"""

from __future__ import annotations

from itertools import pairwise

from shipyard.api import Operations
from shipyard.engine.retries import MIN_RETRY_DELAY
from shipyard.models import UnitState
from tests.conftest import SpecWriter

#: Timestamps go through SQLite as floats and datetimes: allow this much rounding, no more.
CLOCK_SLACK = 0.005


def test_a_zero_backoff_still_waits_the_floor_and_doubles(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        """
        name: busy
        steps:
          busy: {run: [sh, -c, 'exit 1'], retries: {count: 3, backoff: 0, jitter: false}}
        """
    )
    final = ops.run(spec)
    assert final.unit("busy").state == UnitState.FAILED
    announced = [
        event.data["delay"]
        for _, event in ops.store.events(final.id)
        if event.action == "unit_retrying"
    ]
    assert announced == [MIN_RETRY_DELAY, 2 * MIN_RETRY_DELAY, 4 * MIN_RETRY_DELAY], (
        f"announced retry delays {announced}: backoff 0 must wait the floor, doubling"
    )
    attempts = sorted(ops.store.attempts(final.id, "busy"), key=lambda a: a.number)
    assert [a.number for a in attempts] == [1, 2, 3, 4], attempts
    waits = []
    for earlier, later in pairwise(attempts):
        assert earlier.ended_at is not None and later.started_at is not None
        waits.append((later.started_at - earlier.ended_at).total_seconds())
    floors = [MIN_RETRY_DELAY, 2 * MIN_RETRY_DELAY, 4 * MIN_RETRY_DELAY]
    assert all(wait >= floor - CLOCK_SLACK for wait, floor in zip(waits, floors, strict=True)), (
        f"waits between attempts {waits}: expected at least {floors}"
    )
