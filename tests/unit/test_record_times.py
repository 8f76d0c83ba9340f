"""Every time in a record the API returns is a datetime (ISO 8601 in --json, over the wire and
in MCP), never seconds since the epoch — a checkpoint's created_at was (issue 11 §18). The one
exception, documented in docs/python-api.md: Event.ts, the engine's own stamp."""

from __future__ import annotations

import dataclasses
import inspect
import typing

from shipyard import api, wire
from shipyard.models import Event

_ALLOWED = {(Event, "ts")}


def _records(hint: object, seen: set[type]) -> None:
    if typing.get_origin(hint) is not None:
        for arg in typing.get_args(hint):
            _records(arg, seen)
        return
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and hint not in seen:
        seen.add(hint)
        for field_hint in typing.get_type_hints(hint).values():
            _records(field_hint, seen)


def _result_records() -> set[type]:
    names = vars(api) | wire._result_types()
    seen: set[type] = set()
    for _, function in inspect.getmembers(api.Operations, inspect.isfunction):
        _records(typing.get_type_hints(function, names).get("return"), seen)
    return seen


def _is_time(name: str) -> bool:
    return name.endswith("_at") or name in ("ts", "time", "when", "timestamp")


def test_every_time_in_a_result_record_is_a_datetime() -> None:
    records = _result_records()
    assert len(records) > 20  # the walk found the records (ExecutionStatus, Checkpoint, …)
    floats = [
        f"{record.__name__}.{name}"
        for record in records
        for name, hint in typing.get_type_hints(record).items()
        if _is_time(name)
        and float in (hint, *typing.get_args(hint))
        and (record, name) not in _ALLOWED
    ]
    assert floats == [], f"times given as epoch floats: {floats}"
