"""The HTTP status and JSON body of a ShipyardError, shared by the routes and the streams."""

from __future__ import annotations

from typing import Any

from shipyard.errors import ShipyardError
from shipyard.wire import WireError, encode_error

__all__ = ["ERROR_SCHEMA", "declare_errors", "error_body", "error_status"]


def error_status(error: ShipyardError) -> int:
    """The HTTP status of a ShipyardError: not found 404, a conflict with the state 409,
    a spec or value that does not fit 422, a fault of the server's machine 503, else 400."""
    from shipyard import errors

    declared = getattr(error, "http_status", None)  # the coordinator's errors carry their own
    if isinstance(declared, int) and 400 <= declared < 600:
        return declared
    kind = type(error).__name__
    if kind.endswith("NotFound") or "not found" in error.message:
        return 404
    if isinstance(error, errors.MachineFault):
        return 503
    if isinstance(error, errors.ControlUnavailable | errors.StoreError):
        return 409
    if isinstance(error, errors.SpecError | errors.ParameterError | WireError):
        return 422
    return 400


def error_body(error: ShipyardError) -> dict[str, Any]:
    data = encode_error(error)
    return {"msg": data.pop("message"), **data}


#: The body of every refusal (4xx) and failure (5xx) the server answers, as :func:`error_body`
#: (and the app's handlers for its own refusals) make it.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "description": "What is wrong (msg), what to do about it (hint), and the error's kind: a "
    "ShipyardError's module:class, from which the Python client raises it again.",
    "properties": {
        "msg": {"type": "string"},
        "hint": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "error": {"type": "string"},
        "problems": {"type": "array", "description": "A spec's problems, each with its place."},
    },
    "required": ["msg", "hint", "error"],
}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
#: FastAPI's schemas of its default 422 body ({"detail": [...]}), which this server never sends.
_FASTAPI_422 = ("HTTPValidationError", "ValidationError")


def declare_errors(document: dict[str, Any]) -> None:
    """Say in the OpenAPI ``document`` what a refusal's body is: every 4xx response of every
    operation, and a ``4XX`` for the codes it does not list, is the ``Error`` schema — in place
    of FastAPI's default 422 body, which the app's handlers never answer — so clients and
    schema checks (schemathesis, in the tests) see the shape really sent."""
    import json

    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            responses.setdefault("4XX", {"description": "Refused: what is wrong, and a hint"})
            for code, response in responses.items():
                if code.startswith("4"):
                    response["content"] = _ERROR
    fastapi_body = schemas.get(_FASTAPI_422[0], {}).get("properties", {})
    if "detail" in fastapi_body and _FASTAPI_422[0] not in json.dumps(document["paths"]):
        for name in _FASTAPI_422:  # the body and its items, now referred to by nothing
            schemas.pop(name, None)
