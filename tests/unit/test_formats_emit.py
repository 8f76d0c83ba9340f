"""The imported spec's YAML writer (shipyard.formats.emit): every value reads back as written,
by Shipyard's own YAML reader, and each line knows the foreign place it came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import Location
from shipyard.formats.emit import Entry, emit
from shipyard.spec.yamlsource import read_yaml

TRICKY = [
    "yes", "no", "on", "off", "y", "null", "~", "", "true", "False", "1.0", "0x10", "1e3", "010",
    "@x", "a: b", "#x", "x #y", "- x", "[x]", "{x}", "*a", "&a", "!x", "%x", "`x", "'q'", '"q"',
    "x\ty", " lead", "trail ", "é", "a\\b", "2026-12-02", "12:30", "<<", "?x", "|", ">",
    "one\ntwo\n", "one\ntwo", "one\n\ntwo\n", " lead\nx\n", "x\n\n", "tab\there\nx\n", "\n",
]  # fmt: skip


@pytest.mark.parametrize("value", TRICKY)
def test_a_string_reads_back_as_itself(value: str) -> None:
    text, _ = emit(["header"], [Entry("key", value, comment="c"), Entry("list", [value, 1])])
    data, _ = read_yaml(text, None)
    assert data == {"key": value, "list": [value, 1]}, text


@pytest.mark.parametrize("value", [0, 1.5, True, False, -3])
def test_numbers_and_flags_keep_their_type(value: object) -> None:
    text, _ = emit([], [Entry("k", value)])  # type: ignore[arg-type]
    assert read_yaml(text, None)[0] == {"k": value}


def test_each_line_knows_where_it_came_from() -> None:
    here = Location(Path("/p/pc.yaml"), 7, 5)
    text, origins = emit(["a", "b"], [Entry("steps", children=[Entry("s", "x\ny\n", origin=here)])])
    lines = text.splitlines()
    assert lines[3].strip().startswith("s: |"), text
    assert origins[4] == here and origins[5] == here and origins[6] == here, origins
    assert 3 not in origins
