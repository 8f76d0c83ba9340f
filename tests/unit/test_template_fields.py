"""Where ``{{ name }}`` is filled in, and where it is refused: never left in the plan literally.

A hostile-spec review found ``health.exec`` placeholders reaching ``plan --json`` as written
(``validate`` silent), checkpoint paths the same, a service ``workdir`` whose unknown name
crashed ``plan`` with a KeyError, and env names, http probe paths and parameter values taking
``{{ x }}`` as text. Tables, no processes.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shipyard.errors import ParameterError, SpecError, SpecProblem
from shipyard.plan.build import build_plan
from shipyard.plan.model import Plan
from shipyard.spec.fields import field_kind, template_fields
from shipyard.spec.loader import load_spec_text
from shipyard.spec.yamlsource import PathKey

HEAD = "name: t\nparameters:\n  x: hello\n"  # a parameter 'x'; bodies start on line 4


def load(body: str):  # type: ignore[no-untyped-def]
    return load_spec_text(HEAD + textwrap.dedent(body), Path("/specs/t.yaml"))


def problems_of(body: str) -> list[SpecProblem]:
    with pytest.raises(SpecError) as error:
        load(body)
    return error.value.problems


def plan_of(body: str, **params: object) -> Plan:
    return build_plan(load(body), params)


SERVICE = "services:\n  web:\n    run: [sleep, '60']\n"  # its keys go on line 7
STEP = "steps:\n  a:\n    run: [true]\n"


# -- every templated field is seen by the checks ----------------------------------------------


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (SERVICE + "    health: {exec: [test, -e, '{{ nope }}']}\n", 7),
        (SERVICE + "    workdir: 'w/{{ nope }}'\n", 7),
        (STEP + "    checkpoint: {paths: ['{{ nope }}/ckpt']}\n", 7),
        (STEP + "    checkpoint: {paths: [c], ready_file: '{{ nope }}.done'}\n", 7),
    ],
    ids=["health-exec", "service-workdir", "checkpoint-paths", "checkpoint-ready-file"],
)
def test_an_unknown_name_is_reported_where_it_is(body: str, line: int) -> None:
    (problem,) = problems_of(body)
    assert problem.message == "'{{ nope }}' is not a parameter", str(problem)
    assert problem.location is not None and problem.location.line == line, str(problem)


def test_every_templated_field_is_walked() -> None:
    spec = load(
        """
        env: {E: '{{ x }}'}
        hooks: {prepare: [[echo, '{{ x }}']]}
        services:
          web:
            run: [echo, '{{ x }}']
            env: {S: '{{ x }}'}
            workdir: '{{ x }}'
            health: {exec: [test, -e, '{{ x }}']}
        steps:
          a:
            run: 'echo {{ x }}'
            env: {A: '{{ x }}'}
            workdir: '{{ x }}'
            inputs: ['{{ x }}.in']
            outputs: ['{{ x }}.out']
            checkpoint: {paths: ['{{ x }}.ckpt'], ready_file: '{{ x }}.ready'}
        """
    ).spec
    assert [path for path, text in template_fields(spec) if "{{" in text] == [
        ("env", "E"),
        ("hooks", "prepare", 0, "run", 1),
        ("services", "web", "run", 1),
        ("services", "web", "env", "S"),
        ("services", "web", "workdir"),
        ("services", "web", "health", "exec", 2),
        ("steps", "a", "run"),
        ("steps", "a", "env", "A"),
        ("steps", "a", "workdir"),
        ("steps", "a", "inputs", 0),
        ("steps", "a", "outputs", 0),
        ("steps", "a", "checkpoint", "paths", 0),
        ("steps", "a", "checkpoint", "ready_file"),
    ]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (("env", "E"), "env"),
        (("hooks", "cleanup", 0, "run"), "command"),
        (("steps", "a", "run", 1), "command"),
        (("services", "web", "health", "exec", 0), "command"),
        (("steps", "a", "env", "A"), "env"),
        # A unit named like a field: its env values are still env values.
        (("steps", "run", "env", "A"), "env"),
        (("services", "workdir", "env", "A"), "env"),
        (("services", "web", "workdir"), "workdir"),
        (("steps", "a", "inputs", 0), "declared input path"),
        (("steps", "a", "outputs", 2), "declared output path"),
        (("steps", "a", "checkpoint", "paths", 0), "checkpoint path"),
        (("steps", "a", "checkpoint", "ready_file"), "checkpoint ready_file"),
    ],
)
def test_the_kind_of_a_templated_field(path: PathKey, kind: str) -> None:
    assert field_kind(path) == kind


# -- plan fills them in -------------------------------------------------------------------------


def test_an_exec_probe_gets_the_values_as_whole_words() -> None:
    body = (
        SERVICE + "    health: {exec: [sh, -c, 'test \"$1\" = ok', sh, '{{ x }}', 'x={{ x }}']}\n"
    )
    health = plan_of(body, x="two words; touch PWNED").service("web").health
    assert health is not None
    assert health.exec == [
        "sh",
        "-c",
        'test "$1" = ok',
        "sh",
        "two words; touch PWNED",
        "x=two words; touch PWNED",
    ]


def test_an_exec_probe_whose_program_is_an_empty_parameter_is_refused_at_plan() -> None:
    body = SERVICE + "    health: {exec: ['{{ x }}', ok]}\n"
    with pytest.raises(ParameterError, match="the health probe of service 'web' has no program"):
        plan_of(body, x="")


def test_checkpoint_paths_get_the_values() -> None:
    body = STEP + "    checkpoint: {paths: ['{{ x }}/ckpt', state], ready_file: '{{ x }}.done'}\n"
    checkpoint = plan_of(body).step("a").checkpoint
    assert checkpoint is not None
    assert checkpoint.paths == ["hello/ckpt", "state"]
    assert checkpoint.ready_file == "hello.done"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("paths: ['{{ x }}']", "../outside", "climbs out with '..'"),
        ("paths: ['{{ x }}']", "/etc", "is absolute"),
        ("paths: [c], ready_file: '{{ x }}'", "../done", "climbs out with '..'"),
    ],
)
def test_a_checkpoint_path_a_value_moves_out_is_refused(
    field: str, value: str, reason: str
) -> None:
    body = STEP + f"    checkpoint: {{{field}}}\n"
    with pytest.raises(ParameterError, match=reason) as error:
        plan_of(body, x=value)
    assert "step 'a': checkpoint" in str(error.value) and "(from parameter 'x')" in str(error.value)


# -- where {{ }} is not filled in, it is refused ------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment", "line"),
    [
        ("env: {'{{ x }}': v}\n" + STEP, "the env name in env", 4),
        (STEP + "    env: {'A_{{ x }}': v}\n", "the env name in steps.a.env", 7),
        (SERVICE + "    env: {'{{ x }}': v}\n", "the env name in services.web.env", 7),
        (SERVICE + "    port: 8080\n    health: {http: '/{{ x }}'}\n", "http probe path", 8),
        ("  y: 'runs/{{ x }}'\n" + STEP, "parameter 'y': its default", 4),
        ("  y: {default: a, test: '{{ x }}'}\n" + STEP, "parameter 'y': its test", 4),
        ("  y: {default: a, choices: [a, '{{ x }}']}\n" + STEP, "parameter 'y': the choice", 4),
    ],
    ids=["spec-env-name", "step-env-name", "service-env-name", "http", "default", "test", "choice"],
)
def test_a_placeholder_where_none_is_filled_in_is_refused(
    body: str, fragment: str, line: int
) -> None:
    (problem,) = problems_of(body)
    assert fragment in problem.message and "would be used as written" in problem.message, str(
        problem
    )
    assert problem.location is not None and problem.location.line == line, str(problem)
    assert problem.hint


@pytest.mark.parametrize(
    "body",
    [
        STEP + "    description: 'uses {{ x }}'\n",  # free text, shown as written
        SERVICE + "    port: 8080\n    health: {http: /health}\n",
        "  y: 'a {b} c'\n" + STEP,  # braces that are no placeholder
    ],
)
def test_near_misses_stay_valid(body: str) -> None:
    load(body)
