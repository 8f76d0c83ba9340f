"""The MCP server as a desktop assistant runs it: ``shipyard mcp --home H`` spawned through
the SDK's stdio client, driven by a real client session (real runs, real store, real logs)."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from shipyard.mcpserver.api_tool import allowed_operations
from tests.integration.mcp_session import (
    call,
    error_text,
    server_command,
    server_env,
    structured,
    write_specs,
)

pytestmark = pytest.mark.slow

SEED_TOOLS = {
    "run_pipeline",
    "stop_pipeline",
    "clean_pipeline",
    "get_pipeline_status",
    "run_pipeline_from_yaml",
    "execute_pipeline_test",
    "run_pipeline_from_index",
    "monitor_pipeline_execution",
    "analyze_execution_results",
    "manage_execution_logs",
    "handle_checkpoint_restart",
    "integrate_python_api",
}


def stdio(home: Path, cwd: Path) -> Client:
    command, *args = server_command(home)
    return Client(StdioServerParameters(command=command, args=args, env=server_env(), cwd=cwd))


def run_async(test: object) -> None:
    anyio.run(test)  # type: ignore[arg-type]


def test_tools_are_listed_with_annotations_and_output_schemas(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with stdio(tmp_path / "home", tmp_path) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert set(tools) >= SEED_TOOLS
            assert {
                "up",
                "down",
                "ps",
                "restart_service",
                "agents_discover",
                "agents_deploy",
            } <= set(tools)
            assert {
                "pipelines_add",
                "pipelines_show",
                "sweep_status",
                "index_templates",
                "history",
            } <= set(tools)
            for tool in tools.values():
                assert tool.output_schema is not None and tool.output_schema["type"] == "object", (
                    tool.name
                )
                assert tool.annotations is not None and tool.annotations.open_world_hint is False
            status = tools["get_pipeline_status"]
            assert status.annotations is not None
            assert status.annotations.read_only_hint and status.annotations.idempotent_hint
            assert "units" in status.output_schema["properties"]  # type: ignore[index]
            stop = tools["stop_pipeline"].annotations
            assert stop is not None and stop.destructive_hint and not stop.read_only_hint
            run = tools["run_pipeline"]
            assert run.annotations is not None and not run.annotations.idempotent_hint
            assert set(run.input_schema["properties"]) >= {
                "pipeline_name",
                "execution_mode",
                "background",
                "dry_run",
            }
            modes = run.input_schema["properties"]["execution_mode"]["enum"]
            assert modes == ["normal", "debug", "profile", "test"]
            templates = (await client.list_resource_templates()).resource_templates
            assert "shipyard://executions/{execution_id}/logs/{unit}" in [
                t.uri_template for t in templates
            ]

    run_async(scenario)


def test_a_run_waited_on_reports_progress_then_its_status_and_logs_are_read(tmp_path: Path) -> None:
    chain, _ = write_specs(tmp_path)
    progress: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    async def scenario() -> None:
        async with stdio(tmp_path / "home", tmp_path) as client:
            result = await client.call_tool(
                "run_pipeline",
                {"pipeline_name": str(chain), "parameters": {"size": 3}},
                progress_callback=on_progress,
            )
            execution = structured(result)["execution"]
            assert execution["state"] == "succeeded"
            assert [unit["name"] for unit in execution["units"]] == ["a", "b", "c"]
            assert progress[-1] == (3, 3)
            assert len(progress) >= 2 and progress[0][0] < 3  # seen before the end, not after
            assert [done for done, _ in progress] == sorted(done for done, _ in progress)

            status = await call(client, "get_pipeline_status", execution_id=execution["id"])
            assert status["state"] == "succeeded" and status["parameters"] == {"size": 3}
            bare = await call(client, "get_pipeline_status", include_node_status=False)
            assert bare["id"] == execution["id"] and bare["units"] == []

            logs = await call(
                client, "manage_execution_logs", execution_id=execution["id"], unit="a"
            )
            assert [line["text"] for line in logs["lines"]] == ["step-a size=3"]
            found = await call(
                client,
                "manage_execution_logs",
                action="search",
                execution_id=execution["id"],
                pattern="step-[bc]",
            )
            assert sorted(line["text"] for line in found["lines"]) == ["step-b", "step-c"]
            read = await client.read_resource(f"shipyard://executions/{execution['id']}/logs/b")
            assert [content.text for content in read.contents] == ["step-b\n"]  # type: ignore[union-attr]

    run_async(scenario)


def test_a_background_run_is_polled_then_stopped(tmp_path: Path) -> None:
    _, slow = write_specs(tmp_path)

    async def scenario() -> None:
        async with stdio(tmp_path / "home", tmp_path) as client:
            started = await call(client, "run_pipeline", pipeline_name=str(slow), background=True)
            execution_id = started["execution"]["id"]
            for _ in range(100):
                status = await call(client, "get_pipeline_status", execution_id=execution_id)
                if status["units"][0]["state"] == "running":
                    break
                await anyio.sleep(0.1)
            assert status["state"] == "running"
            stopped = await call(
                client, "stop_pipeline", execution_id=execution_id, grace=2, confirm=True
            )
            assert (
                stopped["stop"]["running"] == ["forever"]
                and stopped["stop"]["state"] == "cancelled"
            )
            final = await call(client, "get_pipeline_status", execution_id=execution_id)
            assert final["state"] == "cancelled"

    run_async(scenario)


def test_errors_come_back_as_tool_errors_with_a_hint(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with stdio(tmp_path / "home", tmp_path) as client:
            missing = error_text(
                await client.call_tool("get_pipeline_status", {"execution_id": "exec_nope"})
            )
            assert "exec_nope" in missing and "\nhint: " in missing
            unknown = error_text(
                await client.call_tool("run_pipeline", {"pipeline_name": "no-such-pipeline"})
            )
            assert "no pipeline registered as 'no-such-pipeline'" in unknown and "hint: " in unknown
            both = error_text(await client.call_tool("run_pipeline_from_yaml", {}))
            assert "exactly one of yaml_path and yaml_text" in both
            wrong_mode = error_text(
                await client.call_tool(
                    "run_pipeline", {"pipeline_name": "x", "execution_mode": "fast"}
                )
            )
            assert "execution_mode" in wrong_mode
            wrong_repeat = error_text(
                await client.call_tool(
                    "execute_pipeline_test",
                    {
                        "pipeline_name": "x",
                        "parameter_sweep": {"size": [1]},
                        "test_configuration": {"repeat": "abc"},
                    },
                )
            )
            assert 'repeat="abc" is not a whole number' in wrong_repeat
            assert "hint: " in wrong_repeat

    run_async(scenario)


def test_the_python_api_tool_runs_literal_calls_and_refuses_anything_else(tmp_path: Path) -> None:
    chain, _ = write_specs(tmp_path)
    marker = tmp_path / "MARKER"

    async def scenario() -> None:
        async with stdio(tmp_path / "home", tmp_path) as client:
            done = await call(
                client,
                "integrate_python_api",
                api_commands=[
                    f"ops.run({str(chain)!r}, {{'size': 2}})",
                    "ops.list_executions(limit=5)",
                ],
            )
            ran, listed = done["results"]
            assert ran["ok"] and ran["result"]["state"] == "succeeded"
            assert [row["id"] for row in listed["result"]] == [ran["result"]["id"]]
            for hostile in (
                f"__import__('os').system('touch {marker}')",
                "ops.__class__.__init__.__globals__['os'].system('touch MARKER')",
                f"ops.run(open({str(marker)!r}, 'w').name)",
                "ops.store.connection.execute('DELETE FROM executions')",
                "ops.status(lambda: __import__('os').system('touch MARKER'))",
            ):
                text = error_text(
                    await client.call_tool("integrate_python_api", {"api_commands": [hostile]})
                )
                assert "hint:" in text
            refused_two = error_text(
                await client.call_tool(
                    "integrate_python_api",
                    {"api_commands": ["ops.list_executions()", "ops.close()"]},
                )
            )
            assert "'close' is not an operation" in refused_two
            described = await call(client, "integrate_python_api", api_action="describe")
            assert len(described["allowed"]) == len(allowed_operations())
            still = await call(client, "list_executions")
            assert len(still["result"]) == 1  # nothing the hostile commands did reached the store

    run_async(scenario)
    assert not marker.exists()
    assert not (tmp_path / "MARKER").exists()


def test_the_api_tool_stops_nothing_without_confirmation(tmp_path: Path) -> None:
    _, slow = write_specs(tmp_path)

    async def scenario() -> None:
        async with stdio(tmp_path / "home", tmp_path) as client:
            started = await call(
                client,
                "integrate_python_api",
                api_commands=[f"ops.run({str(slow)!r}, detach=True)"],
            )
            execution = started["results"][0]["result"]["id"]
            stop = [f"ops.status({execution!r})", f"ops.stop({execution!r}, force=True)"]
            refused = error_text(
                await client.call_tool("integrate_python_api", {"api_commands": stop})
            )
            assert "not done: stop" in refused and "confirm=true" in refused, refused
            still = await call(client, "integrate_python_api", api_commands=stop[:1])
            assert still["results"][0]["result"]["state"] == "running", (
                "the API tool stopped a run without confirm=true"
            )
            done = await call(client, "integrate_python_api", api_commands=stop, confirm=True)
            assert [r["ok"] for r in done["results"]] == [True, True]
            after = await call(client, "integrate_python_api", api_commands=stop[:1])
            assert after["results"][0]["result"]["state"] == "cancelled"

    run_async(scenario)


def test_a_named_pipeline_is_registered_run_watched_analysed_and_its_logs_exported(
    tmp_path: Path,
) -> None:
    chain, _ = write_specs(tmp_path)
    exported = tmp_path / "out.jsonl"

    async def scenario() -> None:
        async with stdio(tmp_path / "home", tmp_path) as client:
            added = await call(client, "pipelines_add", name="chain", spec_path=str(chain))
            assert added["name"] == "chain" and added["steps"] == ["a", "b", "c"]
            await call(client, "pipelines_set", name="chain", defaults={"size": 2})
            bad = error_text(
                await client.call_tool("pipelines_set", {"name": "chain", "defaults": {"size": 9}})
            )
            assert "size" in bad and "hint: " in bad
            planned = await call(client, "run_pipeline", pipeline_name="chain", dry_run=True)
            assert planned["execution"] is None
            assert planned["plan"]["steps"] == ["a", "b", "c"]
            assert planned["plan"]["parameters"] == {"size": 2}
            ran = (await call(client, "run_pipeline", pipeline_name="chain"))["execution"]
            assert ran["state"] == "succeeded" and ran["pipeline"] == "chain"

            watched = await call(client, "monitor_pipeline_execution", pipeline_name="chain")
            assert [s["status"]["id"] for s in watched["snapshots"]] == [ran["id"]]
            analysis = await call(client, "analyze_execution_results", pipeline_name="chain")
            assert analysis["execution_id"] == ran["id"]
            assert analysis["critical_path"] == ["a", "b", "c"]
            record = await call(client, "history", name="chain")
            assert [entry["execution_id"] for entry in record["executions"]] == [ran["id"]]

            merged = await call(
                client,
                "manage_execution_logs",
                action="export",
                pipeline_name="chain",
                output_path=str(exported),
            )
            texts = [line["text"] for line in merged["lines"]]
            assert texts == ["step-a size=2", "step-b", "step-c"]
            again = error_text(
                await client.call_tool(
                    "manage_execution_logs",
                    {"action": "export", "pipeline_name": "chain", "output_path": str(exported)},
                )
            )
            assert "exists already" in again and "overwrite" in again

            templates = await call(client, "index_templates")
            assert "parallel-sort" in {t["name"] for t in templates["result"]}
            sort_plan = await call(
                client, "run_pipeline_from_index", index_name="parallel-sort", dry_run=True
            )
            assert sort_plan["plan"]["steps"]

    run_async(scenario)
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    assert [(row["unit"], row["text"]) for row in rows] == [
        ("a", "step-a size=2"),
        ("b", "step-b"),
        ("c", "step-c"),
    ]


def test_a_fleet_is_brought_up_listed_restarted_and_brought_down(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with stdio(tmp_path / "home", tmp_path) as client:
            fleet = "index:builtin/two-agents"
            planned = await call(client, "plan_pipeline", pipeline_name=fleet)
            assert planned["services"] == ["answerer", "asker"]
            assert set(planned["ports"]) == {"answerer", "asker"}
            came = (await call(client, "up", pipeline_name=fleet, parameters={"interval": 0.2}))[
                "execution"
            ]
            assert came["state"] == "running"
            services = (await call(client, "ps"))["result"]
            assert {s["name"]: s["health"] for s in services} == {
                "answerer": "healthy",
                "asker": "healthy",
            }
            before = {s["name"]: s["pid"] for s in services}
            restarted = await call(client, "restart_service", service="answerer", confirm=True)
            assert restarted["health"] == "healthy" and restarted["pid"] != before["answerer"]
            unknown = error_text(
                await client.call_tool("restart_service", {"service": "nope", "confirm": True})
            )
            assert "nope" in unknown and "hint: " in unknown
            down = await call(client, "down", confirm=True)
            assert down["execution_id"] == came["id"] and down["state"] == "stopped"
            gone = await call(client, "get_pipeline_status", execution_id=came["id"])
            assert {unit["state"] for unit in gone["units"]} == {"stopped"}

    run_async(scenario)


#: A step that says its size and reports it as a figure (what the plot draws).
MEASURED = """\
name: mcpsweep
parameters:
  size: {type: int, default: 1, choices: [1, 2, 3, 4]}
steps:
  a:
    shell: true
    run: |
      echo "step-a size=$SHIPYARD_PARAM_SIZE"
      echo "{\\"name\\": \\"work\\", \\"value\\": $SHIPYARD_PARAM_SIZE}" >> "$SHIPYARD_METRICS"
"""


def test_a_four_point_sweep_runs_each_point_and_its_files_land_in_the_reports_folder(
    tmp_path: Path,
) -> None:
    chain = tmp_path / "measured.yaml"
    chain.write_text(MEASURED)
    home = tmp_path / "home"
    outside = tmp_path.parent / f"{tmp_path.name}-outside.png"
    progress: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    async def scenario() -> None:
        async with stdio(home, tmp_path) as client:
            result = await client.call_tool(
                "execute_pipeline_test",
                {
                    "pipeline_name": str(chain),
                    "parameter_sweep": {"size": [1, 2, 3, 4]},
                    "max_parallel_runs": 2,
                },
                progress_callback=on_progress,
            )
            sweep = structured(result)
            points = sweep["points"]
            assert sweep["state"] == "succeeded"
            assert sorted(point["parameters"]["size"] for point in points) == [1, 2, 3, 4]
            assert len({point["execution_id"] for point in points}) == 4
            assert progress[-1] == (4, 4)
            for point in points:
                logs = await call(
                    client, "manage_execution_logs", execution_id=point["execution_id"], unit="a"
                )
                size = point["parameters"]["size"]
                assert [line["text"] for line in logs["lines"]] == [f"step-a size={size}"]

            plotted = await call(client, "sweep_plot", sweep_id=sweep["id"], path="sweep.png")
            assert plotted["result"] == str((home / "reports" / "sweep.png").resolve())
            again = await call(client, "sweep_plot", sweep_id=sweep["id"], path="sweep.png")
            assert again == plotted  # a previous report is replaced
            for path in (str(outside), "../escape.png", str(chain)):
                refused = error_text(
                    await client.call_tool("sweep_plot", {"sweep_id": sweep["id"], "path": path})
                )
                assert "hint: " in refused
            first = points[0]["execution_id"]
            analysed = await call(
                client, "analyze_execution_results", execution_id=first, html_path="first.html"
            )
            assert analysed["html_path"] == str((home / "reports" / "first.html").resolve())
            through_api = await call(
                client,
                "integrate_python_api",
                api_commands=[f"ops.sweep_plot({sweep['id']!r}, {str(outside)!r})"],
            )
            (refused_call,) = through_api["results"]
            assert not refused_call["ok"] and "only under" in refused_call["error"]

    run_async(scenario)
    assert (home / "reports" / "sweep.png").read_bytes().startswith(b"\x89PNG")
    assert "<html" in (home / "reports" / "first.html").read_text().lower()
    assert chain.read_text() == MEASURED  # not written over
    assert not outside.exists() and not (home / "escape.png").exists()


def test_automatic_checkpoints_are_a_run_option_not_a_configure_action(tmp_path: Path) -> None:
    _, slow = write_specs(tmp_path)

    async def scenario() -> None:
        async with stdio(tmp_path / "home", tmp_path) as client:
            tool = next(
                t
                for t in (await client.list_tools()).tools
                if t.name == "handle_checkpoint_restart"
            )
            assert tool.input_schema["properties"]["action"]["enum"] == [
                "create",
                "list",
                "restore",
            ]
            assert "checkpoint_interval" in (tool.description or "")
            configure = await client.call_tool(
                "handle_checkpoint_restart", {"action": "configure", "checkpoint_interval": 600}
            )
            assert configure.is_error
            bad = error_text(
                await client.call_tool(
                    "run_pipeline",
                    {"pipeline_name": str(slow), "background": True, "checkpoint_interval": -1},
                )
            )
            assert "positive number of seconds" in bad and "hint: " in bad
            assert (await call(client, "list_executions"))["result"] == []
            started = await call(
                client,
                "run_pipeline",
                pipeline_name=str(slow),
                background=True,
                checkpoint_interval=0.3,
            )
            execution_id = started["execution"]["id"]
            taken: list[dict[str, object]] = []
            for _ in range(100):
                listed = await call(
                    client, "handle_checkpoint_restart", action="list", execution_id=execution_id
                )
                taken = listed["checkpoints"]
                if taken:
                    break
                await anyio.sleep(0.1)
            await call(client, "stop_pipeline", execution_id=execution_id, force=True, confirm=True)
            assert taken and taken[0]["execution_id"] == execution_id
            assert taken[0]["reason"] == "automatic"

    run_async(scenario)
