from __future__ import annotations

import pytest

from shipyard.errors import ParameterError
from shipyard.spec.models import ParameterSpec
from shipyard.spec.params import coerce, parse_assignments, resolve_parameters

DECLARED = {
    "size": ParameterSpec.model_validate({"type": "str", "default": "4M", "test": "64k"}),
    "n": ParameterSpec.model_validate({"type": "int", "default": 2, "choices": [1, 2, 4]}),
    "fast": ParameterSpec.model_validate(False),
    "ratio": ParameterSpec.model_validate(0.5),
}


def test_defaults_overrides_and_test_values() -> None:
    assert resolve_parameters(DECLARED, {}) == {"size": "4M", "n": 2, "fast": False, "ratio": 0.5}
    assert resolve_parameters(DECLARED, {"n": "4", "fast": "yes"})["n"] == 4
    assert resolve_parameters(DECLARED, {"fast": "yes"})["fast"] is True
    assert resolve_parameters(DECLARED, {}, test_mode=True)["size"] == "64k"


def test_unknown_parameter_suggests_the_closest() -> None:
    with pytest.raises(ParameterError, match="unknown parameter 'sise'") as error:
        resolve_parameters(DECLARED, {"sise": "1"})
    assert error.value.hint == "did you mean 'size'?"


def test_wrong_type_and_choices_are_clear() -> None:
    with pytest.raises(ParameterError, match="'n' is an int, and 'many' is not"):
        resolve_parameters(DECLARED, {"n": "many"})
    with pytest.raises(ParameterError, match="must be one of 1, 2, 4; got 3"):
        resolve_parameters(DECLARED, {"n": "3"})


def test_required_parameter_without_value() -> None:
    declared = {"target": ParameterSpec.model_validate({"type": "str"})}
    with pytest.raises(ParameterError, match="has no default"):
        resolve_parameters(declared, {})


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("12", "int", 12),
        ("0x10", "int", 16),
        (3.0, "int", 3),
        ("on", "bool", True),
        (5, "str", "5"),
    ],
)
def test_coerce(value: object, kind: str, expected: object) -> None:
    assert coerce(value, kind) == expected


@pytest.mark.parametrize(("value", "kind"), [("1.5", "int"), (True, "int"), ("maybe", "bool")])
def test_coerce_rejects(value: object, kind: str) -> None:
    with pytest.raises(ValueError, match="not a valid"):
        coerce(value, kind)


def test_assignments() -> None:
    assert parse_assignments(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(ParameterError, match="name=value"):
        parse_assignments(["novalue"])
