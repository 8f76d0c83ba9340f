"""The HTTP status and JSON body of a ShipyardError, shared by the routes and the streams."""

from __future__ import annotations

from typing import Any

from shipyard.errors import ShipyardError
from shipyard.wire import WireError, encode_error

__all__ = ["error_body", "error_status"]


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
