"""Parameter values: coercion to the declared type and resolution of ``-p name=value`` overrides."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from shipyard.errors import ParameterError

if TYPE_CHECKING:  # the CLI parses -p with this module; it must not pull in Pydantic
    from shipyard.spec.models import ParameterSpec, Scalar

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _to_str(value: object) -> Scalar | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, str | int | float) else None


def bool_word(value: object) -> bool | None:
    """The boolean a value names where only a boolean can stand (a bool parameter, a bool field
    of the spec): true/false, yes/no, on/off in any case, 1/0; None for anything else. Elsewhere
    these words stay strings (docs/spec.md)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None


def _to_bool(value: object) -> Scalar | None:
    return bool_word(value)


def _to_int(value: object) -> Scalar | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)  # base 0: also 0x.., 0o.., 0b.. and 1_000
        except ValueError:
            return None
    return None


def _to_float(value: object) -> Scalar | None:
    if isinstance(value, bool):
        return None
    if not isinstance(value, int | float | str):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):  # OverflowError: an int beyond any float
        return None
    # nan and inf are no parameter's value: they reach commands as the words 'nan'/'inf' and
    # --json output as NaN/Infinity, which is not JSON.
    return number if math.isfinite(number) else None


A_TYPE = {"str": "a str", "bool": "a bool", "int": "an int", "float": "a float"}
_EXAMPLE = {"str": "'text'", "bool": "true", "int": "4", "float": "0.5"}


def type_hint(name: str, kind: str) -> str:
    """What to give a parameter, in the API's terms: ``-p`` is the CLI's way, not the only one
    (Python's ``params=``, MCP, HTTP)."""
    return f"give '{name}' {A_TYPE[kind]}, like {_EXAMPLE[kind]}"


def choices_hint(name: str, allowed: str) -> str:
    return f"give '{name}' one of {allowed}"


_CONVERTERS = {"str": _to_str, "bool": _to_bool, "int": _to_int, "float": _to_float}


def coerce(value: object, kind: str, *, what: str = "value") -> Scalar:
    """Bring ``value`` (from YAML or from the command line) to ``kind``; ValueError if it can't."""
    result = _CONVERTERS[kind](value)
    if result is None:
        raise ValueError(f"{what} {value!r} is not a valid {kind}")
    return result


def render_value(value: Scalar) -> str:
    """How a parameter value appears in argv, env and templates."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` → ``{"a": "1", "b": "x=y"}``; a pair without ``=`` is an error."""
    result: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParameterError(
                f"'-p {pair}' is not a parameter assignment", hint="write it as -p name=value"
            )
        result[name.strip()] = value
    return result


def resolve_parameters(
    declared: Mapping[str, ParameterSpec],
    overrides: Mapping[str, object],
    *,
    test_mode: bool = False,
) -> dict[str, Scalar]:
    """Every declared parameter's value: override, else test value (test mode), else default."""
    unknown = [name for name in overrides if name not in declared]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, list(declared), n=1)
        if close:
            hint = f"did you mean '{close[0]}'?"
        elif declared:
            hint = f"the spec declares: {', '.join(sorted(declared))}"
        else:
            hint = "the spec declares no parameters"
        raise ParameterError(f"unknown parameter '{name}'", hint=hint)
    for name, raw in overrides.items():
        if isinstance(raw, str) and "\0" in raw:
            # No argv, environment or file name can hold it: the run would crash at the spawn.
            raise ParameterError(
                f"the value given for parameter '{name}' contains a NUL byte (\\0), which no "
                "command line or environment variable can hold",
                hint=f"give '{name}' a value without it",
            )
    values: dict[str, Scalar] = {}
    for name, spec in declared.items():
        if name in overrides:
            try:
                value = coerce(overrides[name], spec.type)
            except ValueError:
                raise ParameterError(
                    f"parameter '{name}' is {A_TYPE[spec.type]}, and {overrides[name]!r} is not",
                    hint=type_hint(name, spec.type),
                ) from None
        elif test_mode and spec.test is not None:
            value = spec.test
        elif spec.default is not None:
            value = spec.default
        else:
            raise ParameterError(
                f"parameter '{name}' has no default and was not given",
                hint=f"give '{name}' a value",
            )
        if spec.choices is not None and value not in spec.choices:
            allowed = ", ".join(render_value(choice) for choice in spec.choices)
            raise ParameterError(
                f"parameter '{name}' must be one of {allowed}; got {render_value(value)}",
                hint=choices_hint(name, allowed),
            )
        values[name] = value
    return values
