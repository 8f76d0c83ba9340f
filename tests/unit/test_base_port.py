"""$SHIPYARD_BASE_PORT: where `port: auto` starts when a spec does not say (parallel test runs
take ranges of their own), and part of a cached plan's key."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, 8100), ("", 8100), ("9300", 9300), (" 21000 ", 21000), ("1", 1), ("65535", 65535)],
)
def test_the_default_base_port_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, given: str | None, expected: int
) -> None:
    from shipyard.spec.models import default_base_port

    if given is None:
        monkeypatch.delenv("SHIPYARD_BASE_PORT", raising=False)
    else:
        monkeypatch.setenv("SHIPYARD_BASE_PORT", given)
    assert default_base_port() == expected


@pytest.mark.parametrize("given", ["abc", "0", "65536", "-5", "8100.5"])
def test_a_base_port_that_is_no_port_is_refused(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    from shipyard.errors import ShipyardError
    from shipyard.spec.models import default_base_port

    monkeypatch.setenv("SHIPYARD_BASE_PORT", given)
    with pytest.raises(ShipyardError, match="SHIPYARD_BASE_PORT"):
        default_base_port()


def test_the_base_port_of_the_environment_is_part_of_a_plans_key() -> None:
    from shipyard.plan.cache import plan_key

    common: dict[str, Any] = dict(
        spec_text="name: x", spec_path="/x.yaml", overrides={}, mode="normal", max_parallel=None,
        cores=2,
    )  # fmt: skip
    assert plan_key(**common, base_port="") != plan_key(**common, base_port="21000")
