"""Readable REST routes over the same operations, where people and dashboards expect them:
executions, their events and logs (server-sent events), stop; fleets' services and canary
rollouts; pipelines and their metrics; models (agents by name:
:mod:`shipyard.server.agent_routes`). Each answers the operation's result in its wire form,
without the ``result`` wrapper of ``/api/v1/ops/{name}``."""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from shipyard.server import streams
from shipyard.server.host import OperationsHost
from shipyard.server.schemas import returns
from shipyard.wire import encode

__all__ = ["aliases_router"]


def aliases_router(host: OperationsHost) -> APIRouter:
    router = APIRouter()
    _executions(router, host)
    _fleets(router, host)
    _catalogue(router, host)
    _ml(router, host)
    _rollouts(router, host)
    return router


def _wire(name: str, result: Any) -> Any:
    from shipyard.server.protocol import signature_of

    return encode(result, signature_of(name)[1]["return"])


def _executions(router: APIRouter, host: OperationsHost) -> None:
    tags: list[str | Enum] = ["executions"]

    @router.get("/executions", tags=tags, responses=returns("list_executions"))
    def list_executions(
        active: bool = False, name: str | None = None, limit: int = Query(50, ge=1, le=10_000)
    ) -> Any:
        result = host.ops().list_executions(active_only=active, name=name, limit=limit)
        return _wire("list_executions", result)

    @router.get("/executions/{execution_id}", tags=tags, responses=returns("status"))
    def status(execution_id: str) -> Any:
        return _wire("status", host.ops().status(execution_id))

    @router.get("/executions/{execution_id}/events", tags=tags, responses=returns("events"))
    def events(execution_id: str, after: int = Query(0, ge=0, le=2**63 - 1)) -> Any:
        return _wire("events", host.ops().events(execution_id, after=after))

    @router.get("/executions/{execution_id}/logs", tags=tags, response_class=StreamingResponse)
    async def logs(
        execution_id: str,
        unit: str | None = None,
        follow: bool = False,
        tail: int | None = Query(None, ge=0, le=2**63 - 1),
        grep: str | None = None,
        level: str | None = None,
    ) -> Response:
        """The log lines as server-sent events (``line`` each, then ``end`` or ``error``); a
        refusal before the first line is the answer's status (404 unknown execution, 400)."""
        from shipyard.api import LogLine

        def opened() -> Any:  # on a stream thread, with its operations
            return host.ops().logs(
                execution_id, unit, tail=tail, grep=grep, follow=follow, level=level
            )

        return await streams.respond(opened, LogLine, streams.sse_of, "text/event-stream")

    @router.get("/executions/{execution_id}/artifacts", tags=tags, responses=returns("artifacts"))
    def artifacts(execution_id: str, step: str | None = None) -> Any:
        """What the steps' outputs left (of ``step`` only): path, size, SHA-256."""
        return _wire("artifacts", host.ops().artifacts(execution_id, step))

    @router.post(
        "/executions/{execution_id}/steps/{step}/approve",
        tags=tags,
        responses=returns("gate_approve"),
    )
    def gate_approve(
        execution_id: str,
        step: str,
        reason: str = Query(..., min_length=1, max_length=2000),
        approved_by: str | None = Query(None, max_length=200),
    ) -> Any:
        """Pass a gated step's failed gate on purpose (then resume the execution)."""
        approval = host.ops().gate_approve(
            execution_id, step, reason=reason, approved_by=approved_by
        )
        return _wire("gate_approve", approval)

    @router.post("/executions/{execution_id}/stop", tags=tags, responses=returns("stop"))
    def stop(
        execution_id: str, force: bool = False, grace: float = Query(30.0, ge=0, le=86_400)
    ) -> Any:
        return _wire("stop", host.ops().stop(execution_id, force=force, grace=grace))


def _fleets(router: APIRouter, host: OperationsHost) -> None:
    tags: list[str | Enum] = ["fleets"]

    @router.get("/fleets/{execution_id}/services", tags=tags, responses=returns("status", "units"))
    def services(execution_id: str) -> Any:
        status = host.ops().status(execution_id)
        return _wire("status", status)["units"]

    @router.post(
        "/fleets/{execution_id}/services/{service}/restart",
        tags=tags,
        responses=returns("restart_service"),
    )
    def restart(execution_id: str, service: str) -> Any:
        return _wire("restart_service", host.ops().restart_service(execution_id, service))

    @router.post(
        "/fleets/{execution_id}/services/{service}/stop",
        tags=tags,
        responses=returns("service_stop"),
    )
    def service_stop(execution_id: str, service: str) -> Any:
        return _wire("service_stop", host.ops().service_stop(execution_id, service))

    @router.post(
        "/fleets/{execution_id}/services/{service}/start",
        tags=tags,
        responses=returns("service_start"),
    )
    def service_start(execution_id: str, service: str) -> Any:
        return _wire("service_start", host.ops().service_start(execution_id, service))


def _catalogue(router: APIRouter, host: OperationsHost) -> None:
    # The agents' routes (by name, with the server's agents_dir) are server/agent_routes.py.
    @router.get("/pipelines", tags=["pipelines"], responses=returns("pipeline_list"))
    def pipelines() -> Any:
        return _wire("pipeline_list", host.ops().pipeline_list())

    @router.get("/pipelines/{name}", tags=["pipelines"], responses=returns("pipeline_show"))
    def pipeline(name: str) -> Any:
        return _wire("pipeline_show", host.ops().pipeline_show(name))


def _ml(router: APIRouter, host: OperationsHost) -> None:
    """A pipeline's metrics and the model registry's reads (issue 15 §3-4); its changes
    (register, promote, rollback) are the operations' POST routes."""

    @router.get(
        "/pipelines/{name}/metrics", tags=["pipelines"], responses=returns("pipeline_metrics")
    )
    def pipeline_metrics(
        name: str, since: str | None = None, limit: int = Query(1000, ge=1, le=100_000)
    ) -> Any:
        return _wire(
            "pipeline_metrics", host.ops().pipeline_metrics(name, since=since, limit=limit)
        )

    tags: list[str | Enum] = ["models"]

    @router.get("/models", tags=tags, responses=returns("model_list"))
    def models() -> Any:
        return _wire("model_list", host.ops().model_list())

    @router.get("/models/{name}", tags=tags, responses=returns("model_show"))
    def model(name: str, version: int | None = Query(None, ge=1, le=2**63 - 1)) -> Any:
        return _wire("model_show", host.ops().model_show(name, version=version))

    @router.get("/models/{name}/path", tags=tags, responses=returns("model_path"))
    def model_path(
        name: str, stage: str = "production", version: int | None = Query(None, ge=1, le=2**63 - 1)
    ) -> Any:
        return _wire("model_path", host.ops().model_path(name, stage=stage, version=version))


def _rollouts(router: APIRouter, host: OperationsHost) -> None:
    """Canary rollouts of a fleet's services (issue 15 §5): their status, promote and abort;
    starting one (it takes the changed env) is the operation's POST route, rollout_start."""
    tags: list[str | Enum] = ["fleets"]

    @router.get("/fleets/{execution_id}/rollouts", tags=tags, responses=returns("rollout_status"))
    def rollouts(execution_id: str, service: str | None = None) -> Any:
        return _wire("rollout_status", host.ops().rollout_status(execution_id, service))

    @router.post(
        "/fleets/{execution_id}/services/{service}/rollout/promote",
        tags=tags,
        responses=returns("rollout_promote"),
    )
    def rollout_promote(execution_id: str, service: str) -> Any:
        return _wire("rollout_promote", host.ops().rollout_promote(execution_id, service))

    @router.post(
        "/fleets/{execution_id}/services/{service}/rollout/abort",
        tags=tags,
        responses=returns("rollout_abort"),
    )
    def rollout_abort(execution_id: str, service: str) -> Any:
        return _wire("rollout_abort", host.ops().rollout_abort(execution_id, service))
