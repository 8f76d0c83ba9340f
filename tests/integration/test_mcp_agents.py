"""The agents-by-name MCP tools over a real stdio MCP server (``shipyard mcp``) with real
agent processes: list, deploy, status, restart, undeploy, and the refusals as tool errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

from shipyard.engine.liveness import pid_alive
from tests.integration.mcp_session import call, error_text, server_command, server_env

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_agents_by_name_through_mcp(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "agents", tmp_path / "fleet" / "agents")
    shutil.copytree(EXAMPLES / "agent-folder", tmp_path / "fleet" / "agent-folder")
    folder = str(tmp_path / "fleet" / "agent-folder")
    command, *args = server_command(tmp_path / "home")
    parameters = StdioServerParameters(command=command, args=args, env=server_env(), cwd=tmp_path)

    async def scenario() -> None:
        async with Client(parameters) as client:
            listed = (await call(client, "agents_list", folder=folder))["result"]
            assert {a["name"]: a["state"] for a in listed}["weather"] == "discovered"
            weather = await call(client, "agent_deploy", folder=folder, name="weather")
            assert weather["state"] == "deployed" and weather["health"] == "healthy"
            refused = await client.call_tool(
                "agent_deploy", {"folder": folder, "name": "maps", "max_agents": 1}
            )
            assert "max_agents is 1" in error_text(refused) and "hint: " in error_text(refused)
            unknown = await client.call_tool("agent_status", {"folder": folder, "name": "nope"})
            assert "no agent named 'nope'" in error_text(unknown)
            restarted = await call(
                client, "agent_restart", folder=folder, name="weather", confirm=True
            )
            assert restarted["pid"] != weather["pid"]
            status = await call(client, "agent_status", folder=folder, name="weather")
            assert status["pid"] == restarted["pid"]
            gone = await call(
                client, "agent_undeploy", folder=folder, name="weather", grace=5, confirm=True
            )
            assert gone["state"] == "discovered" and not pid_alive(restarted["pid"])

    anyio.run(scenario)
