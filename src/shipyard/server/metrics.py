"""``/metrics`` (Prometheus text, open like ``/health``): requests by route and status, and
their latency. The registry is the app's own (``app.state.metrics``), so two apps in one
process (tests) never share figures, and the coordinator adds its gauges to it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["install"]


def install(app: FastAPI) -> CollectorRegistry:
    registry = CollectorRegistry()
    requests = Counter(
        "shipyard_http_requests",
        "HTTP requests answered, by method, route and status.",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "shipyard_http_request_seconds",
        "Time to the response's start, by route.",
        ["route"],
        registry=registry,
    )
    app.add_middleware(Measure, requests=requests, latency=latency)

    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", metrics, methods=["GET"], tags=["server"])
    return registry


class Measure:
    """A plain ASGI middleware, not ``@app.middleware("http")``: Starlette's
    ``BaseHTTPMiddleware`` runs the rest of the app in a task of its own behind memory streams,
    the largest single cost of a small request in a profile of the coordinator under load."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def measured(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The route's template (/api/v1/ops/{name} is one route per operation), never
                # the raw path: an id in a path must not make a new series. The router wrote
                # it into this same scope.
                route = getattr(scope.get("route"), "path", "unmatched")
                self.latency.labels(route).observe(time.perf_counter() - started)
                self.requests.labels(scope["method"], route, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, measured)
