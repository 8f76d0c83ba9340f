"""The restart count `ps` shows is the real one (issue 8 item 9, runtime side): a service whose
crash streak starts again (it was up reset_after) still has every restart counted."""

from __future__ import annotations

import time

import pytest

from shipyard.api import Operations
from tests.conftest import SpecWriter


@pytest.mark.slow
def test_ps_counts_every_restart_even_when_the_streak_resets(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        """
        name: relapsing
        services:
          web:
            run: [sh, -c, 'sleep 1.2; exit 1']
            restart: {reset_after: 1s, backoff: 0.1s, max_restarts: 1}
        """
    )
    status = ops.up(spec, detach=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            starts = sum(1 for _, e in ops.store.events(status.id) if e.action == "service_started")
            if starts >= 3:
                break
            web = ops.status(status.id).unit("web")
            assert web.state.value != "failed", f"gave up although it was up reset_after: {web}"
            assert time.monotonic() < deadline, f"only {starts} starts"
            time.sleep(0.05)
        web = ops.status(status.id).unit("web")
        # max_restarts 1 never stops it (each run was stable), and ps counts them all.
        assert web.restarts >= 2, f"ps shows restarts {web.restarts} after {starts} starts"
    finally:
        ops.stop(status.id, grace=0)
