"""Issue 8, items 7-9: validation refuses what would only fail at plan or run, names both sides
of a collision, and says in words what is wrong (file:line and a hint, never library text)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shipyard.errors import ParameterError, SpecError, SpecProblem
from shipyard.spec.loader import load_spec_text
from shipyard.spec.models import ParameterSpec
from shipyard.spec.namechecks import parameter_variable, url_variable
from shipyard.spec.params import resolve_parameters


def problems_of(text: str) -> list[SpecProblem]:
    with pytest.raises(SpecError) as error:
        load_spec_text(textwrap.dedent(text).lstrip("\n"), Path("/specs/h.yaml"))
    return error.value.problems


STEP = "name: h\nsteps:\n  a:\n"  # a step 'a' whose body starts on line 4

# (spec, a fragment of the one problem's message or hint, its line)
REFUSED: list[tuple[str, str, int]] = [
    # -- item 7: accepted by validate, crashed at plan or run -------------------------------
    (STEP + '    run: "echo \'abc"\n', "cannot be split into words: no closing quotation", 4),
    (STEP + '    run: "echo \\\\"\n', "cannot be split into words", 4),
    (STEP + "    run: \"''\"\n", "its first word (the program) is empty", 4),
    (STEP + "    run: '   '\n", "the command is empty", 4),
    (STEP + "    run: ['']\n", "the program (the first item of the command) is empty", 4),
    (STEP + '    run: [echo, "a\\0b"]\n', "steps.a.run[1] contains a NUL byte", 4),
    (STEP + '    run: "echo a\\0b"\n', "steps.a.run contains a NUL byte", 4),
    (STEP + '    run: [true]\n    env: {X: "a\\0b"}\n', "steps.a.env.X contains a NUL byte", 5),
    (STEP + '    run: [true]\n    env: {"X\\0": b}\n', "the key 'X\\x00' in steps.a.env", 5),
    (STEP + '    run: [true]\n    workdir: "d\\0"\n', "steps.a.workdir contains a NUL", 5),
    ('name: h\nparameters:\n  x: "a\\0b"\nsteps:\n  a: {run: [true]}\n', "NUL byte", 3),
    ('name: h\nenv:\n  X: "\\0"\nsteps:\n  a: {run: [true]}\n', "env.X contains a NUL byte", 3),
    (
        STEP + "    run: [true]\n    env:\n      'A=B': x\n",
        "has the name 'A=B', which holds '='",
        6,
    ),
    (STEP + "    run: [true]\n    env:\n      '': x\n", "steps.a.env has an empty name", 6),
    ("name: h\nenv: {'A=B': x}\nsteps:\n  a: {run: [true]}\n", "env has the name 'A=B'", 2),
    (
        "name: h\nservices:\n  w:\n    run: [sleep, '9']\n    shell: true\n",
        "service 'w' says 'shell: true' but 'run' is a list",
        5,
    ),
    (
        "name: h\nhooks:\n  prepare:\n    - {run: [echo], shell: true}\nsteps:\n  a: {run: [x]}\n",
        "prepare hook 1 says 'shell: true' but 'run' is a list",
        4,
    ),
    (
        'name: h\nhooks:\n  cleanup: "echo \'x"\nsteps:\n  a: {run: [x]}\n',
        'cleanup hook 1: the command "echo \'x" cannot be split',
        3,
    ),
    (
        "name: h\nservices:\n  w: {run: [sleep, '9'], health: {exec: ['']}}\n",
        "services.w.health.exec: the program (the first item of the command) is empty",
        3,
    ),
    # -- item 8: names that collide --------------------------------------------------------
    (
        "name: h\nsteps:\n  web-1: {run: [x]}\nservices:\n  web: {run: [x], replicas: 2}\n",
        "step 'web-1' and service 'web' (its replica 'web-1') would both run as 'web-1'",
        5,
    ),
    (
        "name: h\nservices:\n  web: {run: [x], replicas: 2}\n  web-1: {run: [x]}\n",
        "service 'web' (its replica 'web-1') and service 'web-1' would both run as 'web-1'",
        4,
    ),
    (
        "name: h\nservices:\n  web-2: {run: [x]}\n  web: {run: [x], replicas: 3}\n",
        "service 'web-2' and service 'web' (its replica 'web-2') would both run as 'web-2'",
        4,
    ),
    (
        "name: h\nparameters:\n  foo: 1\n  FOO: 2\nsteps:\n  a: {run: [x]}\n",
        "parameters 'foo' and 'FOO' would both be passed as $SHIPYARD_PARAM_FOO",
        4,
    ),
    (
        "name: h\nservices:\n  web-a: {run: [x]}\n  web_a: {run: [x]}\n",
        "services 'web-a' and 'web_a' would both be reached through $SHIPYARD_URL_WEB_A",
        4,
    ),
    (
        "name: h\nservices:\n  api.v1: {run: [x]}\n  API-v1: {run: [x]}\n",
        "services 'api.v1' and 'API-v1' would both be reached through $SHIPYARD_URL_API_V1",
        4,
    ),
    (
        "name: h\nservices:\n  web: {run: [x], replicas: 2}\n  web_2: {run: [x]}\n",
        "services 'web-2' and 'web_2' would both be reached through $SHIPYARD_URL_WEB_2",
        4,
    ),
    # -- item 9: messages a person understands ----------------------------------------------
    (
        "name: h\nbase: &b {run: [x]}\nsteps:\n  a:\n    <<: *b\n",
        "YAML merge keys ('<<:') are not supported",
        5,
    ),
    (
        "name: h\nparameters:\n  my-size: 1\nsteps:\n  a: {run: [x]}\n",
        "'my-size' is not a valid parameter name",
        3,
    ),
    (STEP + "    run: []\n", "steps.a.run: the command is an empty list", 4),
    (STEP + "    run: ''\n", "steps.a.run: the command is empty", 4),
    (STEP + "    run: [{x: 1}]\n", "item 0 of the command is a mapping, not a word", 4),
    (STEP + "    run: [echo, a: b]\n", "item 1 of the command is a mapping, not a word", 4),
    (STEP + "    run: [echo, null]\n", "item 1 of the command is empty (null)", 4),
    (
        "name: h\nservices:\n  w:\n    run: [x]\n    health: {tcp: true, interval: 0}\n",
        "health.interval: interval 0ms is too short",
        5,
    ),
    (
        "name: h\nservices:\n  w:\n    run: [x]\n    health: {tcp: true, start_interval: 1ms}\n",
        "start_interval 1ms is too short",
        5,
    ),
    (
        "name: h\nservices:\n  w:\n    run: [x]\n    health: {tcp: true, timeout: 0s}\n",
        "health.timeout: timeout 0ms is too short",
        5,
    ),
    (
        "name: h\nservices:\n  w:\n    run: [x]\n    restart: {reset_after: 0, max_restarts: 3}\n",
        "restart.reset_after: reset_after 0ms is too short",
        5,
    ),
    (
        "name: h\nservices:\n  w:\n    run: [x]\n    restart: {reset_after: 500ms}\n",
        "max_restarts never stops the crash loop",
        5,
    ),
    # A step retried for ever fills the disk with attempts (10,919 spawns in 40 s seen).
    (
        STEP + "    run: [false]\n    retries: {count: 1000000000000, backoff: 0}\n",
        "steps.a.retries.count: 1000000000000 retries is too many",
        5,
    ),
    (STEP + "    run: [false]\n    retries: 1001\n", "use at most 1000", 5),
]


@pytest.mark.parametrize(("text", "fragment", "line"), REFUSED)
def test_refused_with_its_line_and_a_hint(text: str, fragment: str, line: int) -> None:
    problems = problems_of(text)
    assert len(problems) == 1, [str(p) for p in problems]
    problem = problems[0]
    assert fragment in f"{problem.message}\nhint: {problem.hint}", str(problem)
    assert problem.location is not None and problem.location.line == line, str(problem)
    assert str(problem.location.path) == "/specs/h.yaml"
    assert problem.hint, f"no hint: {problem}"
    # No library text leaks through.
    for raw in ("Value error", "Input should", "after validation", "constructor", "tag:yaml"):
        assert raw not in str(problem)


ACCEPTED = [
    STEP + "    run: \"echo 'it''s'\"\n",
    STEP + "    run: echo \"{{ x }}\" 'a b'\nparameters: {x: 1}\n",
    STEP + '    run: "echo \'abc"\n    shell: true\n',  # sh reports its own syntax error
    STEP + "    run: [echo, '']\n",  # an empty argument (not the program) is fine
    STEP + "    run: [true]\n    env: {'my.var': x, lower_case: y}\n",
    "name: h\nparameters: {foo: 1, foo_2: 2}\nsteps:\n  a: {run: [x]}\n",
    "name: h\nsteps:\n  web-3: {run: [x]}\nservices:\n  web: {run: [x], replicas: 2}\n",
    "name: h\nservices:\n  w:\n    run: [x]\n    health: {tcp: true, interval: 50ms}\n"
    "    restart: {reset_after: 1s}\n",
    STEP + "    run: [false]\n    retries: {count: 1000, backoff: 0}\n",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_near_misses_stay_valid(text: str) -> None:
    load_spec_text(text)


def test_a_parameter_name_hint_matches_what_parameter_names_allow() -> None:
    (problem,) = problems_of("name: h\nparameters:\n  my.size: 1\nsteps:\n  a: {run: [x]}\n")
    assert problem.hint is not None
    assert "'-'" not in problem.hint and "'.'" not in problem.hint
    assert "try 'my_size'" in problem.hint
    # A unit name may have both: its hint says so.
    (problem,) = problems_of("name: h\nsteps:\n  'a b': {run: [x]}\n")
    assert problem.hint is not None and "'-' and '.'" in problem.hint


def test_every_collision_is_reported_at_once() -> None:
    problems = problems_of(
        """
        name: h
        parameters: {foo: 1, FOO: 2}
        steps:
          web-1: {run: [x]}
        services:
          web: {run: [x], replicas: 2}
          web_2: {run: [x]}
        """
    )
    assert len(problems) == 3, [str(p) for p in problems]


@pytest.mark.parametrize(
    "value",
    ["a\0b", "\0", "; \0 rm"],
)
def test_a_parameter_value_with_a_nul_byte_is_refused(value: str) -> None:
    declared = {"x": ParameterSpec.model_validate("safe")}
    with pytest.raises(ParameterError) as error:
        resolve_parameters(declared, {"x": value})
    assert "contains a NUL byte" in error.value.message
    assert error.value.hint == "give 'x' a value without it"  # API terms, no CLI flag


def test_the_variable_names_match_the_engine_and_the_plan() -> None:
    """namechecks predicts the names that plan.build and engine.fleet really give."""
    from shipyard.engine.wiring import connection_env
    from shipyard.plan.build import parameter_env

    for unit in ("web", "web-a", "api.v1", "Mixed_Case-2"):
        assert url_variable(unit) in connection_env([unit], {unit: 8000})
    for name in ("foo", "FOO", "block_size"):
        assert set(parameter_env({name: 1})) == {parameter_variable(name)}
