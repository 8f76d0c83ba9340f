"""Every spec mistake is reported with file:line:column and a hint, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import SpecError, SpecProblem
from shipyard.spec.loader import load_spec, load_spec_text


def problems_of(text: str) -> list[SpecProblem]:
    with pytest.raises(SpecError) as error:
        load_spec_text(text, Path("/specs/p.yaml"))
    return error.value.problems


def only(text: str) -> SpecProblem:
    found = problems_of(text)
    assert len(found) == 1, found
    return found[0]


def test_a_valid_spec_loads_with_defaults() -> None:
    loaded = load_spec_text("name: ok\nsteps:\n  a: {run: [echo, hi]}\n")
    step = loaded.spec.steps["a"]
    assert step.run == ["echo", "hi"]
    assert step.retries.count == 0 and step.enabled and step.stop.signal == "TERM"


def test_unknown_key_suggests_the_closest_and_points_at_the_key() -> None:
    problem = only("name: p\nsteps:\n  a:\n    run: [x]\n    retires: 2\n")
    assert "unknown key 'retires' in steps.a" in problem.message
    assert problem.hint == "did you mean 'retries'?"
    assert problem.location is not None
    assert (problem.location.line, problem.location.column) == (5, 5)
    assert str(problem.location) == "/specs/p.yaml:5:5"


def test_unknown_top_level_key() -> None:
    # With no steps left, that is said too (issue 17 §7: every problem at once).
    empty, problem = problems_of("name: p\nstep:\n  a: {run: [x]}\n")
    assert problem.hint == "did you mean 'steps'?"
    assert problem.location and problem.location.line == 2
    assert empty.message == "'p' has no steps or services: there is nothing to run"


def test_wrong_type_names_the_field_and_what_it_should_be() -> None:
    problem = only("name: p\nsteps:\n  a:\n    run: {x: 1}\n")
    assert problem.message == "steps.a.run should be a list or a string, not a mapping"
    assert problem.location and problem.location.line == 4


def test_bad_duration_and_bad_size() -> None:
    found = problems_of(
        "name: p\nsteps:\n  a:\n    run: [x]\n    timeout: 10x\n    resources: {memory: lots}\n"
    )
    messages = [p.message for p in found]
    assert any("'10x' is not a duration" in m for m in messages)
    assert any("'lots' is not a size" in m for m in messages)
    assert [p.location.line for p in found if p.location] == [5, 6]


def test_needs_naming_a_missing_step() -> None:
    problem = only("name: p\nsteps:\n  build: {run: [x]}\n  test: {needs: [biuld], run: [x]}\n")
    assert problem.message == "step 'test' needs 'biuld', which is not a step"
    assert problem.hint == "did you mean 'build'?"
    assert problem.location and (problem.location.line, problem.location.column) == (4, 18)


def test_duplicate_step_names_point_at_both() -> None:
    problem = only("name: p\nsteps:\n  a: {run: [x]}\n  a: {run: [y]}\n")
    assert problem.message == "duplicate key 'a' (first defined at line 3)"
    assert problem.location and problem.location.line == 4


def test_cycle_is_printed_as_a_path() -> None:
    problem = only(
        "name: p\nsteps:\n  a: {needs: [c], run: [x]}\n"
        "  b: {needs: [a], run: [x]}\n  c: {needs: [b], run: [x]}\n"
    )
    assert problem.message.startswith("dependency cycle: ")
    path = problem.message.removeprefix("dependency cycle: ").split(" → ")
    assert path[0] == path[-1] and set(path) == {"a", "b", "c"}
    assert problem.location and problem.location.line in (3, 4, 5)


def test_step_needing_itself() -> None:
    problem = only("name: p\nsteps:\n  a: {needs: [a], run: [x]}\n")
    assert problem.message == "step 'a' needs itself"


def test_empty_pipeline() -> None:
    problem = only("name: p\nsteps: {}\n")
    assert "has no steps" in problem.message
    assert problem.location and problem.location.line == 2


def test_missing_name_and_run() -> None:
    messages = [p.message for p in problems_of("steps:\n  a: {needs: []}\n")]
    assert "the spec needs a 'name'" in messages
    assert "steps.a needs a 'run'" in messages


def test_invalid_yaml_points_at_the_line() -> None:
    problem = only("name: p\nsteps:\n  a: {run: [x]\n  b: 1\n")
    assert problem.message.startswith("this is not valid YAML")
    assert problem.location is not None and problem.location.line >= 3


def test_not_a_mapping() -> None:
    assert "a YAML mapping" in only("- just\n- a list\n").message


def test_unknown_template_parameter() -> None:
    problem = only(
        "name: p\nparameters:\n  size: 4M\nsteps:\n  a: {run: [fio, '--bs={{ sise }}']}\n"
    )
    assert problem.message == "'{{ sise }}' is not a parameter"
    assert problem.hint == "did you mean 'size'?"
    assert problem.location and problem.location.line == 5


def test_template_expressions_are_refused() -> None:
    problem = only("name: p\nparameters: {n: 1}\nsteps:\n  a: {run: ['{{ n + 1 }}']}\n")
    assert "only '{{ name }}' is allowed" in problem.message


def test_shell_needs_a_string() -> None:
    problem = only("name: p\nsteps:\n  a: {run: [echo, hi], shell: true}\n")
    assert "shell: true" in problem.message


def test_parameter_default_outside_choices_and_wrong_type() -> None:
    found = problems_of(
        "name: p\nparameters:\n  n: {type: int, default: 3, choices: [1, 2]}\n"
        "  m: {type: int, default: many}\nsteps:\n  a: {run: [x]}\n"
    )
    messages = " | ".join(p.message for p in found)
    assert "default 3 is not one of the choices [1, 2]" in messages
    assert "default 'many' is not a valid int" in messages


def test_bad_step_name() -> None:
    problem = only("name: p\nsteps:\n  'bad name': {run: [x]}\n")
    assert "is not a valid name" in problem.message


def test_all_problems_are_reported_at_once_in_file_order() -> None:
    found = problems_of("name: p\nsteps:\n  a:\n    run: [x]\n    retires: 1\n    timeout: 1y\n")
    assert [p.location.line for p in found if p.location] == [5, 6]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no spec file at"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="is a folder"):
        load_spec(tmp_path)
