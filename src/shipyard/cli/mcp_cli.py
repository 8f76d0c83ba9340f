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
            help="Let --http bind a non-loopback address; needs $SHIPYARD_MCP_TOKEN "
            "(clients send Authorization: Bearer TOKEN).",
        ),
    ] = False,
    home: HomeOption = None,
) -> None:
    """Serve Shipyard's tools to an AI assistant over MCP (stdio by default)."""
    from shipyard.mcpserver import serving

    if http is None:
        serving.serve_stdio(home)
        return
    host, port = serving.parse_address(http)
    token = os.environ.get(serving.TOKEN_VARIABLE) or None
    serving.check_bind(host, allow_remote=allow_remote, token=token)
    serving.serve_http(home, host, port, token)
