"""A waited call the client cancels ends in the server too: the worker thread that followed the
run stops polling (the run itself, detached, goes on until stopped). The server runs in this
process (the SDK's in-memory transport) so its threads can be looked at."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

import shipyard
from shipyard.mcpserver import seed_tools
from shipyard.mcpserver.server import build_server
from shipyard.mcpserver.toolkit import CallCancelled, Reporter
from tests.integration.mcp_session import write_specs

pytestmark = pytest.mark.slow


def following() -> list[str]:
    """The threads whose stack is in seed_tools.wait_for right now."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    found = []
    for ident, frame in sys._current_frames().items():
        walk = frame
        while walk is not None:
            if walk.f_code is seed_tools.wait_for.__code__:
                found.append(names.get(ident, str(ident)))
                break
            walk = walk.f_back
    return found


def test_a_cancelled_wait_stops_following_the_run_which_goes_on(tmp_path: Path) -> None:
    _, slow = write_specs(tmp_path)
    home = tmp_path / "home"
    server = build_server(home)

    async def scenario() -> None:
        async with Client(server) as client:
            with anyio.move_on_after(2):
                await client.call_tool("run_pipeline", {"pipeline_name": str(slow)})
                pytest.fail("the run cannot have ended: it sleeps for 600 s")
            deadline = time.monotonic() + 5
            while following() and time.monotonic() < deadline:
                await anyio.sleep(0.05)
            assert following() == []

    assert following() == []
    ops = shipyard.connect(home)
    try:
        anyio.run(scenario)
        # Detached: cancelling the wait stops nothing. On a loaded machine its supervisor may
        # not have started it yet (pending): it must go on to running, not end.
        status = ops.status()
        deadline = time.monotonic() + 60
        while status.state.value == "pending" and time.monotonic() < deadline:
            time.sleep(0.1)
            status = ops.status()
        assert status.state.value == "running", f"the run did not go on: {status.state.value}"
    finally:
        for left in ops.list_executions(active_only=True):  # even when the test failed
            ops.stop(left.id, force=True)
        ops.close()


def test_a_reporter_ends_the_pause_at_once_when_cancelled() -> None:
    reporter = Reporter()
    outcome: list[BaseException] = []

    def pause() -> None:
        try:
            reporter.sleep(600)
        except CallCancelled as ended:
            outcome.append(ended)

    waiter = threading.Thread(target=pause)
    waiter.start()
    reporter.cancelled.set()
    waiter.join(timeout=10)
    assert not waiter.is_alive() and len(outcome) == 1
    with pytest.raises(CallCancelled):
        reporter(1, 2, "after the cancel nothing is sent")
