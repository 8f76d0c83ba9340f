"""Long runs do not tie a tool call (issue 18 §3), through the SDK's client: a run tool waits
``wait_seconds`` at most and names the execution in its first progress notification; the
status tool waits for a change (``wait_seconds``) instead of being polled in a tight loop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

import shipyard
from shipyard.mcpserver.server import build_server
from tests.integration.mcp_session import call, error_text, write_specs

#: One short step, then one that runs until stopped: a change comes, then none for long.
STEPPED = """\
name: stepped
steps:
  quick: {run: [sleep, '1']}
  long: {run: [sleep, '600'], needs: [quick]}
"""


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    yield home
    ops = shipyard.connect(home)
    try:
        for left in ops.list_executions(active_only=True):  # even when the test failed
            ops.stop(left.id, force=True)
    finally:
        ops.close()


def test_a_run_answers_after_wait_seconds_with_the_run_going_on(tmp_path: Path, home: Path) -> None:
    _, slow = write_specs(tmp_path)
    progress: list[str] = []

    async def noted(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async def scenario() -> None:
        async with Client(build_server(home)) as client:
            with anyio.move_on_after(40):
                result = await client.call_tool(
                    "run_pipeline",
                    {"pipeline_name": str(slow), "wait_seconds": 1},
                    progress_callback=noted,
                )
                answer = result.structured_content
                assert answer is not None, result.content
                execution = answer["execution"]
                assert execution["state"] == "running"  # answered, the run going on
                assert progress and progress[0].startswith(execution["id"])
                return
            pytest.fail("run_pipeline waited far past its wait_seconds=1")

    anyio.run(scenario)


def test_the_status_waits_for_a_change_instead_of_answering_the_same(
    tmp_path: Path, home: Path
) -> None:
    spec = tmp_path / "stepped.yaml"
    spec.write_text(STEPPED)

    async def scenario() -> None:
        async with Client(build_server(home)) as client:
            started = await call(client, "run_pipeline", pipeline_name=str(spec), background=True)
            execution_id = started["execution"]["id"]
            # Each call answers at a change: the run's start, the quick step's start and end,
            # the long step's start (the quick one's end and the long one's start are two
            # changes: a call may answer between them). Six calls at most — without the wait
            # they would answer at once, the quick step still running (it sleeps a second).
            wanted = {"quick": "succeeded", "long": "running"}
            states: dict[str, str] = {}
            for _ in range(6):
                changed: dict[str, Any] = await call(
                    client, "get_pipeline_status", execution_id=execution_id, wait_seconds=30
                )
                states = {unit["name"]: unit["state"] for unit in changed["units"]}
                if states == wanted:
                    break
            assert states == wanted, states

    anyio.run(scenario)


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("get_pipeline_status", {"wait_seconds": 600}),
        ("get_pipeline_status", {"wait_seconds": -1}),
        ("run_pipeline", {"pipeline_name": "x.yaml", "wait_seconds": 3600}),
        ("up", {"pipeline_name": "x.yaml", "timeout": 300}),
    ],
)
def test_a_wait_out_of_bounds_is_refused_with_the_range(
    tool: str, arguments: dict[str, Any], home: Path
) -> None:
    async def scenario() -> None:
        async with Client(build_server(home)) as client:
            text = error_text(await client.call_tool(tool, arguments))
            named = "timeout" if tool == "up" else "wait_seconds"
            assert f"{named}=" in text and "0 to 50 seconds" in text, text

    anyio.run(scenario)
