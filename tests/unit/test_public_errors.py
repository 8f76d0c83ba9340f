"""The errors docs/python-api.md names are importable from ``shipyard`` itself (issue 11 §18)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import shipyard
from shipyard import errors

DOCS = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"


def _documented_errors() -> list[str]:
    text = DOCS.read_text()
    found = re.search(r"raise `shipyard\.ShipyardError` subclasses \((.*?)\)", text, re.DOTALL)
    assert found is not None, "docs/python-api.md no longer lists the errors the API raises"
    return ["ShipyardError", *re.findall(r"`(\w+)`", found.group(1))]


def test_the_documented_errors_are_the_ones_listed() -> None:
    assert _documented_errors() == [
        "ShipyardError",
        "SpecError",
        "ParameterError",
        "ExecutionNotFound",
        "StoreError",
    ]


@pytest.mark.parametrize("name", _documented_errors())
def test_each_documented_error_is_exported_at_the_top_level(name: str) -> None:
    assert name in shipyard.__all__, f"shipyard.{name} is documented but not exported"
    assert getattr(shipyard, name) is getattr(errors, name)


def test_an_unknown_execution_is_caught_as_shipyard_execution_not_found(tmp_path: Path) -> None:
    ops = shipyard.connect(tmp_path / "home")
    try:
        with pytest.raises(shipyard.ExecutionNotFound) as caught:
            ops.status("exec_nothing_20260101_000000_0000")
        assert isinstance(caught.value, shipyard.ShipyardError)
    finally:
        ops.close()
