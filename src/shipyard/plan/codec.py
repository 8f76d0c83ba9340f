"""The plan's JSON document, written and read by converters generated from the dataclasses.

Why generated: a reader written field by field has to be changed with every field of the model,
and one it forgets is silently dropped (or set back to its default) on the way through
``plan.json`` or the plan cache — the engine then runs another plan than the one shown. Here the
dataclasses' fields and type hints *are* the format: each class gets one encoder and one decoder,
built once from :func:`dataclasses.fields` and the type hints, and kept. A type
they have no rule for is refused when the converter is built (a test builds them all), never
guessed at.

The document carries ``plan_format``. Formats:

1. what Shipyard wrote before the number existed: no ``plan_format`` key, the same fields (an
   older Shipyard wrote fewer; a missing one takes its default);
2. format 1 with ``plan_format: 2``;
3. steps and services have ``runner`` (where they run; ``local`` in the older formats);
4. steps have ``gates`` (quality gates on their metrics; none in the older formats);
5. services have ``rollout`` (a canary rollout; none in the older formats);
6. steps and services have ``host``, steps ``hosts``, ``mpi`` and ``slurm``, the plan ``hosts``
   and ``ssh`` (issue 16; none, local, in the older formats).
7. steps and services have ``success_exit_codes`` (issue 17; ``[0]`` in the older formats),
   health checks ``log_line`` (none), services ``liveness`` (none), stop settings ``command``
   (none).

A document of a format this Shipyard does not know is refused with a :class:`PlanFormatError`
that says which Shipyard made it. Change any field of the plan model (a test lists them) and
raise :data:`PLAN_FORMAT`: an older Shipyard then says "made by a newer Shipyard" instead of
misreading it, and this one keeps reading the older format through :data:`_UPGRADES`.

Reading checks every value against its type (so a damaged file is a clear error naming the
field, e.g. ``steps[3].retries.count``), and refuses fields the model does not have.

A few readers take keys straight from the document, to spare a hot path the whole plan:
``status``'s estimate (steps' ``name`` and ``needs``, ``max_parallel``), ``clean`` (steps'
``outputs``) and ``store rebuild``. A format that moves those keys must change them too.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from shipyard import __version__
from shipyard.errors import ShipyardError, from_os_error
from shipyard.plan.model import Plan

#: The format :func:`encode` writes.
PLAN_FORMAT = 7
#: The oldest format :func:`decode` still reads.
OLDEST_FORMAT = 1
#: The key of the format number in the document.
FORMAT_KEY = "plan_format"

Convert = Callable[[Any], Any]


class PlanFormatError(ShipyardError):
    """A plan document this Shipyard cannot read: another version's, or damaged."""


def encode(plan: Plan) -> dict[str, Any]:
    """The plan's JSON document (``plan.json``, the plan cache, ``plan --json``)."""
    document: dict[str, Any] = {FORMAT_KEY: PLAN_FORMAT}
    document.update(_encoder(Plan)(plan))
    return document


def decode(document: object, *, source: str = "the plan") -> Plan:
    """The plan a document of any readable format holds. ``source`` names it in errors (the
    file's path). PlanFormatError when it is of another format, or not a plan."""
    if not isinstance(document, dict):
        raise _damaged(source, f"it holds {_show(document)}, not a plan")
    version = _version(document.get(FORMAT_KEY, 1), source)
    body = {key: value for key, value in document.items() if key != FORMAT_KEY}
    for number in range(version, PLAN_FORMAT):
        body = _UPGRADES[number](body)
    try:
        plan: Plan = _decoder(Plan)(body)
    except _Mismatch as error:
        where = "".join(reversed(error.path)).lstrip(".") or "the document"
        raise _damaged(source, f"{where} {error.problem}") from None
    return plan


def read_plan(path: Path) -> Plan:
    """The plan saved in ``path`` (a run folder's ``plan.json``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanFormatError(
            f"{path} is missing: the run folder is incomplete",
            hint="the execution cannot be resumed or restored; start it afresh: shipyard run SPEC",
        ) from None
    except OSError as error:
        raise from_os_error(error, "read", path) from None
    try:
        document = json.loads(text)
    except ValueError as error:
        raise _damaged(str(path), f"it is not JSON ({error})") from None
    return decode(document, source=str(path))


def _version(version: object, source: str) -> int:
    """The document's format number, if this Shipyard reads that format."""
    if type(version) is not int:
        raise _damaged(source, f"its {FORMAT_KEY} is {_show(version)}, not a number")
    readable = f"this Shipyard ({__version__}) reads plan formats {OLDEST_FORMAT} to {PLAN_FORMAT}"
    if version > PLAN_FORMAT:
        raise PlanFormatError(
            f"{source} was made by a newer Shipyard (plan format {version}; {readable})",
            hint="use that newer Shipyard for this run (pip install -U shipyard), or start it "
            "afresh with this one: shipyard run SPEC",
        )
    if version < OLDEST_FORMAT:
        raise PlanFormatError(
            f"{source} was made by an older Shipyard (plan format {version}; {readable})",
            hint="use the Shipyard that made it for this run, or start it afresh with this one: "
            "shipyard run SPEC",
        )
    return version


def _damaged(source: str, problem: str) -> PlanFormatError:
    return PlanFormatError(
        f"{source} cannot be read as a plan: {problem}",
        hint="it was changed by hand or damaged, or written by another version of Shipyard; "
        "start the run afresh: shipyard run SPEC",
    )


def _show(value: object) -> str:
    text = json.dumps(value) if isinstance(value, str | int | float | bool | None) else None
    if text is None:
        return "an object" if isinstance(value, dict) else "a list"
    return text if len(text) <= 40 else text[:37] + "..."


# Format n's document (without its number) as format n + 1 reads it. Format 2 only numbered 1;
# format 3's new field (``runner``) takes its default, ``local``, where it is missing.
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: lambda body: body,
    2: lambda body: body,
    3: lambda body: body,  # format 4's new field (``gates``) takes its default, no gates
    4: lambda body: body,  # format 5's new field (``rollout``) takes its default, none
    5: lambda body: body,  # format 6's new fields take their defaults: this machine, no MPI
    6: lambda body: body,  # format 7's new fields take their defaults: exit code 0 succeeds
}


# -- reading ---------------------------------------------------------------------------------


class _Mismatch(Exception):
    """A value that is not what its type says; the containers add their key on the way out,
    so the path of the value is only ever built for an error."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []


_DECODERS: dict[object, Convert] = {}
#: JSON types each scalar type accepts: ``type(value) in …`` keeps True out of int fields, and
#: lets a float field hold a whole number, as json.dumps writes 2.0 back as 2.0 but a spec's 2
#: may have reached the plan as an int.
_SCALARS: dict[object, frozenset[type]] = {
    str: frozenset({str}),
    int: frozenset({int}),
    float: frozenset({float, int}),
    bool: frozenset({bool}),
    type(None): frozenset({type(None)}),
}
_STRING = frozenset({str})
_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}


def _decoder(hint: object) -> Convert:
    found = _DECODERS.get(hint)
    if found is None:
        found = _DECODERS[hint] = _make_decoder(hint)
    return found


def _make_decoder(hint: object) -> Convert:
    accepted = _scalar_types(hint)
    if accepted is not None:
        return _scalar_decoder(accepted, _describe(hint))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass_decoder(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return _literal_decoder(args)
    if origin is list:
        return _list_decoder(args[0])
    if origin is dict and args[0] is str:
        return _dict_decoder(args[1])
    if origin in (typing.Union, types.UnionType):
        return _union_decoder(hint)
    raise TypeError(f"the plan's JSON form has no rule for {hint!r}: add one to {__name__}")


def _scalar_types(hint: object) -> frozenset[type] | None:
    """The JSON types a scalar type, or a union of scalar types, accepts; None for others."""
    if hint in _SCALARS:
        return _SCALARS[hint]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [_SCALARS.get(arg) for arg in typing.get_args(hint)]
        if all(member is not None for member in members):
            return frozenset().union(*typing.cast(list[frozenset[type]], members))
    return None


def _describe(hint: object) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) is list:
        return "a list"
    return _NAMES.get(typing.cast(type, hint), "an object")


def _scalar_decoder(accepted: frozenset[type], expected: str) -> Convert:
    def decode(value: Any) -> Any:
        if type(value) not in accepted:
            raise _Mismatch(f"should be {expected}, not {_show(value)}")
        return value

    return decode


def _literal_decoder(choices: tuple[object, ...]) -> Convert:
    allowed = ", ".join(json.dumps(choice) for choice in choices)
    pairs = {(type(choice), choice) for choice in choices}  # so True is not the literal 1

    def decode(value: Any) -> Any:
        if not isinstance(value, str | int | float | bool) or (type(value), value) not in pairs:
            raise _Mismatch(f"should be one of {allowed}, not {_show(value)}")
        return value

    return decode


def _list_decoder(hint: object) -> Convert:
    accepted, item = _scalar_types(hint), _decoder(hint)

    def decode(value: Any) -> Any:
        if type(value) is not list:
            raise _Mismatch(f"should be a list, not {_show(value)}")
        if accepted is not None and accepted.issuperset(map(type, value)):
            return list(value)  # the common case, checked without a call per item
        result = []
        for index, element in enumerate(value):
            try:
                result.append(item(element))
            except _Mismatch as error:
                error.path.append(f"[{index}]")
                raise
        return result

    return decode


def _dict_decoder(hint: object) -> Convert:
    accepted, item = _scalar_types(hint), _decoder(hint)

    def decode(value: Any) -> Any:
        if type(value) is not dict:
            raise _Mismatch(f"should be an object, not {_show(value)}")
        if not _STRING.issuperset(map(type, value)):
            raise _Mismatch("should have only strings as keys")
        if accepted is not None and accepted.issuperset(map(type, value.values())):
            return dict(value)
        result = {}
        for key, element in value.items():
            try:
                result[key] = item(element)
            except _Mismatch as error:
                error.path.append(f"[{json.dumps(key)}]")
                raise
        return result

    return decode


def _union_decoder(hint: object) -> Convert:
    expected, args = _describe(hint), typing.get_args(hint)
    nullable = type(None) in args
    members = [_decoder(arg) for arg in args if arg is not type(None)]

    def decode(value: Any) -> Any:
        if value is None and nullable:
            return None  # before trying the others: a failed try costs an exception
        if len(members) == 1:
            return members[0](value)  # its own error says where inside it is wrong
        for member in members:
            try:
                return member(value)
            except _Mismatch:
                continue
        raise _Mismatch(f"should be {expected}, not {_show(value)}")

    return decode


def _dataclass_decoder(cls: type) -> Convert:
    """Plans are read on the way to every run, so the usual case — every field there, every
    scalar of its type — is checked by C loops (``map``), and only the fields holding lists,
    mappings or records call their decoder. Anything else goes field by field
    (:func:`_fields_decoder`), filling in defaults and naming what is wrong. (Generating the
    source of each decoder, as dataclasses does, read a 400-step plan 1 ms faster but cost 2 ms
    more to build: a loss for every plan of fewer steps.)"""
    hints = _hints(cls)
    names = tuple(f.name for f in dataclasses.fields(cls))
    typed = [(name, _scalar_types(hints[name])) for name in names]
    scalars = tuple(name for name, accepted in typed if accepted is not None)
    accepts = tuple(accepted for _, accepted in typed if accepted is not None)
    others = tuple((name, _decoder(hints[name])) for name in names if name not in scalars)
    every = frozenset(names)
    slow = _fields_decoder(cls, hints)
    contains = frozenset.__contains__

    def decode(value: Any) -> Any:
        if (
            type(value) is not dict
            or value.keys() != every
            or not all(map(contains, accepts, map(type, map(value.__getitem__, scalars))))
        ):
            return slow(value)
        if not others:
            return cls(**value)
        arguments = dict(value)
        for name, convert in others:
            try:
                arguments[name] = convert(value[name])
            except _Mismatch as error:
                error.path.append(f".{name}")
                raise
        return cls(**arguments)

    return decode


_EVALUATED: dict[tuple[str, str], object] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The fields' types, as :func:`typing.get_type_hints` gives them, but each annotation
    text evaluated once (``str``, ``list[str]``… recur in every class): half the cost, paid by
    every command that reads a plan."""
    module = vars(sys.modules[cls.__module__])
    hints = {}
    for field in dataclasses.fields(cls):
        text = field.type
        if not isinstance(text, str):
            hints[field.name] = text
            continue
        key = (cls.__module__, text)
        if key not in _EVALUATED:
            _EVALUATED[key] = eval(text, module)  # noqa: S307 - the model's own annotations
        hints[field.name] = _EVALUATED[key]
    return hints


def _fields_decoder(cls: type, hints: dict[str, Any]) -> Convert:
    fields = [(f.name, _decoder(hints[f.name])) for f in dataclasses.fields(cls)]
    required = {f.name for f in dataclasses.fields(cls) if _required(f)}
    names = frozenset(name for name, _ in fields)

    def decode(value: Any) -> Any:
        if type(value) is not dict:
            raise _Mismatch(f"should be an object, not {_show(value)}")
        if not names.issuperset(value):
            unknown = sorted(set(value) - names)[0]
            raise _Mismatch(f"has a field '{unknown}' this Shipyard's plans do not have")
        arguments = {}
        for name, convert in fields:
            if name in value:
                try:
                    arguments[name] = convert(value[name])
                except _Mismatch as error:
                    error.path.append(f".{name}")
                    raise
            elif name in required:  # one a format this Shipyard reads always had
                raise _Mismatch(f"lacks the field '{name}'")
        return cls(**arguments)

    return decode


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


# -- writing ---------------------------------------------------------------------------------

_ENCODERS: dict[object, Convert | None] = {}


def _encoder(hint: object) -> Convert:
    found = _encoder_or_none(hint)
    return found if found is not None else _same


def _same(value: Any) -> Any:
    return value


def _encoder_or_none(hint: object) -> Convert | None:
    """The encoder for ``hint``, or None where the value is its own JSON form (scalars,
    literals), so containers of them are copied without a call per item."""
    if hint not in _ENCODERS:
        _ENCODERS[hint] = _make_encoder(hint)
    return _ENCODERS[hint]


def _make_encoder(hint: object) -> Convert | None:
    if _scalar_types(hint) is not None or typing.get_origin(hint) is Literal:
        return None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass_encoder(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        return _list_encoder(_encoder_or_none(args[0]))
    if origin is dict and args[0] is str:
        return _dict_encoder(_encoder_or_none(args[1]))
    if origin in (typing.Union, types.UnionType):
        return _optional_encoder(hint, args)
    raise TypeError(f"the plan's JSON form has no rule for {hint!r}: add one to {__name__}")


def _list_encoder(item: Convert | None) -> Convert:
    if item is None:
        return list
    return lambda value: [item(element) for element in value]


def _dict_encoder(item: Convert | None) -> Convert:
    if item is None:
        return dict
    return lambda value: {key: item(element) for key, element in value.items()}


def _optional_encoder(hint: object, args: tuple[object, ...]) -> Convert | None:
    """``X | None``: X's encoder, but None stays None. A union of two types that are not
    scalars would need to tell them apart by value: no field has one."""
    others = [arg for arg in args if arg is not type(None)]
    if len(others) != 1:
        raise TypeError(f"the plan's JSON form has no rule for {hint!r}: add one to {__name__}")
    item = _encoder_or_none(others[0])
    if item is None:
        return None
    return lambda value: None if value is None else item(value)


def _dataclass_encoder(cls: type) -> Convert:
    hints = _hints(cls)
    fields = [(f.name, _encoder_or_none(hints[f.name])) for f in dataclasses.fields(cls)]

    def encode(value: Any) -> dict[str, Any]:
        return {
            name: getattr(value, name) if convert is None else convert(getattr(value, name))
            for name, convert in fields
        }

    return encode
