"""The MCP server over streamable HTTP: ``shipyard mcp --http 127.0.0.1:PORT`` in a subprocess,
driven by the SDK's streamable HTTP client (real runs, a real sweep, real logs); and the bearer
token that guards it when set."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.integration.mcp_session import (
    call,
    error_text,
    free_port,
    server_command,
    server_env,
    structured,
    write_specs,
)

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def http_server(home: Path, cwd: Path, *, extra: tuple[str, ...] = (), **env: str) -> Iterator[str]:
    """The server on a free loopback port; yields its endpoint URL once it accepts."""
    port = free_port()
    errors = cwd / "mcp-server.stderr"
    with errors.open("wb") as stderr:
        process = subprocess.Popen(
            server_command(home, "--http", f"127.0.0.1:{port}", *extra),
            env=server_env(**env),
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, errors.read_text()
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=0.2),
            ):
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def home_token(home: Path) -> str:
    """The token ``shipyard serve`` would use too: the home's server.token (made at start)."""
    return (home / "server.token").read_text(encoding="utf-8").strip()


@contextlib.asynccontextmanager
async def session(url: str, token: str, origin: str | None = None) -> AsyncIterator[Client]:
    """The SDK's streamable HTTP client, sending the bearer token (and an Origin if given)."""
    headers = {"Authorization": f"Bearer {token}"} | ({"Origin": origin} if origin else {})
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


def test_over_http_a_run_is_waited_on_with_progress_and_its_logs_read(tmp_path: Path) -> None:
    chain, slow = write_specs(tmp_path)
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    async def scenario(url: str) -> None:
        async with session(url, home_token(tmp_path / "home")) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {"run_pipeline", "execute_pipeline_test", "integrate_python_api", "up"} <= names
            result = await client.call_tool(
                "run_pipeline", {"pipeline_name": str(chain)}, progress_callback=on_progress
            )
            execution = structured(result)["execution"]
            assert execution["state"] == "succeeded"
            assert progress[-1] == 3 and progress[0] < 3
            read = await client.read_resource(f"shipyard://executions/{execution['id']}/logs/a")
            assert [content.text for content in read.contents] == ["step-a size=1\n"]  # type: ignore[union-attr]
            started = await call(client, "run_pipeline", pipeline_name=str(slow), background=True)
            stopped = await call(
                client,
                "stop_pipeline",
                execution_id=started["execution"]["id"],
                force=True,
                confirm=True,
            )
            assert stopped["stop"]["state"] == "cancelled"
            missing = error_text(await client.call_tool("stop_pipeline", {"confirm": True}))
            assert "needs execution_id or pipeline_name" in missing and "hint: " in missing

    with http_server(tmp_path / "home", tmp_path) as url:
        anyio.run(scenario, url)


def test_over_http_a_four_point_sweep_runs_each_point(tmp_path: Path) -> None:
    chain, _ = write_specs(tmp_path)
    progress: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    async def scenario(url: str) -> None:
        async with session(url, home_token(tmp_path / "home")) as client:
            result = await client.call_tool(
                "execute_pipeline_test",
                {
                    "pipeline_name": str(chain),
                    "parameter_sweep": {"size": [1, 2, 3, 4]},
                    "max_parallel_runs": 2,
                },
                progress_callback=on_progress,
            )
            if result.is_error and "not available yet" in error_text(result):
                pytest.skip("sweeps have not landed yet")
            sweep = structured(result)
            points = sweep["points"]
            assert sorted(point["parameters"]["size"] for point in points) == [1, 2, 3, 4]
            assert {point["state"] for point in points} == {"succeeded"}
            assert len({point["execution_id"] for point in points}) == 4
            assert progress[-1] == (4, 4)
            for point in points:
                logs = await call(
                    client, "manage_execution_logs", execution_id=point["execution_id"], unit="a"
                )
                size = point["parameters"]["size"]
                assert [line["text"] for line in logs["lines"]] == [f"step-a size={size}"]
            again = await call(client, "sweep_status", sweep_id=sweep["id"])
            assert again["id"] == sweep["id"] and len(again["points"]) == 4

    with http_server(tmp_path / "home", tmp_path) as url:
        anyio.run(scenario, url)


def test_with_a_token_set_a_request_without_it_is_refused(tmp_path: Path) -> None:
    token = "s3cret-token-for-the-test"

    async def scenario(url: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            listed = await call(client, "list_executions")
            assert listed == {"result": []}

    with http_server(tmp_path / "home", tmp_path, SHIPYARD_MCP_TOKEN=token) as url:
        for sent in (None, "Bearer wrong"):
            request = urllib.request.Request(url, data=b"{}", method="POST")
            if sent:
                request.add_header("Authorization", sent)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 401
        anyio.run(scenario, url)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--http", "0.0.0.0:8765"], {}, "not a loopback address"),
        (["--tools", "pipelines,nope"], {}, "no group named nope"),
        (["--http", "8765", "--allow-origin", "evil.example"], {}, "is not an origin"),
        (["--http", "127.0.0.1:99999"], {}, "the port must be a number from 1 to 65535"),
    ],
)
def test_the_cli_refuses_an_address_it_should_not_bind(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    done = subprocess.run(
        server_command(tmp_path / "home", *args),
        env=server_env(**env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr and "hint:" in done.stderr
    assert "Traceback" not in done.stderr
