"""The HTTP app of ``shipyard serve``: the whole :class:`shipyard.api.Operations` protocol,
one route per operation generated from the protocol itself, plus readable REST aliases.

``POST /api/v1/ops/{name}`` takes the operation's arguments by name in their wire form
(:mod:`shipyard.wire`) and answers ``{"result": …}``; an operation that yields (``logs``)
answers a stream of NDJSON lines. Request and response schemas come from the same type hints
(:mod:`shipyard.server.schemas`), so the OpenAPI document describes what really crosses. A
ShipyardError is a 4xx with ``{"msg", "hint", "error"}`` (the client raises it again as its own
class); anything unexpected is a 500 with a generic message, its detail in the server's log.

Operations that would drive an execution to its end on the server (``run``, ``up``,
``resume``, ``checkpoint_restore``, ``start``, ``sweep`` without ``detach`` or ``hold``) are
started detached instead, so no request ties a worker thread for hours; the remote client
follows their events to the end (:mod:`shipyard.remote`).
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import json
import logging
import time
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shipyard import __version__
from shipyard.errors import ShipyardError
from shipyard.server import auth, streams
from shipyard.server.errors import declare_errors, error_body, error_status
from shipyard.server.host import OperationsHost
from shipyard.server.protocol import NOT_SERVED, served_operations, signature_of
from shipyard.server.schemas import arguments_schema, is_stream, schema_of
from shipyard.server.settings import Settings
from shipyard.wire import WireError, decode, encode

__all__ = [
    "API_PREFIX",
    "DRIVEN",
    "NOT_SERVED",
    "create_app",
    "error_body",
    "error_status",
    "signature_of",
]

log = logging.getLogger("shipyard.server")

API_PREFIX = "/api/v1"

#: Operations that run an execution (or sweep) to its end unless told ``detach`` or ``hold``.
DRIVEN = frozenset({"run", "up", "resume", "checkpoint_restore", "start", "sweep"})

#: The coordinator's module, when it exists: ``routers(settings)`` gives its routers.
COORDINATOR_ROUTES = "shipyard.coordinator.routes"


def create_app(settings: Settings, *, token: str | None = None) -> FastAPI:
    """The app serving ``settings.home``; ``token``: the bearer token every route but
    ``/health`` and ``/metrics`` requires (default: the settings', else the home's file)."""
    from shipyard.server import metrics
    from shipyard.server.limits import BodyLimit
    from shipyard.workspace import Workspace

    workspace = Workspace(settings.home) if settings.home else Workspace.default()
    host = OperationsHost(workspace, agent_limit=settings.max_agents)
    expected = token or settings.token or _token_of(workspace.home)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        host.close()

    app = FastAPI(
        title="Shipyard",
        version=__version__,
        summary="Everything Shipyard does, over HTTP (docs/server.md).",
        lifespan=lifespan,
    )
    app.state.host = host
    app.state.settings = settings
    app.state.metrics = metrics.install(app)
    app.add_middleware(BodyLimit)  # outermost (added last): nothing reads a body too large
    _install_errors(app)
    guard = [Depends(auth.token_checker(expected)), Depends(_no_nul_in_parameters)]
    operations, components = _operations_router(host)
    app.include_router(operations, prefix=f"{API_PREFIX}/ops", dependencies=guard)
    from shipyard.server.aliases import aliases_router

    app.include_router(aliases_router(host), prefix=API_PREFIX, dependencies=guard)
    from shipyard.server.agent_routes import agents_router

    app.include_router(agents_router(host, settings), prefix=API_PREFIX, dependencies=guard)
    app.add_api_route("/health", _health, methods=["GET"], tags=["server"])
    for router in coordinator_routers(settings, app.state.metrics):
        app.include_router(router)
    if settings.db is not None:
        # The coordinator's database restarting is a 503 the client may retry, not a 500.
        from shipyard.coordinator.httperrors import install_database_handlers

        install_database_handlers(app)
    _document(app, components)
    return app


def _document(app: FastAPI, components: dict[str, dict[str, Any]]) -> None:
    """The OpenAPI document with the records the operations' schemas refer to."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(components)
            declare_errors(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way


def _token_of(home: Path) -> str:
    token = auth.read_token(auth.token_for(home))
    if token is None:
        raise ShipyardError(
            f"the server's token file {home / auth.TOKEN_FILE} is empty",
            hint="delete it: the next start writes a new one",
        )
    return token


def _health() -> dict[str, str]:
    """Open to all (no token): for probes and the readiness checks of tests and scripts."""
    return {"status": "ok", "version": __version__}


def coordinator_routers(settings: Settings, registry: Any = None) -> list[APIRouter]:
    """The coordinator's routers when ``settings.db`` is set (``--db``); its figures go to
    ``registry`` (the app's /metrics)."""
    if settings.db is None:
        return []
    if importlib.util.find_spec(COORDINATOR_ROUTES) is None:
        raise ShipyardError(
            "--db: the coordinator's routes are not built yet in this version",
            hint="serve without --db (the local server, on SQLite) meanwhile",
        )
    module = importlib.import_module(COORDINATOR_ROUTES)
    return list(module.routers(settings, registry))


# -- errors ---------------------------------------------------------------------------------------


def _install_errors(app: FastAPI) -> None:
    async def shipyard_error(_: Request, error: Exception) -> Response:
        assert isinstance(error, ShipyardError)  # registered for that class
        status = error_status(error)
        headers = _error_headers(error, status)
        return JSONResponse(error_body(error), status_code=status, headers=headers)

    async def unauthorized(_: Request, error: Exception) -> Response:
        message = error.message if isinstance(error, auth.Unauthorized) else "unauthorized"
        body = {"msg": message, "hint": "send Authorization: Bearer <token> (docs/server.md)"}
        headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse(body | {"error": "unauthorized"}, status_code=401, headers=headers)

    async def invalid(_: Request, error: Exception) -> Response:
        problems = error.errors() if isinstance(error, RequestValidationError) else []
        where = "; ".join(_problem(problem) for problem in problems) or "the request"
        body = {"msg": f"bad request: {where}", "hint": "see /docs for the route's parameters"}
        return JSONResponse(body | {"error": "invalid-request"}, status_code=422)

    async def refused(request: Request, error: Exception) -> Response:
        # Starlette's own refusals (no such route 404, a method the route lacks 405) in the
        # one shape of error every other answer has, not FastAPI's {"detail": …}.
        assert isinstance(error, StarletteHTTPException)  # registered for that class
        headers = dict(error.headers or {})
        if error.status_code < 400:
            return Response(status_code=error.status_code, headers=headers)
        message = f"{request.method} {request.url.path}: {error.detail}"
        hint = getattr(error, "hint", "see /docs for the routes")  # limits.BodyTooLarge's
        body = {"msg": message, "hint": hint, "error": "http"}
        return JSONResponse(body, status_code=error.status_code, headers=headers)

    async def unexpected(request: Request, error: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=error)
        body = {"msg": "the server failed on this request; its log has the details"}
        return JSONResponse(body | {"hint": None, "error": "internal"}, status_code=500)

    app.add_exception_handler(ShipyardError, shipyard_error)
    app.add_exception_handler(auth.Unauthorized, unauthorized)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, refused)
    app.add_exception_handler(Exception, unexpected)


def _error_headers(error: ShipyardError, status: int) -> dict[str, str] | None:
    """A 401 says which scheme would do (RFC 9110 §11.6.1), a 429 when to come back (RFC 6585
    §4): the coordinator's refusals carried them only in its own app, not when served here."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, int) and not isinstance(retry_after, bool):
        headers["Retry-After"] = str(retry_after)
    return headers or None


def _problem(problem: Any) -> str:
    where = ".".join(str(part) for part in problem.get("loc", ()))
    return f"{where}: {problem.get('msg', 'invalid')}"


# -- one route per operation ----------------------------------------------------------------------


def _operations_router(host: OperationsHost) -> tuple[APIRouter, dict[str, dict[str, Any]]]:
    router = APIRouter(tags=["operations"])
    components: dict[str, dict[str, Any]] = {}
    for name in served_operations():
        signature, hints = signature_of(name)
        returned = hints["return"]
        router.add_api_route(
            f"/{name}",
            _handler(host, name),
            methods=["POST"],
            name=name,
            summary=_summary(name),
            openapi_extra=_openapi(signature, hints, components),
            response_class=StreamingResponse if is_stream(returned) else JSONResponse,
        )
    return router, components


def _summary(name: str) -> str:
    from shipyard import api

    doc = inspect.getdoc(getattr(api.Operations, name)) or name.replace("_", " ")
    return doc.split("\n\n")[0].replace("\n", " ")[:120]


def _openapi(
    signature: inspect.Signature, hints: dict[str, Any], components: dict[str, Any]
) -> dict[str, Any]:
    body = arguments_schema(hints, components)
    required = [
        name
        for name, parameter in signature.parameters.items()
        if name != "self" and parameter.default is inspect.Parameter.empty
    ]
    if required:
        body["required"] = required
    returned = hints["return"]
    if is_stream(returned):
        content = {"application/x-ndjson": {"schema": streams.line_schema(returned, components)}}
    else:
        result = {"type": "object", "properties": {"result": schema_of(returned, components)}}
        content = {"application/json": {"schema": result | {"required": ["result"]}}}
    error = {"description": "A ShipyardError: {msg, hint, error}"}
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {
            "200": {"description": "The result, in its wire form", "content": content},
            "400": error,
            "401": {"description": "Missing or wrong bearer token"},
            "404": error,
            "422": error,
        },
    }


Handler = Callable[[Request], Awaitable[Response]]


def _handler(host: OperationsHost, name: str) -> Handler:
    signature, hints = signature_of(name)
    returned = hints["return"]

    async def handle(request: Request) -> Response:
        arguments = arguments_of(name, signature, hints, await _body(request))
        if is_stream(returned):
            item = typing.get_args(returned)[0]
            opened = functools.partial(_open_stream, host, name, arguments)
            return await streams.respond(opened, item, streams.ndjson_of, "application/x-ndjson")
        result = await run_in_threadpool(_call, host, name, arguments, returned)
        return JSONResponse({"result": result})

    handle.__name__ = f"op_{name}"
    return handle


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise WireError(
            f"the request body is not JSON: {error}",
            hint="send the arguments as a JSON object, by name",
        ) from None
    except RecursionError:  # the parser's own limit (was a 500)
        raise WireError("the request body is nested too deeply to read", hint=_SEND) from None
    if not isinstance(data, dict):
        raise WireError("the request body must be a JSON object of arguments by name", hint=_SEND)
    return data


_SEND = 'send {"argument": value, …}: the schema of each operation is at /docs'


def arguments_of(
    name: str, signature: inspect.Signature, hints: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    """The operation's arguments decoded from ``data``; what does not fit is a WireError (422)
    naming the argument, never an exception from deep inside."""
    known = [key for key in signature.parameters if key != "self"]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise WireError(
            f"{name}: unknown argument {', '.join(unknown)}",
            hint=f"{name} takes: {', '.join(known) or 'no arguments'}",
        )
    missing = [
        key
        for key in known
        if key not in data and signature.parameters[key].default is inspect.Parameter.empty
    ]
    if missing:
        raise WireError(f"{name}: missing argument {', '.join(missing)}")
    decoded: dict[str, Any] = {}
    for key, value in data.items():
        if _names_a_file(hints[key]) and _has_nul(value):
            raise WireError(f"{name}: argument {key} contains a NUL character", hint=_NUL_HINT)
        if _too_large(value):
            raise WireError(f"{name}: argument {key} holds a number past ±{INT64_MAX}")
        try:
            decoded[key] = decode(value, hints[key])
            _within_choices(hints[key], decoded[key])
        except (WireError, TypeError, ValueError, KeyError, AttributeError) as error:
            raise WireError(
                f"{name}: argument {key} does not fit its type: {error}",
                hint=f"see the request schema of POST {API_PREFIX}/ops/{name} in /docs",
            ) from None
    return undetached(name, decoded)


_NUL_HINT = "no file or folder name may hold one: remove it"
#: The REST routes' parameters that name a file or folder on the server.
_FILE_PARAMETERS = frozenset({"folder"})


def _names_a_file(hint: Any) -> bool:
    """Whether an argument's type is (or may be) a path: ``Path``, ``str | Path``…"""
    return hint is Path or any(_names_a_file(member) for member in typing.get_args(hint))


def _has_nul(value: Any) -> bool:
    """Whether a NUL is in ``value`` (JSON: text, lists, objects). The operating system refuses
    it in a file name (a ValueError from deep inside, which was a 500). An id with one is
    merely no execution's: its operation says so (404)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    return False


#: The largest whole number an argument may be: the store's (SQLite's) signed 64 bits.
INT64_MAX = 2**63 - 1


def _too_large(value: Any) -> bool:
    """Whether a whole number argument (or one in a list) is past 64 bits: SQLite raised
    OverflowError on one, a 500; no count, limit or cursor is that large. (A mapping's values,
    a run's parameters, are the spec's to judge.)"""
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) > INT64_MAX
    if isinstance(value, list):
        return any(_too_large(item) for item in value)
    return False


def _no_nul_in_parameters(request: Request) -> None:
    """A REST route's parameter naming a file or folder, refused (422) when it holds a NUL."""
    for where, values in (("path", request.path_params.items()),
                          ("query", request.query_params.multi_items())):  # fmt: skip
        for key, value in values:
            if key in _FILE_PARAMETERS and _has_nul(value):
                raise WireError(f"{where} parameter {key} contains a NUL character", hint=_NUL_HINT)


def _within_choices(hint: Any, value: Any) -> None:
    """A Literal argument (``mode``) is one of its values: the wire passes it as it is."""
    if typing.get_origin(hint) is typing.Literal and value not in typing.get_args(hint):
        choices = ", ".join(map(str, typing.get_args(hint)))
        raise ValueError(f"{value!r} is not one of {choices}")


def undetached(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """An operation that would hold the request until an execution ends runs detached."""
    if name in DRIVEN and not arguments.get("hold"):
        return {**arguments, "detach": True}
    return arguments


def _call(host: OperationsHost, name: str, arguments: dict[str, Any], returned: Any) -> Any:
    started = time.perf_counter()
    try:
        result = getattr(host.ops(), name)(**arguments)
    except OverflowError:
        # A number too large for the store, from wherever it came: the caller's input.
        raise WireError(f"{name}: a number in the arguments is too large") from None
    except ValueError as error:
        # The operating system's refusal of a NUL in a file name or a command's argv, from
        # any argument that reached one (not only those typed as paths): the caller's input.
        if "embedded null" not in str(error):
            raise
        raise WireError(f"{name}: an argument holds a NUL character", hint=_NUL_HINT) from None
    log.debug("%s took %.3f s", name, time.perf_counter() - started)
    return encode(result, returned)


def _open_stream(host: OperationsHost, name: str, arguments: dict[str, Any]) -> Iterator[Any]:
    """The operation's iterator, on the operations of the stream thread it is read on."""
    iterator: Iterator[Any] = getattr(host.ops(), name)(**arguments)
    return iterator
