"""``/metrics`` (Prometheus text, open like ``/health``): requests by route and status, and
their latency. The registry is the app's own (``app.state.metrics``), so two apps in one
process (tests) never share figures, and the coordinator adds its gauges to it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

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

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        # The route's template (/api/v1/ops/{name} is one route per operation), never the raw
        # path: an id in a path must not make a new series.
        route = getattr(request.scope.get("route"), "path", "unmatched")
        latency.labels(route).observe(time.perf_counter() - started)
        requests.labels(request.method, route, str(response.status_code)).inc()
        return response

    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", metrics, methods=["GET"], tags=["server"])
    return registry
