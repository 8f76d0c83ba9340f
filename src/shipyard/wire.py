"""The wire form of the operations API: every argument and result of :class:`shipyard.api.
Operations` to and from JSON-able data, generated from the type hints (never written per type).

``encode(value, hint)`` and ``decode(data, hint)`` walk the hint: scalars as they are, enums by
value, datetimes as ISO 8601, paths as text, dataclasses field by field (their own hints), the
plan through its versioned codec (:mod:`shipyard.plan.codec`), lists, dicts, unions (the first
member the value fits) and iterators (lazily, one item at a time). A ShipyardError crosses as
its class and message, and is raised again on the other side.

:class:`RoundTripOperations` proves the seam before any server exists: it forwards every call
of the protocol through JSON text both ways to a :class:`shipyard.local.LocalOperations`.
``shipyard.connect()`` returns one when ``SHIPYARD_WIRE_CHECK=1`` (a test aid).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import importlib
import inspect
import json
import types
import typing
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from shipyard.errors import ShipyardError

__all__ = ["RoundTripOperations", "WireError", "decode", "encode", "operation_names"]


class WireError(ShipyardError):
    """A value that cannot cross the wire: a bug of the protocol, not of its caller."""


_SCALARS = (str, int, float, bool, type(None))


def encode(value: Any, hint: Any) -> Any:
    """``value``, of type ``hint``, as JSON-able data (dicts, lists, text, numbers, null)."""
    return _encoder(hint)(value)


def decode(data: Any, hint: Any) -> Any:
    """The value of type ``hint`` that :func:`encode` made ``data`` from."""
    return _decoder(hint)(data)


# -- generated converters ------------------------------------------------------------------------

Convert = Callable[[Any], Any]


@functools.cache
def _encoder(hint: Any) -> Convert:
    return _make(hint, encoding=True)


@functools.cache
def _decoder(hint: Any) -> Convert:
    return _make(hint, encoding=False)


def _convert(hint: Any, encoding: bool) -> Convert:
    return _encoder(hint) if encoding else _decoder(hint)


def _make(hint: Any, *, encoding: bool) -> Convert:
    """The converter of one type hint, built once (cached by the callers)."""
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        return _as_json
    if origin is typing.Literal:
        return _identity
    if origin in (types.UnionType, typing.Union):
        return _union(typing.get_args(hint), encoding)
    if origin is not None:
        return _generic(origin, typing.get_args(hint), encoding)
    if isinstance(hint, type):
        return _class(hint, encoding)
    raise WireError(f"the wire has no form for {hint!r}")


def _class(cls: type, encoding: bool) -> Convert:
    if cls in _SCALARS:
        return _scalar(cls)
    if issubclass(cls, enum.Enum):
        return (lambda value: value.value) if encoding else cls
    if cls is datetime:
        return (lambda value: value.isoformat()) if encoding else datetime.fromisoformat
    if issubclass(cls, Path):
        return str if encoding else Path
    if _is_plan(cls):
        from shipyard.plan import codec

        return codec.encode if encoding else codec.decode
    if dataclasses.is_dataclass(cls):
        return _dataclass(cls, encoding)
    raise WireError(f"the wire has no form for {cls.__qualname__}")


def _is_plan(cls: type) -> bool:
    return cls.__module__ == "shipyard.plan.model" and cls.__name__ == "Plan"


def _scalar(cls: type) -> Convert:
    def check(value: Any) -> Any:
        # bool is an int, and an int is a fine float; anything else is a protocol bug.
        if isinstance(value, cls) or (cls is float and isinstance(value, int)):
            return value
        raise WireError(f"{value!r} is not a {cls.__name__}")

    return check


def _dataclass(cls: type, encoding: bool) -> Convert:
    hints = typing.get_type_hints(cls)
    fields = [(f.name, _convert(hints[f.name], encoding)) for f in dataclasses.fields(cls)]
    if encoding:
        return lambda value: {name: convert(getattr(value, name)) for name, convert in fields}

    def build(data: Any) -> Any:
        if not isinstance(data, dict):
            raise WireError(f"{cls.__qualname__} expected a mapping, got {data!r}")
        return cls(**{name: convert(data[name]) for name, convert in fields if name in data})

    return build


def _generic(origin: Any, args: tuple[Any, ...], encoding: bool) -> Convert:
    import collections.abc as abc

    if origin in (list, abc.Sequence, tuple, set, frozenset):
        item = _convert(args[0] if args else Any, encoding)
        made: type = list if (encoding or origin in (abc.Sequence, tuple)) else origin
        return lambda values: made(item(value) for value in _of(values, _COLLECTIONS))
    if origin in (dict, abc.Mapping):
        value_hint = args[1] if len(args) == 2 else Any
        convert = _convert(value_hint, encoding)
        return lambda data: {str(k): convert(v) for k, v in _of(data, abc.Mapping).items()}
    if origin in (abc.Iterator, abc.Iterable, abc.Generator):
        item = _convert(args[0], encoding)
        return lambda values: (item(value) for value in values)
    raise WireError(f"the wire has no form for {origin!r}")


_COLLECTIONS = (list, tuple, set, frozenset)


def _of(value: Any, kinds: type | tuple[type, ...]) -> Any:
    if not isinstance(value, kinds):
        raise WireError(f"{value!r} is not a {kinds}")
    return value


def _union(members: tuple[Any, ...], encoding: bool) -> Convert:
    """The first member the value fits: ``X | None`` is X or null; ``str | Path`` is text."""
    options = [member for member in members if member is not type(None)]
    nullable = len(options) < len(members)
    if len(options) == 1:
        one = _convert(options[0], encoding)
        return (lambda value: None if value is None else one(value)) if nullable else one

    def first(value: Any) -> Any:
        if value is None and nullable:
            return None
        for member in options:
            try:
                return _convert(member, encoding)(value)
            except (WireError, TypeError, ValueError):
                continue
        raise WireError(f"{value!r} fits none of {members}")

    return first


def _identity(value: Any) -> Any:
    return value


def _as_json(value: Any) -> Any:
    """An ``Any`` (parameters, event data, a schema): JSON's own values, checked on the way."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        return {str(key): _as_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_as_json(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    raise WireError(f"{value!r} ({type(value).__name__}) has no JSON form")


# -- errors ---------------------------------------------------------------------------------------


def encode_error(error: ShipyardError) -> dict[str, Any]:
    data: dict[str, Any] = {
        "error": f"{type(error).__module__}:{type(error).__qualname__}",
        "message": error.message,
        "hint": error.hint,
    }
    problems = getattr(error, "problems", None)
    if problems is not None:
        from shipyard.errors import SpecProblem

        data["problems"] = encode(problems, list[SpecProblem])
    return data


def decode_error(data: dict[str, Any]) -> ShipyardError:
    """The error ``encode_error`` described, of its own class (a ShipyardError subclass)."""
    module, _, name = str(data["error"]).partition(":")
    cls: Any = ShipyardError
    if module.startswith("shipyard."):
        found = getattr(importlib.import_module(module), name, None)
        if isinstance(found, type) and issubclass(found, ShipyardError):
            cls = found
    error: ShipyardError = cls.__new__(cls)
    ShipyardError.__init__(error, data["message"], hint=data["hint"])
    if "problems" in data:
        from shipyard.errors import SpecProblem

        error.problems = decode(data["problems"], list[SpecProblem])  # type: ignore[attr-defined]
    return error


# -- forwarding every call through JSON -----------------------------------------------------------


def operation_names() -> list[str]:
    """Every member of the protocol, from the protocol itself."""
    from shipyard.api import Operations

    return sorted(
        name
        for name, member in inspect.getmembers(Operations, inspect.isfunction)
        if not name.startswith("_")
    )


@functools.cache
def _signature(name: str) -> tuple[inspect.Signature, dict[str, Any]]:
    from shipyard import api

    function = getattr(api.Operations, name)
    hints = typing.get_type_hints(function, vars(api) | _result_types())
    return inspect.signature(function), hints


def _result_types() -> dict[str, Any]:
    """Names the protocol's hints use that api.py imports only for type checking."""
    from shipyard import analysis, mlregistry, pipelinemetrics, registry, sweep, templates
    from shipyard.agents import DiscoveredAgent
    from shipyard.checkpoint import Checkpoint
    from shipyard.plan.model import Plan, RunMode
    from shipyard.recovery import RebuildReport, StoreCheck
    from shipyard.rollout.status import RolloutView

    return {
        "DiscoveredAgent": DiscoveredAgent,
        "Checkpoint": Checkpoint,
        "Plan": Plan,
        "RunMode": RunMode,
        "RebuildReport": RebuildReport,
        "StoreCheck": StoreCheck,
        "PipelineInfo": registry.PipelineInfo,
        "SweepReport": sweep.SweepReport,
        "SweepSettings": sweep.SweepSettings,
        "IndexRepo": templates.IndexRepo,
        "TemplateInfo": templates.TemplateInfo,
        "AnalysisReport": analysis.AnalysisReport,
        "MonitorSnapshot": analysis.MonitorSnapshot,
        "PipelineHistory": analysis.PipelineHistory,
        "PipelineMetrics": pipelinemetrics.PipelineMetrics,
        "ModelInfo": mlregistry.ModelInfo,
        "ModelVersion": mlregistry.ModelVersion,
        "StageChange": mlregistry.StageChange,
        "RolloutView": RolloutView,
    }


def _through_json(data: Any) -> Any:
    return json.loads(json.dumps(data))


class RoundTripOperations:
    """:class:`shipyard.api.Operations` whose every call crosses JSON text both ways: arguments
    encoded, dumped, loaded and decoded before the local call; the result (each item of an
    iterator, or the error) likewise on its way back. What cannot make the trip raises
    WireError — a bug of the protocol.

    ``local`` is the :class:`~shipyard.local.LocalOperations` on the far side; ``store`` and
    ``workspace`` are its own, for tests that inspect state (they are not forwarded and not
    part of the protocol).
    """

    def __init__(self, local: Any) -> None:
        self.local = local
        self._names = frozenset(operation_names())

    @property
    def store(self) -> Any:
        return self.local.store

    @property
    def workspace(self) -> Any:
        return self.local.workspace

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or name not in self._names:
            raise AttributeError(f"{name!r} is not an operation of shipyard.api.Operations")
        return functools.partial(self._call, name)

    def _call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        # ``name`` positional-only: an operation may have a keyword of that name (list_executions)
        signature, hints = _signature(name)
        bound = signature.bind(None, *args, **kwargs)  # None: the protocol's ``self``
        sent = {
            key: encode(value, hints[key])
            for key, value in bound.arguments.items()
            if key != "self"
        }
        received = {key: decode(value, hints[key]) for key, value in _through_json(sent).items()}
        try:
            result = getattr(self.local, name)(**received)
        except ShipyardError as error:
            raise decode_error(_through_json(encode_error(error))) from None
        returned = hints["return"]
        if typing.get_origin(returned) is Iterator:
            return self._lines(result, typing.get_args(returned)[0])
        return decode(_through_json(encode(result, returned)), returned)

    @staticmethod
    def _lines(items: Iterator[Any], hint: Any) -> Iterator[Any]:
        """An iterator's items cross one at a time, as they come (a follow never ends early)."""
        try:
            for item in items:
                yield decode(_through_json(encode(item, hint)), hint)
        except ShipyardError as error:
            raise decode_error(_through_json(encode_error(error))) from None
