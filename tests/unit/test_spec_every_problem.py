"""Issue 11 items 15 and 16: `validate` reports every problem at once — a shape error does not
hide the named checks (an unknown ``{{ name }}``, a port asked for twice) — and a port asked
for twice names the port and both services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import SpecError, SpecProblem
from shipyard.spec.loader import load_spec_text
from shipyard.spec.repair import patched
from shipyard.spec.yamlsource import PathKey


def problems_of(text: str) -> list[SpecProblem]:
    with pytest.raises(SpecError) as error:
        load_spec_text(text, Path("/specs/p.yaml"))
    return error.value.problems


REST = """
steps:
  a: {run: [echo, "{{ missing }}"], needs: [b]BAD_STEP}
  b: {run: [echo, b], needs: [a]}
services:
  web: {run: [sleep, "60"], port: 8123}
  api: {run: [sleep, "60"], port: 8123}
"""


@pytest.mark.parametrize(
    ("top", "bad_step", "shape"),
    [
        # nothing wrong with the shape: the three come out together (they did already)
        ("name: p", "", None),
        # an unknown key in a step
        ("name: p", ", timout: 3", "unknown key 'timout' in steps.a"),
        # a step's field of the wrong type
        ("name: p", ", retries: many", "steps.a.retries"),
        # a parameter's default not of its type
        ("name: p\nparameters: {n: {type: int, default: x}}", "", "default 'x' is not a valid int"),
        # an unknown top-level key
        ("name: p\nexecutoin: {max_parallel: 2}", "", "unknown key 'executoin'"),
        # an execution setting of the wrong kind
        ("name: p\nexecution: {max_parallel: lots}", "", "execution.max_parallel"),
        # no name at all
        ("description: no name", "", "the spec needs a 'name'"),
    ],
)
def test_a_shape_error_does_not_hide_the_other_problems(
    top: str, bad_step: str, shape: str | None
) -> None:
    messages = [p.message for p in problems_of(top + REST.replace("BAD_STEP", bad_step))]
    assert "'{{ missing }}' is not a parameter" in messages, messages
    assert "dependency cycle: a → b → a" in messages, messages
    assert "services 'web' and 'api' both ask for port 8123" in messages, messages
    if shape is not None:
        assert any(shape in m for m in messages), messages
    assert len(messages) == 3 + (shape is not None), messages  # nothing twice, nothing made up


def test_a_cycle_of_steps_is_reported_once() -> None:
    found = problems_of(
        "name: p\nsteps:\n  a: {run: [x], needs: [b]}\n  b: {run: [x], needs: [a]}\n"
        "services:\n  web: {run: [x]}\n"
    )
    assert [p.message for p in found] == ["dependency cycle: a → b → a"]


def test_a_port_asked_for_twice_names_the_port_and_both_services_at_the_second() -> None:
    found = problems_of(
        "name: p\nservices:\n  web: {run: [x], port: 9000}\n  db: {run: [x], port: 9001}\n"
        "  api:\n    run: [x]\n    port: 9000\n  cache: {run: [x], port: 9001}\n"
    )
    assert [(p.message, p.location and p.location.line) for p in found] == [
        ("services 'web' and 'api' both ask for port 9000", 7),
        ("services 'db' and 'cache' both ask for port 9001", 8),
    ]
    assert found[0].hint == "give 'api' another port, or port: auto"


@pytest.mark.parametrize(
    ("data", "paths", "expected"),
    [
        # an unknown key of a unit is dropped, the unit stays
        (
            {"steps": {"a": {"run": "x", "oops": 1}}},
            [("steps", "a", "oops")],
            {"steps": {"a": {"run": "x"}}},
        ),
        # a field deeper in a unit: the unit's field goes
        (
            {"steps": {"a": {"run": "x", "retries": {"count": "y"}}}},
            [("steps", "a", "retries", "count")],
            {"steps": {"a": {"run": "x"}}},
        ),
        # a unit that cannot be read, or lacks its run, becomes a placeholder of its name
        (
            {"steps": {"a": {"needs": []}}},
            [("steps", "a", "run")],
            {"steps": {"a": {"run": "true"}}},
        ),
        ({"steps": {"a": 3}}, [("steps", "a")], {"steps": {"a": {"run": "true"}}}),
        ({"parameters": {"n": [1]}}, [("parameters", "n")], {"parameters": {"n": {}}}),
        # a placeholder refused again (its name is bad) is removed
        ({"steps": {"a b": {"run": "true"}}}, [("steps", "a b")], {"steps": {}}),
        # elsewhere the key goes; a missing name is given one
        ({"execution": {"max_parallel": "x"}}, [("execution", "max_parallel")], {"execution": {}}),
        ({"stepz": {}}, [("stepz",)], {}),
        ({}, [("name",)], {"name": "spec"}),
        # the whole file, or a whole mapping of units, cannot be patched
        ({"steps": 3}, [("steps",)], None),
        ({"steps": {}}, [()], None),
    ],
)
def test_patched(
    data: dict[str, Any], paths: list[PathKey], expected: dict[str, Any] | None
) -> None:
    before = repr(data)
    assert patched(data, paths) == expected
    assert repr(data) == before  # the data given is not changed


def test_a_wrong_depends_on_does_not_hide_a_port_asked_for_twice() -> None:
    found = problems_of(
        "name: p\nservices:\n  web: {run: [x], port: 9000, depends_on: [nope]}\n"
        "  api: {run: [x], port: 9000}\n"
    )
    assert [p.message for p in found] == [
        "service 'web' depends on 'nope', which is neither a service nor a step",
        "services 'web' and 'api' both ask for port 9000",
    ]


def test_a_duplicate_key_does_not_hide_the_rest_of_the_file() -> None:
    found = problems_of(
        "name: p\nsteps:\n  a: {run: [echo, '{{ missing }}']}\n  a: {run: [y]}\n"
        "services:\n  web: {run: [x], port: 9000}\n  api: {run: [x], port: 9000}\n"
    )
    assert [p.message for p in found] == [
        "'{{ missing }}' is not a parameter",
        "duplicate key 'a' (first defined at line 3)",
        "services 'web' and 'api' both ask for port 9000",
    ]
