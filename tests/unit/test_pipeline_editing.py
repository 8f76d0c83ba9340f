"""The registry's pure decisions (issue 12 §1): names, stored defaults, step edits. Tables."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.errors import ParameterError, ShipyardError
from shipyard.spec import editing
from shipyard.spec.models import ParameterSpec

DECLARED = {
    "size": ParameterSpec.model_validate({"type": "int", "default": 1, "choices": [1, 2, 4]}),
    "ratio": ParameterSpec.model_validate({"type": "float", "default": 0.5}),
    "verbose": ParameterSpec.model_validate({"type": "bool", "default": False}),
    "label": ParameterSpec.model_validate("hello"),
    "token": ParameterSpec.model_validate({"type": "str", "secret": True}),
}


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("fio", True),
        ("fio-bench_2.v1", True),
        ("9lives", True),
        ("", False),
        ("-flag", False),
        ("a/b", False),
        ("../etc", False),
        ("a b", False),
        ("x" * 64, True),
        ("x" * 65, False),
        ("naïve", False),
        ("a;rm -rf", False),
    ],
)
def test_name_rule(name: str, valid: bool) -> None:
    assert (editing.name_problem(name) is None) is valid


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"size": "4"}, {"size": 4}),
        ({"size": 2}, {"size": 2}),
        ({"ratio": "0.25"}, {"ratio": 0.25}),
        ({"ratio": 3}, {"ratio": 3.0}),
        ({"verbose": "yes"}, {"verbose": True}),
        ({"verbose": "off"}, {"verbose": False}),
        ({"label": 7}, {"label": "7"}),
        ({"size": "0x4"}, {"size": 4}),
    ],
)
def test_stored_defaults_are_coerced_to_the_parameter_type(
    given: dict[str, object], expected: dict[str, object]
) -> None:
    assert editing.stored_defaults(DECLARED, {}, given, []) == expected


@pytest.mark.parametrize(
    ("given", "unset", "message"),
    [
        ({"sise": "4"}, [], "'sise' is not a parameter of the spec"),
        ({"size": "3"}, [], "must be one of 1, 2, 4; got 3"),
        ({"size": "four"}, [], "parameter 'size' is an int, and 'four' is not"),
        ({"ratio": "nan"}, [], "parameter 'ratio' is a float"),
        ({"verbose": "maybe"}, [], "parameter 'verbose' is a bool"),
        ({"token": "s3cret"}, [], "parameter 'token' is secret"),
        ({"label": "a\0b"}, [], "NUL byte"),
        ({}, ["nothing"], "'nothing' is not a parameter of the spec"),
        ({}, ["ratio"], "parameter 'ratio' has no stored default to unset"),
    ],
)
def test_bad_stored_defaults_are_refused_naming_the_parameter(
    given: dict[str, object], unset: list[str], message: str
) -> None:
    with pytest.raises(ParameterError, match=message.replace("(", r"\(")):
        editing.stored_defaults(DECLARED, {"size": 2}, given, unset)


def test_a_close_name_is_suggested() -> None:
    with pytest.raises(ParameterError) as caught:
        editing.stored_defaults(DECLARED, {}, {"sise": 1}, [])
    assert caught.value.hint == "did you mean 'size'?"


def test_unset_drops_only_the_named_default() -> None:
    current: dict[str, Any] = {"size": 2, "label": "x"}
    assert editing.stored_defaults(DECLARED, current, {}, ["size"]) == {"label": "x"}
    assert current == {"size": 2, "label": "x"}  # the caller's mapping is left as it was


SPEC: dict[str, Any] = {
    "name": "demo",
    "steps": {
        "fetch": {"run": ["true"]},
        "build": {"run": ["true"], "needs": ["fetch"]},
        "test": {"run": ["true"], "needs": ["build", "db"]},
    },
    "services": {"db": {"run": ["sleep", "60"]}, "web": {"run": ["true"], "depends_on": ["db"]}},
}


@pytest.mark.parametrize(
    ("edit", "expected_steps"),
    [
        (
            lambda d: editing.add_step(d, "lint", {"run": ["true"]}),
            ["fetch", "build", "test", "lint"],
        ),
        (lambda d: editing.remove_step(d, "test"), ["fetch", "build"]),
        (lambda d: editing.replace_step(d, "build", {"run": ["make"]}), ["fetch", "build", "test"]),
    ],
)
def test_step_edits_keep_the_order_of_steps(edit: Any, expected_steps: list[str]) -> None:
    changed = edit(SPEC)
    assert list(changed["steps"]) == expected_steps
    assert list(SPEC["steps"]) == ["fetch", "build", "test"]  # the original is untouched


def test_replace_puts_the_new_definition_in_place() -> None:
    changed = editing.replace_step(SPEC, "build", {"run": ["make"]})
    assert changed["steps"]["build"] == {"run": ["make"]}
    assert changed["services"] == SPEC["services"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: editing.add_step(d, "build", {"run": ["x"]}), "step 'build' already exists"),
        (lambda d: editing.add_step(d, "bad/name", {"run": ["x"]}), "step name 'bad/name'"),
        (lambda d: editing.add_step(d, "x", ["run"]), "definition of step 'x' is not a mapping"),
        (lambda d: editing.remove_step(d, "nope"), "no step 'nope' in the spec"),
        (lambda d: editing.replace_step(d, "nope", {"run": ["x"]}), "no step 'nope'"),
        (lambda d: editing.remove_step(d, "fetch"), "cannot remove step 'fetch': build needs it"),
        (lambda d: editing.remove_step(d, "build"), "cannot remove step 'build': test needs it"),
    ],
)
def test_edits_that_cannot_be_made_name_the_key(edit: Any, message: str) -> None:
    with pytest.raises(ShipyardError, match=message):
        edit(SPEC)


@pytest.mark.parametrize(
    ("unit", "dependants"),
    [("fetch", ["build"]), ("db", ["test", "web"]), ("test", []), ("web", [])],
)
def test_needing_finds_steps_and_services(unit: str, dependants: list[str]) -> None:
    assert editing.needing(SPEC, unit) == dependants


@pytest.mark.parametrize(
    "value", ["off", "yes", "1e3", "0x10", "null", "~", "true", "012", "a: b", "- x", "#"]
)
def test_dump_and_parse_round_trip_strings_that_look_like_other_types(value: str) -> None:
    data = {"name": "demo", "steps": {"a": {"run": ["echo", value]}}}
    assert editing.parse(editing.dump(data), "x.yaml") == data


def test_a_definition_must_be_a_mapping() -> None:
    assert editing.definition_of("run: [echo, hi]\nneeds: [a]\n", "--yaml") == {
        "run": ["echo", "hi"],
        "needs": ["a"],
    }
    with pytest.raises(ShipyardError, match="not a YAML mapping"):
        editing.definition_of("- echo\n", "--yaml")


def test_the_name_rule_is_the_specs() -> None:
    from shipyard.spec.models import NAME_PATTERN

    # Kept apart so that checking a name does not import the spec's Pydantic models.
    assert editing.NAME_RULE.pattern == NAME_PATTERN
