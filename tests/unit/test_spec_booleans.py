"""yes/no/on/off (issue 11 §18, docs/spec.md): strings everywhere a string can stand, the
boolean they name only where nothing but a boolean can stand."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import ParameterError, SpecError
from shipyard.spec.loader import load_spec_text
from shipyard.spec.params import resolve_parameters

SPEC = """\
name: words
parameters:
  word: {default: %s}
  fast: {type: bool, default: %s}
steps:
  %s:
    run: "echo {{ word }}"
    env: {COUNTRY: %s}
    shell: %s
    enabled: %s
"""


@pytest.mark.parametrize("word", ["no", "No", "NO", "yes", "on", "off", "Off", "y", "n"])
def test_a_yes_no_word_stays_a_string_where_a_string_can_stand(word: str) -> None:
    loaded = load_spec_text(SPEC % (word, "false", word, word, "true", "true"))
    spec = loaded.spec
    assert spec.parameters["word"].type == "str"  # the type inferred from a string default
    assert spec.parameters["word"].default == word
    assert list(spec.steps) == [word]
    assert spec.steps[word].env == {"COUNTRY": word}


@pytest.mark.parametrize(
    ("word", "meaning"),
    [
        ("true", True),
        ("false", False),
        ("yes", True),
        ("no", False),
        ("on", True),
        ("off", False),
        ("Yes", True),
        ("NO", False),
        ("OFF", False),
        ('"1"', True),
        ("0", False),
    ],
)
def test_a_field_typed_bool_takes_the_boolean_a_word_names(word: str, meaning: bool) -> None:
    loaded = load_spec_text(SPEC % ("x", word, "a", "x", word, word))
    step = loaded.spec.steps["a"]
    assert step.shell is meaning and step.enabled is meaning
    assert resolve_parameters(loaded.spec.parameters, {})["fast"] is meaning


@pytest.mark.parametrize("word", ["maybe", "y", "n", "t", "f", "2", "1.0", "''", "[]"])
def test_anything_else_in_a_field_typed_bool_is_an_error_with_its_line(word: str) -> None:
    with pytest.raises(SpecError) as refused:
        load_spec_text(SPEC % ("x", "true", "a", "x", "true", word), Path("/s/w.yaml"))
    [problem] = refused.value.problems
    assert problem.message.startswith("steps.a.enabled should be true or false"), problem.message
    assert problem.location is not None and problem.location.line == 10


@pytest.mark.parametrize(
    ("given", "declared", "value"),
    [
        ("no", "str", "no"),
        ("yes", "str", "yes"),
        ("off", "str", "off"),
        ("no", "bool", False),
        ("Yes", "bool", True),
        ("on", "bool", True),
        ("0", "bool", False),
    ],
)
def test_a_p_value_is_a_boolean_only_for_a_bool_parameter(
    given: str, declared: str, value: object
) -> None:
    loaded = load_spec_text(
        f"name: p\nparameters:\n  v: {{type: {declared}}}\nsteps:\n  a: {{run: [echo]}}\n"
    )
    assert resolve_parameters(loaded.spec.parameters, {"v": given})["v"] == value


def test_a_bool_parameter_refuses_another_word() -> None:
    loaded = load_spec_text("name: p\nparameters:\n  v: false\nsteps:\n  a: {run: [echo]}\n")
    with pytest.raises(ParameterError, match="parameter 'v' is a bool, and 'maybe' is not"):
        resolve_parameters(loaded.spec.parameters, {"v": "maybe"})
