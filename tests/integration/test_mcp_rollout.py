"""The canary rollout tools over a real stdio MCP server (``shipyard mcp``): status
read-only, a rollout started, promote and abort refused without confirm=true (the rollout goes
on), then aborted with it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

import shipyard
from tests.integration.mcp_session import call, error_text, server_command, server_env
from tests.integration.test_rollout import SERVER

SPEC = """
name: mcpcanary
services:
  web:
    run: [python, server.py]
    port: auto
    env: {VERSION: '1'}
    health: {http: /health, interval: 0.1s}
    stop: {timeout: 2s}
    rollout: {steps: [50, 100], interval: 10m, min_requests: 1}
"""


def test_rollout_tools_through_mcp(tmp_path: Path) -> None:
    (tmp_path / "server.py").write_text(SERVER, encoding="utf-8")
    (tmp_path / "spec.yaml").write_text(textwrap.dedent(SPEC).lstrip("\n"), encoding="utf-8")
    home = tmp_path / "home"
    ops = shipyard.connect(home)
    execution = ops.up(tmp_path / "spec.yaml", detach=True).id
    try:
        ops.wait_healthy(execution, timeout=30)
        command, *args = server_command(home)
        parameters = StdioServerParameters(
            command=command, args=args, env=server_env(), cwd=tmp_path
        )

        async def scenario() -> None:
            async with Client(parameters) as client:
                before = (await call(client, "rollout_status", execution_id=execution))["result"]
                assert [(v["service"], v["state"]) for v in before] == [("web", "none")]
                started = await call(
                    client, "rollout_start", execution_id=execution, service="web",
                    env={"VERSION": "2"},
                )  # fmt: skip
                assert started["changes"] == {"VERSION": "2"}
                for tool in ("rollout_promote", "rollout_abort"):
                    refused = await client.call_tool(
                        tool, {"execution_id": execution, "service": "web"}
                    )
                    assert "confirm" in error_text(refused), tool
                aborted = await call(
                    client, "rollout_abort", execution_id=execution, service="web", confirm=True
                )
                assert (aborted["state"], aborted["reason"]) == ("aborted", "aborted by request")

        anyio.run(scenario)
        assert ops.rollout_status(execution, "web")[0].state == "aborted"
    finally:
        ops.stop(execution, grace=0.0)
        ops.close()
