"""The template repository layout (shipyard-index.yaml) and the version decision, as tables."""

from __future__ import annotations

import pytest

from shipyard.errors import ShipyardError
from shipyard.templatelayout import IndexEntry, newer_needed, parse_index, split_ref

VALID = """\
templates:
  fio:
    file: fio/fio.yaml
    description: I/O bandwidth
    requires: ">=0.1"
  sort:
    file: sort.yaml
"""


def test_a_valid_index_gives_its_entries_with_their_lines() -> None:
    entries, problems = parse_index(VALID, "repo/shipyard-index.yaml")
    assert problems == []
    assert entries == [
        IndexEntry("fio", "fio/fio.yaml", "I/O bandwidth", ">=0.1", line=2),
        IndexEntry("sort", "sort.yaml", "", None, line=6),
    ]


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("steps: {}\n", "no 'templates' mapping", 1),
        ("- a\n- b\n", "no 'templates' mapping", 1),
        ("templates: {}\n", "lists no templates", 1),
        ("templates:\n  a: {file: a.yaml}\nextra: 1\n", "unknown key 'extra'", 3),
        ("templates:\n  'bad name': {file: a.yaml}\n", "name 'bad name' is not allowed", 2),
        ("templates:\n  a: just-a-string\n", "template 'a' is not a mapping", 2),
        ("templates:\n  a: {description: x}\n", "'file' is missing", 2),
        ("templates:\n  a:\n    file: ../../etc/passwd\n", "relative path inside", 3),
        ("templates:\n  a:\n    file: /etc/passwd\n", "relative path inside", 3),
        ("templates:\n  a:\n    file: a.yaml\n    requires: '~=0.1'\n", "is not a version", 4),
        ("templates:\n  a:\n    file: a.yaml\n    requires: 1\n", "requires must be a string", 4),
        ("templates:\n  a:\n    file: a.yaml\n    owner: me\n", "unknown key 'owner'", 4),
        ("templates:\n  a: {file: a.yaml\n", "not valid YAML", 3),  # where YAML notices
        ("templates:\n  a: {file: a.yaml}\n  a: {file: b.yaml}\n", "duplicate", 3),
    ],
)
def test_every_problem_of_an_index_is_named_with_its_line(
    text: str, message: str, line: int
) -> None:
    _, problems = parse_index(text, "repo/shipyard-index.yaml")
    assert problems, "the problem was not found"
    found = [p for p in problems if message in p.message]
    assert found, [p.message for p in problems]
    assert found[0].location is not None
    assert found[0].location.line == line
    assert str(found[0].location).startswith("repo/shipyard-index.yaml:")


def test_one_bad_entry_leaves_the_good_ones() -> None:
    text = "templates:\n  good: {file: a.yaml}\n  bad: {file: ../a.yaml}\n"
    entries, problems = parse_index(text, "i.yaml")
    assert [e.name for e in entries] == ["good"]
    assert len(problems) == 1


@pytest.mark.parametrize(
    ("requires", "version", "refused"),
    [
        (None, "0.1.0", False),
        (">=0.1", "0.1.0", False),
        ("0.1", "0.1.0", False),
        (">=0.1.0", "0.1", False),
        (">= 0.1", "0.2.0", False),
        (">=0.2", "0.1.0", True),
        (">=0.1.1", "0.1.0", True),
        (">=1", "0.9.9", True),
        (">=0.10", "0.9.0", True),  # numbers, not text: 10 > 9
        (">=0.9", "0.10.0", False),
        (">=0.2", "0.2.0rc1", False),  # a suffix after the numbers is not counted
        (">=0.2", "0.2.0+local", False),
    ],
)
def test_version_decision(requires: str | None, version: str, refused: bool) -> None:
    reason = newer_needed(requires, version)
    assert (reason is not None) is refused
    if refused:
        assert reason is not None
        assert version in reason
        assert requires is not None
        assert requires.removeprefix(">=").strip() in reason


def test_a_requirement_that_is_not_a_version_is_refused_as_such() -> None:
    reason = newer_needed("~=0.1", "0.1.0")
    assert reason is not None
    assert "not a version" in reason


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("builtin/fio", ("builtin", "fio")),
        ("mine/ml-train", ("mine", "ml-train")),
        ("fio", ("builtin", "fio")),
    ],
)
def test_split_ref(ref: str, expected: tuple[str, str]) -> None:
    assert split_ref(ref) == expected


@pytest.mark.parametrize("ref", ["/fio", "mine/", "/"])
def test_split_ref_refuses_half_references(ref: str) -> None:
    with pytest.raises(ShipyardError, match="is not REPO/NAME"):
        split_ref(ref)
