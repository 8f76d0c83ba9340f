"""Counted nouns for messages: "1 step", "2 steps", "no steps" — never "1 items" (issue 11 §21).

Pure and import-free: the CLI's fast paths use it."""

from __future__ import annotations

#: Nouns whose plural is not the noun + "s".
_IRREGULAR = {"child": "children", "process": "processes", "this": "these", "is": "are"}


def plural(word: str, count: int) -> str:
    """``word`` as ``count`` of it needs: "step" → "steps" unless count is 1 (or -1)."""
    if abs(count) == 1:
        return word
    return _IRREGULAR.get(word, word + "s")


def counted(count: int, word: str) -> str:
    """ "1 step", "3 steps", "0 steps"."""
    return f"{count} {plural(word, count)}"


def counted_list(items: dict[str, int]) -> str:
    """The non-zero counts, in order: ``{"step": 2, "service": 1, "parameter": 0}`` → "2 steps,
    1 service"; "nothing" when every count is zero."""
    parts = [counted(count, word) for word, count in items.items() if count]
    return ", ".join(parts) or "nothing"
