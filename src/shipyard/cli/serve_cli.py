"""``shipyard serve``: the HTTP server over the operations (docs/server.md).

No ``from __future__ import annotations``: Typer reads the options' annotations (commands.py).
"""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli.app import HomeOption, app


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address to listen on [default: 127.0.0.1; $SHIPYARD_HOST]"),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port (0: any free one) [default: 8420; $SHIPYARD_PORT]"),
    ] = None,
    home: HomeOption = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", envvar="SHIPYARD_CONFIG", help="A TOML file of settings (docs/server.md)."
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="postgresql://… : serve the coordinator too [$SHIPYARD_DB]"),
    ] = None,
    allow_remote: Annotated[
        bool | None,
        typer.Option("--allow-remote", help="Listen on an address other than loopback (--host)."),
    ] = None,
    agents_dir: Annotated[
        Path | None,
        typer.Option(
            "--agents-dir",
            help="The agents folder of /api/v1/agents/{name}/… when a request names none "
            "[$SHIPYARD_AGENTS_DIR]",
        ),
    ] = None,
    max_agents: Annotated[
        int | None,
        typer.Option(
            "--max-agents",
            help="The most agents a deploy by name may leave running [$SHIPYARD_MAX_AGENTS]",
        ),
    ] = None,
    openapi: Annotated[
        bool, typer.Option("--openapi", help="Print the OpenAPI document and exit.")
    ] = False,
) -> None:
    """Serve everything Shipyard does over HTTP (127.0.0.1:8420 by default): settings from
    --config, then $SHIPYARD_… variables, then these flags, each overriding the one before."""
    from shipyard.server.settings import load_settings

    flags: dict[str, object] = {"host": host, "port": port, "db": db}
    flags |= {"allow_remote": allow_remote, "agents_dir": agents_dir, "max_agents": max_agents}
    settings = load_settings(config, os.environ, {**flags, "home": home})
    if openapi:
        from shipyard.server.run import openapi_document

        sys.stdout.write(openapi_document(settings))
        return
    from shipyard.server.run import serve as run_server

    run_server(settings)
