"""Non-finite and absurd numbers are refused at validation, with the field and what to write.

`timeout: .nan` once passed validation and made a run that ignored SIGTERM; `.inf` and huge
values raised OverflowError from deep inside the engine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import ParameterError, SpecError
from shipyard.plan.build import build_plan
from shipyard.spec.loader import load_spec_text
from shipyard.spec.params import coerce
from shipyard.spec.quantities import MAX_DURATION, MAX_SIZE, parse_duration, parse_size


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (float("inf"), "finite number of seconds"),
        (float("-inf"), "finite number of seconds"),
        (float("nan"), "finite number of seconds"),
        ("inf", "finite number of seconds"),
        ("nan", "finite number of seconds"),
        ("1e400", "finite number of seconds"),
        (10**400, "longer than 365 days"),
        ("366d", "longer than 365 days"),
        (MAX_DURATION + 1, "longer than 365 days"),
        ("9999999999h", "longer than 365 days"),
        (-1, "cannot be negative"),
    ],
)
def test_unusable_durations_are_refused(value: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_duration(value)


@pytest.mark.parametrize(
    ("value", "seconds"), [("365d", MAX_DURATION), (MAX_DURATION, MAX_DURATION)]
)
def test_the_longest_duration_is_accepted(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (float("inf"), "finite number of bytes"),
        (float("nan"), "finite number of bytes"),
        ("1" * 400 + "T", "finite number of bytes"),
        (10**400, "more than 1PiB"),
        (MAX_SIZE + 1, "more than 1PiB"),
        ("2PB", "not a size"),
        (-1.0, "cannot be negative"),
    ],
)
def test_unusable_sizes_are_refused(value: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_size(value)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", float("nan"), float("inf"), 10**400])
def test_float_parameters_must_be_finite(value: object) -> None:
    with pytest.raises(ValueError, match="not a valid float"):
        coerce(value, "float")


BASE = "name: p\nsteps:\n  a:\n    run: [echo]\n"


@pytest.mark.parametrize(
    ("extra", "field", "line"),
    [
        ("    timeout: .inf\n", "steps.a.timeout", 5),
        ("    timeout: .nan\n", "steps.a.timeout", 5),
        ("    timeout: -.inf\n", "steps.a.timeout", 5),
        ("    timeout: 1e999\n", "steps.a.timeout", 5),
        ("    timeout: 400d\n", "steps.a.timeout", 5),
        ("    retries: {count: 1, backoff: .inf}\n", "steps.a.retries.backoff", 5),
        ("    retries: {count: 1, max_backoff: .nan}\n", "steps.a.retries.max_backoff", 5),
        ("    stop: {timeout: .inf}\n", "steps.a.stop.timeout", 5),
        ("    resources: {memory: .inf}\n", "steps.a.resources.memory", 5),
        ("    resources: {memory: .nan}\n", "steps.a.resources.memory", 5),
        ("    resources: {cpus: .inf}\n", "steps.a.resources.cpus", 5),
        ("execution: {timeout: .nan}\n", "execution.timeout", 5),
        ("execution: {sample_interval: .inf}\n", "execution.sample_interval", 5),
    ],
)
def test_a_spec_with_a_non_finite_number_is_refused_where_it_is(
    extra: str, field: str, line: int
) -> None:
    with pytest.raises(SpecError) as error:
        load_spec_text(BASE + extra, Path("/specs/p.yaml"))
    (problem,) = error.value.problems
    assert problem.message.startswith(field), problem.message
    assert problem.location is not None and problem.location.line == line


@pytest.mark.parametrize(
    "parameter",
    ["{type: float, default: .nan}", "{default: .inf}", "{type: float, default: 1, test: .nan}"],
)
def test_a_non_finite_parameter_default_is_refused(parameter: str) -> None:
    text = f"name: p\nparameters:\n  x: {parameter}\nsteps:\n  a: {{run: [echo, '{{{{ x }}}}']}}\n"
    with pytest.raises(SpecError, match="not a valid float"):
        load_spec_text(text)


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_a_non_finite_parameter_override_is_refused(value: str) -> None:
    loaded = load_spec_text(
        "name: p\nparameters:\n  x: {type: float, default: 1.5}\nsteps:\n"
        "  a: {run: [echo, '{{ x }}']}\n"
    )
    with pytest.raises(ParameterError, match="'x' is a float"):
        build_plan(loaded, {"x": value})
