"""execute_pipeline_test's test_configuration: the types of its values, as a table (a value
of another type once ended the call as an internal error, and a zip given as one string was
read as its letters)."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.errors import ShipyardError
from shipyard.mcpserver.seed_tools import configuration_problem, sweep_settings


@pytest.mark.parametrize(
    ("configuration", "problem"),
    [
        ({}, None),
        ({"zip": [["a", "b"]], "repeat": 2, "timeout_per_run": 30}, None),
        ({"timeout_per_run": 1.5, "failure_threshold": 0, "objective": "bw:max"}, None),
        ({"repeat": None}, None),
        ({"zip": "size"}, 'zip="size" is not a list of groups'),
        ({"zip": ["a", "b"]}, 'zip=["a", "b"] is not a list of groups'),
        ({"zip": [["a", 1]]}, "is not a list of groups"),
        ({"repeat": "abc"}, 'repeat="abc" is not a whole number'),
        ({"repeat": 2.5}, "repeat=2.5 is not a whole number"),
        ({"repeat": True}, "repeat=true is not a whole number"),
        ({"timeout_per_run": "abc"}, 'timeout_per_run="abc" is not a number of seconds'),
        ({"failure_threshold": "x"}, 'failure_threshold="x" is not a share'),
        ({"objective": 3}, "objective=3 is not a text"),
    ],
)
def test_value_types(configuration: dict[str, Any], problem: str | None) -> None:
    found = configuration_problem(configuration)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found.message, found
        assert found.hint is not None and found.hint.startswith("for example ")


def test_sweep_settings_refuses_before_building() -> None:
    with pytest.raises(ShipyardError, match="is not a whole number"):
        sweep_settings({"size": [1]}, {"repeat": "abc"}, 2)
    built = sweep_settings({"size": [1]}, {"repeat": 3, "zip": []}, 2)
    assert built is not None and built.repeat == 3 and built.max_parallel_runs == 2
