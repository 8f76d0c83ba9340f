"""Issue 18 §2, §4, §5 through the SDK's real client against the installed ``shipyard mcp``:
tool sets and the read-only mode, destructive tools that act only when confirmed, the HTTP
transport's bearer token and Origin check, and the prompts and resources."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from shipyard.mcpserver import toolsets
from tests.integration.mcp_session import (
    call,
    error_text,
    server_command,
    server_env,
    write_specs,
)
from tests.integration.test_mcp_http import home_token, http_server, session


def stdio(home: Path, cwd: Path, *extra: str, tools: str | None = None) -> Client:
    command, *args = server_command(home, *extra, tools=tools)
    return Client(StdioServerParameters(command=command, args=args, env=server_env(), cwd=cwd))


async def listed(client: Client) -> dict[str, Any]:
    return {tool.name: tool for tool in (await client.list_tools()).tools}


def text_of(read: Any) -> str:
    return "".join(getattr(content, "text", "") for content in read.contents)


def test_the_default_set_is_under_40_and_read_only_lists_no_tool_that_changes(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with stdio(tmp_path / "home", tmp_path) as client:
            default = await listed(client)
            assert len(default) < 40, sorted(default)
            assert set(default) == {spec.name for spec in toolsets.select(_registry_names())}
            assert "agents_deploy" not in default and "run_pipeline" in default
        async with stdio(tmp_path / "home", tmp_path, "--read-only") as client:
            tools = await listed(client)
            assert tools and "get_pipeline_status" in tools and "store_check" in tools
            changing = [
                name
                for name, tool in tools.items()
                if not tool.annotations.read_only_hint or tool.annotations.destructive_hint
            ]
            assert changing == [], f"--read-only lists tools that change state: {changing}"
            assert await call(client, "list_executions") == {"result": []}
            refused = await client.call_tool("run_pipeline", {"pipeline_name": "x"})
            assert refused.is_error and "run_pipeline" in error_text(refused)
            prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
            assert prompts == {"diagnose_failed_run", "compare_with_last_good_run"}
        async with stdio(tmp_path / "home", tmp_path, tools="fleets,index") as client:
            assert set(await listed(client)) == set(
                toolsets.GROUPS["fleets"] + toolsets.GROUPS["index"]
            )

    anyio.run(scenario)


def test_a_read_only_server_writes_no_file_and_says_so(tmp_path: Path) -> None:
    """--read-only lists analyze_execution_results and manage_execution_logs for looking;
    their arguments that write a file (html_path; export's output_path) are refused with what
    to do instead, and nothing is written — relative, absolute, in the home or the folder."""
    chain, _ = write_specs(tmp_path)
    home = tmp_path / "home"

    async def scenario() -> None:
        async with stdio(home, tmp_path) as client:  # a server that may write: run something
            ran = await call(client, "run_pipeline", pipeline_name=str(chain))
            execution_id = ran["execution"]["id"]
        async with stdio(home, tmp_path, "--read-only") as client:
            tools = await listed(client)
            assert {"analyze_execution_results", "manage_execution_logs"} <= set(tools)
            on = {"execution_id": execution_id}
            writes = [
                ("analyze_execution_results", {**on, "html_path": "report.html"}),
                ("analyze_execution_results", {**on, "html_path": str(tmp_path / "r.html")}),
                (
                    "manage_execution_logs",
                    {**on, "action": "export", "output_path": "logs.jsonl", "unit": "c"},
                ),
                (
                    "manage_execution_logs",
                    {**on, "action": "export", "output_path": str(home / "logs.json")},
                ),
            ]
            for name, arguments in writes:
                refused = await client.call_tool(name, arguments)
                assert refused.is_error, f"{name} wrote with --read-only: {refused.content}"
                text = error_text(refused)
                assert "this MCP server is read-only (--read-only): it writes no file" in text
                assert "hint: " in text and "without --read-only" in text, text
            analysis = await client.call_tool("analyze_execution_results", on)
            assert not analysis.is_error, error_text(analysis)
            lines = await call(client, "manage_execution_logs", **on, unit="c")
            assert [line["text"] for line in lines["lines"]] == ["step-c"]
        assert not (home / "reports").exists(), list((home / "reports").rglob("*"))
        assert not (tmp_path / "r.html").exists() and not (home / "logs.json").exists()

    anyio.run(scenario)


def _registry_names() -> list[Any]:
    from shipyard.mcpserver.toolkit import registered

    return registered()


def test_a_destructive_tool_says_what_it_would_do_and_acts_only_when_confirmed(
    tmp_path: Path,
) -> None:
    _, slow = write_specs(tmp_path)

    async def scenario() -> None:
        async with stdio(tmp_path / "home", tmp_path) as client:
            tools = await listed(client)
            for name, tool in tools.items():
                if tool.annotations.destructive_hint:
                    assert "confirm" in tool.input_schema["properties"], name
            started = await call(client, "run_pipeline", pipeline_name=str(slow), background=True)
            execution_id = started["execution"]["id"]
            held = await client.call_tool("stop_pipeline", {"execution_id": execution_id})
            assert held.is_error, f"stop_pipeline acted without confirm: {held.content}"
            text = error_text(held)
            assert "not done: stop_pipeline is destructive and needs confirm=true" in text
            assert "what it would do now" in text and "forever" in text
            assert "hint: to do it, call stop_pipeline again" in text
            status = await call(client, "get_pipeline_status", execution_id=execution_id)
            assert status["state"] == "running", "stop_pipeline acted without confirm"
            added = await call(client, "pipelines_add", name="slow", spec_path=str(slow))
            assert added
            removal = await client.call_tool("pipelines_remove", {"name": "slow"})
            assert removal.is_error, f"pipelines_remove acted without confirm: {removal.content}"
            kept = error_text(removal)
            assert "not done" in kept and "Forget a registered pipeline" in kept
            names = [p["name"] for p in (await call(client, "pipelines_list"))["result"]]
            assert "slow" in names, "pipelines_remove acted without confirm"
            stopped = await call(
                client, "stop_pipeline", execution_id=execution_id, force=True, confirm=True
            )
            assert stopped["stop"]["state"] == "cancelled"

    anyio.run(scenario)


def test_prompts_and_resources_name_executions_specs_and_logs(tmp_path: Path) -> None:
    chain, _ = write_specs(tmp_path)

    async def scenario() -> None:
        async with stdio(tmp_path / "home", tmp_path) as client:
            prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
            assert prompts == {
                "diagnose_failed_run",
                "compare_with_last_good_run",
                "run_parameter_sweep",
            }
            ran = await call(client, "run_pipeline", pipeline_name=str(chain))
            execution_id = ran["execution"]["id"]
            got = await client.get_prompt("diagnose_failed_run", {"execution_id": execution_id})
            assert execution_id in got.messages[0].content.text  # type: ignore[union-attr]
            sweep = await client.get_prompt("run_parameter_sweep", {"pipeline_name": "bench"})
            assert "execute_pipeline_test(pipeline_name='bench'" in sweep.messages[0].content.text  # type: ignore[union-attr]
            listing = json.loads(text_of(await client.read_resource("shipyard://executions")))
            assert [entry["id"] for entry in listing] == [execution_id]
            one = f"shipyard://executions/{execution_id}"
            assert json.loads(text_of(await client.read_resource(one)))["state"] == "succeeded"
            assert "name: mcpchain" in text_of(await client.read_resource(f"{one}/spec"))
            assert text_of(await client.read_resource(f"{one}/logs/c")) == "step-c\n"
            await call(client, "pipelines_add", name="chain", spec_path=str(chain))
            spec = text_of(await client.read_resource("shipyard://pipelines/chain/spec"))
            assert "name: mcpchain" in spec
            with pytest.raises(Exception, match="no execution"):
                await client.read_resource("shipyard://executions/exec_nope/spec")

    anyio.run(scenario)


def _refusal(url: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """POST to the endpoint: the status and the JSON body (or the raw text as ``body``)."""
    request = urllib.request.Request(url, data=b"{}", method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, {"body": answer.read().decode()}
    except urllib.error.HTTPError as refused:
        status, text = refused.code, refused.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, {"body": text}


@pytest.mark.slow
def test_http_needs_serves_token_and_refuses_an_origin_not_allowed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    allowed = "https://assistant.example"

    async def scenario(url: str, token: str) -> None:
        for origin in (None, "http://localhost:6274", allowed):
            async with session(url, token, origin) as client:
                assert await call(client, "list_executions") == {"result": []}

    with http_server(home, tmp_path, extra=("--allow-origin", allowed)) as url:
        token = home_token(home)
        status, body = _refusal(url, {})
        assert (status, body.get("error")) == (401, "unauthorized"), body
        assert body["hint"]
        status, body = _refusal(url, {"Authorization": "Bearer wrong"})
        assert status == 401 and "wrong bearer token" in body.get("msg", ""), (status, body)
        bearer = {"Authorization": f"Bearer {token}"}
        for origin in ("https://evil.example", "null", "http://localhost.evil.example"):
            status, body = _refusal(url, bearer | {"Origin": origin})
            assert (status, body.get("error")) == (403, "forbidden-origin"), (origin, body)
            assert origin in body["msg"] and "--allow-origin" in body["hint"]
        status, body = _refusal(url, {"Origin": "https://evil.example"})
        assert status == 403, f"the Origin is checked before the token: {status} {body}"
        anyio.run(scenario, url, token)
