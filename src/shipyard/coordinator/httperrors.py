"""Refusals the coordinator's routes answer with a status and a JSON ``{"msg": …}`` (plus a
``hint`` when there is something to do about it) — never a traceback, never FastAPI's
``{"detail": …}`` shape, so every client reads one shape of error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.errors import CoordinatorError, ShipyardError

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse


class Unauthorized(CoordinatorError):
    """No token, or one that is malformed, expired or revoked: log in (again)."""

    http_status = 401


class Forbidden(CoordinatorError):
    """A valid token that may not do this: a token of another kind, too low a role."""

    http_status = 403


def body(error: ShipyardError) -> dict[str, str]:
    found = {"msg": error.message}
    if error.hint:
        found["hint"] = error.hint
    return found


async def _refused(request: Request, error: Exception) -> JSONResponse:
    from fastapi.responses import JSONResponse

    assert isinstance(error, CoordinatorError)
    # 401 says which scheme would do (RFC 9110 §11.6.1); 429 when to come back (RFC 6585 §4).
    headers = {"WWW-Authenticate": "Bearer"} if error.http_status == 401 else {}
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(body(error), status_code=error.http_status, headers=headers or None)


async def _invalid_request(request: Request, error: Exception) -> JSONResponse:
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    assert isinstance(error, RequestValidationError)
    problems = [_problem(dict(item)) for item in error.errors()[:5]]
    return JSONResponse({"msg": "; ".join(problems)}, status_code=400)


def _problem(item: dict[str, object]) -> str:
    where = item.get("loc") or ()
    place = ".".join(str(part) for part in where) if isinstance(where, (list, tuple)) else ""
    return f"{place}: {item.get('msg', 'invalid')}" if place else str(item.get("msg", "invalid"))


async def _database_away(request: Request, error: Exception) -> JSONResponse:
    """The database's connection failed under a route (PostgreSQL restarting, unreachable):
    503 with a message, as the queue's own DatabaseUnavailable — the client may try again."""
    from fastapi.responses import JSONResponse

    first = (str(getattr(error, "orig", None) or error).strip().splitlines() or ["?"])[0]
    return JSONResponse(
        {"msg": f"the coordinator's database does not answer: {first[:300]}",
         "hint": "try again shortly (PostgreSQL may be restarting)",
         "error": "shipyard.errors:DatabaseUnavailable"},  # as the server says its own errors
        status_code=503, headers={"Retry-After": "1"},
    )  # fmt: skip


def install_database_handlers(app: FastAPI) -> None:
    """A connection error of the drivers under the routes (SQLAlchemy's, psycopg's) is a 503
    with ``{"msg", "hint"}``, not a 500: the server itself is fine, its database is away."""
    import psycopg
    from sqlalchemy import exc

    for kind in (exc.OperationalError, exc.InterfaceError, psycopg.OperationalError,
                 psycopg.InterfaceError):  # fmt: skip
        app.add_exception_handler(kind, _database_away)


def install_handlers(app: FastAPI) -> None:
    """Answer every :class:`~shipyard.errors.CoordinatorError` with its status and malformed
    bodies with 400 (not FastAPI's 422), both as ``{"msg": …}``."""
    from fastapi.exceptions import RequestValidationError

    app.add_exception_handler(CoordinatorError, _refused)
    app.add_exception_handler(RequestValidationError, _invalid_request)
