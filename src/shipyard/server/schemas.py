"""JSON Schemas of the operations' arguments and results, from the same type hints the wire
walks (:mod:`shipyard.wire`), so the OpenAPI document describes what really crosses.

Dataclasses become named components (``#/components/schemas/Name``); the plan is described as
its versioned codec's object (:mod:`shipyard.plan.codec`), which has a schema of its own.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["returns", "schema_of"]

Components = dict[str, dict[str, Any]]

_SCALARS: dict[type, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
}


def schema_of(hint: Any, components: Components) -> dict[str, Any]:
    """The JSON Schema of ``hint``'s wire form; named parts are added to ``components``."""
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        return {}
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(hint))}
    if origin in (types.UnionType, typing.Union):
        return {"anyOf": [schema_of(member, components) for member in typing.get_args(hint)]}
    if origin is not None:
        return _generic(origin, typing.get_args(hint), components)
    if isinstance(hint, type):
        return _class(hint, components)
    return {}


def _generic(origin: Any, args: tuple[Any, ...], components: Components) -> dict[str, Any]:
    import collections.abc as abc

    if origin in (dict, abc.Mapping):
        values = args[1] if len(args) == 2 else Any
        return {"type": "object", "additionalProperties": schema_of(values, components)}
    item = args[0] if args else Any
    if origin in (abc.Iterator, abc.Iterable, abc.Generator):
        return schema_of(item, components)  # one line of the stream
    return {"type": "array", "items": schema_of(item, components)}


def _class(cls: type, components: Components) -> dict[str, Any]:
    if cls in _SCALARS:
        return dict(_SCALARS[cls])
    if issubclass(cls, enum.Enum):
        return {"enum": [member.value for member in cls]}
    if cls is datetime:
        return {"type": "string", "format": "date-time"}
    if issubclass(cls, Path):
        return {"type": "string"}
    if cls.__module__ == "shipyard.plan.model" and cls.__name__ == "Plan":
        return {
            "type": "object",
            "description": "A plan in its versioned codec form (shipyard.plan.codec).",
        }
    if dataclasses.is_dataclass(cls):
        return _dataclass(cls, components)
    return {}


def _dataclass(cls: type, components: Components) -> dict[str, Any]:
    name = cls.__name__
    reference = {"$ref": f"#/components/schemas/{name}"}
    if name in components:
        return reference
    components[name] = {}  # claimed first: a record that refers to itself ends here
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for item in dataclasses.fields(cls):
        properties[item.name] = schema_of(hints[item.name], components)
        no_default = item.default is dataclasses.MISSING
        if no_default and item.default_factory is dataclasses.MISSING:
            required.append(item.name)
    described: dict[str, Any] = {"type": "object", "title": name, "properties": properties}
    if required:
        described["required"] = required
    components[name] = described
    return reference


def is_stream(hint: Any) -> bool:
    return typing.get_origin(hint) is Iterator


def arguments_schema(hints: Mapping[str, Any], components: Components) -> dict[str, Any]:
    """The request body of one operation: its arguments by name (``self`` and the result
    left out); those without a default are required — the caller's signature decides."""
    properties = {
        name: schema_of(hint, components)
        for name, hint in hints.items()
        if name not in ("self", "return")
    }
    return {"type": "object", "properties": properties, "additionalProperties": False}


def returns(name: str, field: str | None = None) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a REST alias (``GET /executions/{id}``…): its 200 is operation
    ``name``'s result in its wire form — or that result's ``field`` — described as
    ``POST /ops/{name}`` describes it, so the alias's answers are checkable too. The records
    it refers to are the components the operations' routes add to the document."""
    from shipyard.server.protocol import signature_of

    returned = signature_of(name)[1]["return"]
    if field is not None:
        returned = typing.get_type_hints(returned)[field]
    schema = schema_of(returned, {})  # its records: the same components the /ops routes name
    content = {"application/json": {"schema": schema}}
    return {200: {"description": f"What {name} returns, in its wire form", "content": content}}
