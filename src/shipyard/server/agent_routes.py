"""Agents by name over HTTP, as ATOLL's deployment server has them: readable routes beside the
generated ``/api/v1/ops/agent_*`` ones. The agents folder is the request's ``folder``, else the
server's ``agents_dir`` setting (``--agents-dir``, ``$SHIPYARD_AGENTS_DIR``, the TOML file); the
server's ``max_agents`` caps every deploy, whatever limit a request asks for."""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import APIRouter, Query

from shipyard.errors import ShipyardError
from shipyard.server.host import OperationsHost
from shipyard.server.schemas import returns
from shipyard.server.settings import Settings
from shipyard.wire import encode

__all__ = ["agents_router"]


def agents_router(host: OperationsHost, settings: Settings) -> APIRouter:
    router = APIRouter()
    tags: list[str | Enum] = ["agents"]

    def folder_of(given: str | None) -> str:
        if given:
            return given
        if settings.agents_dir is not None:
            return str(settings.agents_dir)
        raise ShipyardError(
            "no agents folder: this server has no agents_dir and the request gave no ?folder=",
            hint="add ?folder=PATH (a folder on the server), or serve with --agents-dir DIR",
        )

    @router.get("/agents", tags=tags, responses=returns("agents_list"))
    def agents_list(folder: str | None = None) -> Any:
        """Every agent of the folder by name: discovered (nothing runs), deployed (pid, port,
        health), failed or invalid (with the problem)."""
        return _wire("agents_list", host.ops().agents_list(folder_of(folder)))

    @router.get("/agents/{name}", tags=tags, responses=returns("agent_status"))
    def agent_status(name: str, folder: str | None = None) -> Any:
        return _wire("agent_status", host.ops().agent_status(folder_of(folder), name))

    @router.post("/agents/{name}/deploy", tags=tags, responses=returns("agent_deploy"))
    def agent_deploy(
        name: str,
        folder: str | None = None,
        max_agents: int | None = Query(None, ge=1),
        wait: bool = True,
    ) -> Any:
        """Start one agent (a fleet of its own; the others keep running)."""
        ops = host.ops()
        result = ops.agent_deploy(folder_of(folder), name, max_agents=max_agents, wait=wait)
        return _wire("agent_deploy", result)

    @router.post("/agents/{name}/undeploy", tags=tags, responses=returns("agent_undeploy"))
    def agent_undeploy(
        name: str, folder: str | None = None, grace: float = Query(30.0, ge=0, le=86_400)
    ) -> Any:
        result = host.ops().agent_undeploy(folder_of(folder), name, grace=grace)
        return _wire("agent_undeploy", result)

    @router.post("/agents/{name}/restart", tags=tags, responses=returns("agent_restart"))
    def agent_restart(name: str, folder: str | None = None) -> Any:
        return _wire("agent_restart", host.ops().agent_restart(folder_of(folder), name))

    return router


def _wire(name: str, result: Any) -> Any:
    from shipyard.server.protocol import signature_of

    return encode(result, signature_of(name)[1]["return"])
