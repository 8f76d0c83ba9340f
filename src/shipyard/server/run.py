"""Starting the server: the socket bound first (so ``--port 0`` can say which port it got),
one line saying where it listens and where its token is, then uvicorn until Ctrl-C."""

from __future__ import annotations

import dataclasses
import errno
import socket
import sys
from pathlib import Path

from shipyard.errors import ShipyardError
from shipyard.server.settings import Settings

__all__ = ["serve"]


def serve(settings: Settings) -> None:
    import uvicorn

    from shipyard.server import auth
    from shipyard.server.app import create_app
    from shipyard.workspace import Workspace

    home = settings.home or Workspace.default().home
    app = create_app(settings)  # refuses --db before anything listens
    listening = _bind(settings.host, settings.port)
    port = listening.getsockname()[1]
    where = "the token given ($SHIPYARD_TOKEN or the config file)"
    if settings.token is None:
        where = str(auth.token_for(home))
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    sys.stdout.write(f"shipyard serve: http://{host}:{port} (home {home}; token in {where})\n")
    sys.stdout.flush()
    config = uvicorn.Config(app, log_level=settings.log_level, access_log=False)
    uvicorn.Server(config).run(sockets=[listening])


def _bind_hint(error: OSError) -> str:
    """What to change when the address cannot be had: the port only when it is the port."""
    if error.errno in (errno.EADDRINUSE, errno.EACCES):
        return "another server may hold that port: pick another with --port (0: any free one)"
    # A name that does not resolve (socket.gaierror) or an address of no interface here.
    return "--host must be an address of this machine (e.g. 127.0.0.1) or a name resolving to one"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it every response (headers, then body) waited 40 ms for a delayed ACK (measured).
    listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OSError as error:
        listening.close()
        raise ShipyardError(
            f"cannot listen on {host}:{port}: {error.strerror}", hint=_bind_hint(error)
        ) from None
    listening.listen(128)
    return listening


def openapi_document(settings: Settings) -> str:
    """The OpenAPI document of the app, as ``docs/api/openapi.json`` holds it; with
    ``settings.db``, of the coordinator's app (``serve --db``), as
    ``docs/api/openapi-coordinator.json`` holds it — the database is not asked."""
    import json
    import tempfile

    from shipyard.server.app import create_app

    # A throwaway home and token: the document does not depend on either, and printing it
    # must not create a home (or a token) where the command was run.
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app(Settings(home=Path(scratch)), token="x" * 32)
        if settings.db is not None:
            from shipyard.coordinator.routes import document_routers

            # The routes serve --db mounts, over a database never connected to.
            for router in document_routers(dataclasses.replace(settings, home=Path(scratch))):
                app.include_router(router)
        return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"
