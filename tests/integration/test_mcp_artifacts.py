"""The artifacts and gate tools over a real stdio MCP server (``shipyard mcp``): list and read
what a real run's steps handed on, a path leading out refused, and gate_approve refused without
confirm=true, then recorded with it."""

from __future__ import annotations

from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

import shipyard
from shipyard.models import UnitState
from tests.integration.mcp_session import call, error_text, server_command, server_env

SPEC = """\
name: mcpgated
steps:
  prepare: {run: [sh, -c, "printf 'a,b\\\\n' > data.csv"], outputs: [data.csv]}
  evaluate:
    run: [sh, -c, "echo '{\\"name\\": \\"accuracy\\", \\"value\\": 0.5}' >> $SHIPYARD_METRICS"]
    needs: [prepare]
    gates: [{metric: accuracy, ">=": 0.9}]
  publish: {run: [touch, published], needs: [evaluate]}
"""


def test_artifacts_and_gate_approval_through_mcp(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    home = tmp_path / "home"
    ops = shipyard.connect(home)
    status = ops.run(tmp_path / "spec.yaml")
    ops.close()
    assert status.unit("evaluate").state == UnitState.GATED, status.reason
    command, *args = server_command(home)
    parameters = StdioServerParameters(command=command, args=args, env=server_env(), cwd=tmp_path)

    async def scenario() -> None:
        async with Client(parameters) as client:
            listed = (await call(client, "artifacts_list", execution_id=status.id))["result"]
            assert [(a["unit"], a["path"], a["size"]) for a in listed] == [
                ("prepare", "data.csv", 4)
            ]
            read = await call(
                client, "artifact_read", execution_id=status.id, step="prepare", path="data.csv"
            )
            assert read["text"] == "a,b\n" and read["truncated"] is False
            out = await client.call_tool(
                "artifact_read",
                {"execution_id": status.id, "step": "prepare", "path": "../../state.db"},
            )
            assert "leads out of the step's artifacts folder" in error_text(out)
            unconfirmed = await client.call_tool(
                "gate_approve", {"execution_id": status.id, "step": "evaluate", "reason": "ok"}
            )
            assert "confirm" in error_text(unconfirmed)
            approval = await call(
                client,
                "gate_approve",
                execution_id=status.id,
                step="evaluate",
                reason="fine for a demo",
                confirm=True,
            )
            assert approval["unit"] == "evaluate" and approval["reason"] == "fine for a demo"

    anyio.run(scenario)
    after = shipyard.connect(home)
    try:
        approved = after.status(status.id)
        assert approved.unit("evaluate").state == UnitState.SUCCEEDED
        assert [a.reason for a in approved.approvals] == ["fine for a demo"]
    finally:
        after.close()
