"""The one slugger of the importers (formats/naming.py): what each caller got before it was
shared — Jarvis, A2A and process-compose names (runs made one '-', 64, "imported") and ATOLL
agent names (each character its own '-', 48, "agent")."""

from __future__ import annotations

import re

import pytest

from shipyard.formats.atoll import valid_name
from shipyard.formats.naming import slug
from shipyard.spec.models import NAME_PATTERN


@pytest.mark.parametrize(
    ("given", "made"),
    [
        ("my pipeline", "my-pipeline"),
        ("a  /  b", "a-b"),
        ("--x.y_z--", "x.y_z"),
        ("été 2024", "t-2024"),
        ("!!!", "imported"),
        ("", "imported"),
        ("a" * 70, "a" * 64),
    ],
)
def test_a_spec_name(given: str, made: str) -> None:
    assert slug(given) == made
    assert re.match(NAME_PATTERN, slug(given)), slug(given)


@pytest.mark.parametrize(
    ("given", "made"),
    [
        ("weather agent", "weather-agent"),
        ("a  b", "a--b"),  # each character its own '-', as ATOLL names always were
        ("über", "ber"),
        ("...", "agent"),
        ("b" * 60, "b" * 48),
    ],
)
def test_an_agent_name(given: str, made: str) -> None:
    assert valid_name(given) == made
