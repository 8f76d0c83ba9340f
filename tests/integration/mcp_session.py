"""What the MCP integration tests share: the specs they run, a free loopback port, the server
spawned the way a desktop assistant spawns it (the installed ``shipyard mcp``), and the calls
every transport is checked with."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.types import CallToolResult

from tests.acceptance.conftest import shipyard_executable

#: Three steps in a chain, each ~0.3 s: long enough to see progress reported between them.
CHAIN = """\
name: mcpchain
parameters:
  size: {type: int, default: 1, choices: [1, 2, 3, 4]}
steps:
  a: {run: 'sleep 0.3; echo "step-a size=$SHIPYARD_PARAM_SIZE"', shell: true}
  b: {run: 'sleep 0.3; echo step-b', shell: true, needs: [a]}
  c: {run: [echo, step-c], needs: [b]}
"""

#: A step that runs until it is stopped.
SLOW = """\
name: mcpslow
steps:
  forever: {run: [sleep, '600']}
"""


def write_specs(folder: Path) -> tuple[Path, Path]:
    chain, slow = folder / "chain.yaml", folder / "slow.yaml"
    chain.write_text(CHAIN)
    slow.write_text(SLOW)
    return chain, slow


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_command(home: Path, *extra: str, tools: str | None = "all") -> list[str]:
    """``shipyard mcp`` over ``home``; every tool group unless ``tools`` says otherwise (None:
    the default set), so the tests of each tool find it."""
    chosen = ["--tools", tools] if tools is not None else []
    return [shipyard_executable(), "mcp", "--home", str(home), *chosen, *extra]


def server_env(**extra: str) -> dict[str, str]:
    # The test's own SHIPYARD_* settings stay out of the server's (--home says where), but
    # SHIPYARD_WIRE_CHECK passes (under it every tool's calls cross JSON both ways), and so does
    # the test's own registry of supervisors: a run an MCP test starts is not the user's.
    kept = {"SHIPYARD_WIRE_CHECK", "SHIPYARD_SUPERVISORS_DIR", "SHIPYARD_BASE_PORT"}
    scrubbed = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_") or k in kept}
    return {**scrubbed, "NO_COLOR": "1", **extra}


def structured(result: CallToolResult) -> Any:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    return structured(await client.call_tool(tool, arguments))


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
