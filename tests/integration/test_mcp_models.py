"""The pipeline-metrics and model-registry tools over a real stdio MCP server (``shipyard
mcp``): metrics of real runs, list/show read-only, promote and rollback refused without
confirm=true (nothing changes), then done with it; the ml group is left out of the default set."""

from __future__ import annotations

from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

import shipyard
from shipyard.mlregistry import Stage
from tests.integration.mcp_session import call, error_text, server_command, server_env

SPEC = """\
name: mcpml
steps:
  train:
    run: [sh, -c, "echo '{\\"name\\": \\"accuracy\\", \\"value\\": 0.9}' >> $SHIPYARD_METRICS"]
"""


def test_metrics_and_the_registry_through_mcp(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    (tmp_path / "a.bin").write_bytes(b"first model")
    (tmp_path / "b.bin").write_bytes(b"second model")
    home = tmp_path / "home"
    ops = shipyard.connect(home)
    try:
        execution = ops.run(tmp_path / "spec.yaml").id
        ops.model_register("clf", str(tmp_path / "a.bin"), metrics_from=f"{execution}/train")
        ops.model_register("clf", str(tmp_path / "b.bin"))
        ops.model_promote("clf", 1)
    finally:
        ops.close()
    command, *args = server_command(home)
    parameters = StdioServerParameters(command=command, args=args, env=server_env(), cwd=tmp_path)

    async def scenario() -> None:
        async with Client(parameters) as client:
            metrics = await call(client, "pipeline_metrics", name="mcpml")
            assert (metrics["runs"], metrics["success_rate"]) == (1, 1.0)
            assert metrics["steps"]["train"]["count"] == 1
            listed = (await call(client, "models_list"))["result"]
            assert [(m["name"], m["production"], m["latest"]) for m in listed] == [("clf", 1, 2)]
            shown = await call(client, "models_show", name="clf", version=1)
            assert shown["versions"][0]["metrics"] == {"accuracy": 0.9}
            unconfirmed = await client.call_tool("models_promote", {"name": "clf", "version": 2})
            assert "confirm" in error_text(unconfirmed)
            again = await client.call_tool("models_rollback", {"name": "clf"})
            assert "confirm" in error_text(again)
            assert (await call(client, "models_show", name="clf"))["production"] == 1
            done = await call(client, "models_promote", name="clf", version=2, confirm=True)
            assert (done["production"], done["previous"]) == (2, 1)
            back = await call(client, "models_rollback", name="clf", confirm=True)
            assert (back["production"], back["previous"]) == (1, 2)
            path = (await call(client, "models_path", name="clf"))["result"]
            assert Path(path).read_bytes() == b"first model"
            missing = await client.call_tool("models_show", {"name": "nope"})
            assert "no model named 'nope'" in error_text(missing)

    anyio.run(scenario)
    after = shipyard.connect(home)
    try:
        stages = [v.stage for v in after.model_show("clf").versions]
        assert stages == [Stage.PRODUCTION, Stage.ARCHIVED]
        assert [e.actor for e in after.model_show("clf").events if e.action == "rollback"]
    finally:
        after.close()
