"""Parameter errors raised by the API say what is wrong in the API's terms (issue 11 §18): no
``-p name=…`` (a CLI flag) in a message or hint a Python, MCP or HTTP caller gets, and no
"a int"."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shipyard.errors import ParameterError
from shipyard.spec.editing import checked_value
from shipyard.spec.loader import load_spec_text
from shipyard.spec.params import resolve_parameters

SPEC = """\
name: p
parameters:
  lines: {type: int}
  ratio: {type: float, default: 0.5}
  fast: {type: bool, default: false}
  level: {default: low, choices: [low, high]}
  token: {secret: true}
steps:
  a: {run: [echo]}
"""
DECLARED = load_spec_text(SPEC).spec.parameters


def _resolve(**given: object) -> Callable[[], object]:
    return lambda: resolve_parameters(DECLARED, given)


def _set(name: str, value: object) -> Callable[[], object]:
    return lambda: checked_value(DECLARED[name], name, value)


@pytest.mark.parametrize(
    ("call", "message", "hint"),
    [
        (
            _resolve(lines="x"),
            "parameter 'lines' is an int, and 'x' is not",
            "give 'lines' an int, like 4",
        ),
        (
            _resolve(lines=1, ratio="half"),
            "parameter 'ratio' is a float, and 'half' is not",
            "give 'ratio' a float, like 0.5",
        ),
        (
            _resolve(lines=1, fast="maybe"),
            "parameter 'fast' is a bool, and 'maybe' is not",
            "give 'fast' a bool, like true",
        ),
        (
            _resolve(),
            "parameter 'lines' has no default and was not given",
            "give 'lines' a value",
        ),
        (
            _resolve(lines="1\0"),
            "the value given for parameter 'lines' contains a NUL byte",
            "give 'lines' a value without it",
        ),
        (
            _resolve(lines=1, level="mid"),
            "parameter 'level' must be one of low, high; got mid",
            "give 'level' one of low, high",
        ),
        (_set("lines", "x"), "parameter 'lines' is an int, and 'x' is not", "give 'lines' an int"),
        (_set("level", "mid"), "must be one of low, high", "give 'level' one of low, high"),
        (_set("token", "s3cret"), "parameter 'token' is secret", "give it at each run"),
    ],
)
def test_parameter_errors_are_in_api_terms(
    call: Callable[[], object], message: str, hint: str
) -> None:
    with pytest.raises(ParameterError) as raised:
        call()
    error = raised.value
    assert message in error.message
    assert error.hint is not None and hint in error.hint, error.hint
    for said in (error.message, error.hint):
        assert "-p " not in said, f"CLI wording in an API error: {said!r}"
        assert " a int" not in said, said


def test_a_parameter_both_swept_and_fixed_is_said_without_cli_flags() -> None:
    from shipyard.errors import ShipyardError
    from shipyard.plan.sweepmatrix import check_fixed

    with pytest.raises(ShipyardError) as raised:
        check_fixed({"lines": "2"}, DECLARED, ["lines"])
    error = raised.value
    assert error.message == "parameter 'lines' is both swept and fixed"
    assert error.hint == "sweep 'lines' or give it one value, not both"


def test_a_missing_secret_is_said_without_cli_flags() -> None:
    from shipyard.plan.build import build_plan
    from shipyard.plan.secrets import gather

    loaded = load_spec_text(SPEC.replace("  lines: {type: int}\n", "  lines: 3\n"))
    plan = build_plan(loaded, {})
    with pytest.raises(ParameterError) as raised:
        gather(plan, {}, {})
    error = raised.value
    assert error.message == "secret parameter 'token' was not given"
    assert error.hint is not None and "SHIPYARD_PARAM_TOKEN=…" in error.hint
    assert "-p " not in error.hint, error.hint
