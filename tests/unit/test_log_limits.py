"""Which units get a log size limit, and which: their own settings over the execution's."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.plan.build import log_limits
from shipyard.plan.codec import decode, encode
from shipyard.plan.model import LogLimit, Plan
from shipyard.spec.checks import spec_fleet
from shipyard.spec.models import Spec


def _limits(execution: dict[str, Any] | None, **units: dict[str, Any]) -> dict[str, LogLimit]:
    steps = {name: {"run": "true", **unit} for name, unit in units.items() if name != "web"}
    services = {"web": {"run": "true", "replicas": 2, **units["web"]}} if "web" in units else {}
    spec = Spec.model_validate(
        {
            "name": "t",
            "execution": {"logs": execution} if execution is not None else {},
            "steps": steps,
            "services": services,
        }
    )
    return log_limits(spec, spec_fleet(spec) if services else None)


@pytest.mark.parametrize(
    ("execution", "units", "expected"),
    [
        (None, {"a": {}}, {}),
        ({"max_size": "1M"}, {"a": {}, "b": {}}, {"a": LogLimit(10**6), "b": LogLimit(10**6)}),
        ({"max_size": 2048, "keep": 5}, {"a": {"logs": {"keep": 1}}}, {"a": LogLimit(2048, 1)}),
        ({"max_size": 2048, "keep": 5}, {"a": {"logs": {"keep": 0}}}, {"a": LogLimit(2048, 0)}),
        ({"keep": 5}, {"a": {"logs": {"max_size": "4K"}}, "b": {}}, {"a": LogLimit(4000, 5)}),
        (None, {"a": {"logs": {"max_size": "4KiB"}}, "b": {}}, {"a": LogLimit(4096, 3)}),
        ({"keep": 2}, {"a": {}}, {}),  # keep without a size anywhere: no limit
        (
            {"max_size": 2048},
            {"web": {"logs": {"max_size": 4096}}},
            {"web-1": LogLimit(4096), "web-2": LogLimit(4096)},  # every replica
        ),
    ],
)
def test_log_limits(
    execution: dict[str, Any] | None, units: dict[str, Any], expected: dict[str, LogLimit]
) -> None:
    assert _limits(execution, **units) == expected


@pytest.mark.parametrize(
    ("settings", "problem"),
    [({"max_size": 100}, "greater than or equal to 1024"), ({"keep": -1}, "greater than")],
)
def test_absurd_settings_are_refused(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Spec.model_validate({"name": "t", "steps": {"a": {"run": "true", "logs": settings}}})


def test_limits_survive_the_plan_cache() -> None:
    """A cached plan (its JSON form) keeps its limits: `run` of a cached plan rotates too."""
    plan = Plan(
        name="t", spec_path=None, spec_digest="d", mode="normal", parameters={}, env={},
        max_parallel=1, failure_strategy="fail_fast", timeout=None, sample_interval=1.0,
        prepare=[], cleanup=[], steps=[], stages=[], critical_path=[],
        log_limits={"a": LogLimit(4096, 2)},
    )  # fmt: skip
    assert decode(encode(plan)).log_limits == {"a": LogLimit(4096, 2)}
