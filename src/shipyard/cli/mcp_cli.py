"""shipyard mcp: the MCP server over stdio or streamable HTTP (issue 12 §5).

Commands registered on :data:`shipyard.cli.commands.app` when that module is imported.
Import heavy modules inside the commands: every command line pays for what is imported here.
"""

import os
from typing import Annotated

import typer

from shipyard.cli.app import HomeOption, app


@app.command(name="mcp")
def mcp_serve(
    http: Annotated[
        str | None,
        typer.Option(
            "--http",
            metavar="HOST:PORT",
            help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio "
            "(loopback only unless --allow-remote).",
        ),
    ] = None,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Let --http bind a non-loopback address (clients still need the bearer "
            "token: the home's server.token, or $SHIPYARD_MCP_TOKEN).",
        ),
    ] = False,
    allow_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-origin",
            metavar="ORIGIN",
            envvar="SHIPYARD_MCP_ALLOW_ORIGIN",
            help="An Origin (scheme://host[:port]) whose browser requests --http accepts; "
            "repeat for more. Default: loopback origins only.",
        ),
    ] = None,
    tools: Annotated[
        str | None,
        typer.Option(
            "--tools",
            metavar="GROUP,...",
            envvar="SHIPYARD_MCP_TOOLS",
            help="The tool groups to list: pipelines, fleets, registry, sweeps, agents, index, "
            "maintenance, artifacts, ml, environments, api, or all "
            "[default: pipelines,fleets,registry,sweeps,api].",
        ),
    ] = None,
    read_only: Annotated[
        bool,
        typer.Option(
            "--read-only",
            envvar="SHIPYARD_MCP_READ_ONLY",
            help="List only the read-only tools (of every group, or of --tools).",
        ),
    ] = False,
    home: HomeOption = None,
) -> None:
    """Serve Shipyard's tools to an AI assistant over MCP (stdio by default)."""
    from shipyard.mcpserver import serving, toolsets

    groups = toolsets.parse_groups(tools)
    if http is None:
        serving.serve_stdio(home, groups, read_only)
        return
    host, port = serving.parse_address(http)
    origins = allow_origin or []
    serving.check_origins(origins)
    token = serving.http_token(home, os.environ.get(serving.TOKEN_VARIABLE) or None)
    serving.check_bind(host, allow_remote=allow_remote, token=token[0])
    serving.serve_http(home, (host, port), token, origins, (groups, read_only))
