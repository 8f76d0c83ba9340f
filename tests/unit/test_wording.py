"""The plural helper every counted message uses (issue 11 §21)."""

from __future__ import annotations

import pytest

from shipyard.wording import counted, counted_list, plural


@pytest.mark.parametrize(
    ("count", "word", "said"),
    [
        (0, "step", "0 steps"),
        (1, "step", "1 step"),
        (2, "step", "2 steps"),
        (1, "item", "1 item"),
        (1, "file", "1 file"),
        (1, "parameter", "1 parameter"),
        (1, "restart", "1 restart"),
        (3, "process", "3 processes"),
        (1, "process", "1 process"),
        (-1, "second", "-1 second"),
    ],
)
def test_counted(count: int, word: str, said: str) -> None:
    assert counted(count, word) == said


def test_plural_of_a_verb_agreeing_with_its_count() -> None:
    assert f"{plural('is', 1)} {plural('is', 2)}" == "is are"


@pytest.mark.parametrize(
    ("items", "said"),
    [
        ({"step": 2, "service": 1, "parameter": 0}, "2 steps, 1 service"),
        ({"step": 0, "service": 1}, "1 service"),
        ({"step": 1, "parameter": 1}, "1 step, 1 parameter"),
        ({"step": 0}, "nothing"),
    ],
)
def test_counted_list(items: dict[str, int], said: str) -> None:
    assert counted_list(items) == said
