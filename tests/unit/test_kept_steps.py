"""Which steps of an earlier run are kept (operations/kept.py): one rule for resume,
``run --resume-from`` and checkpoint restore."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pytest

from shipyard.operations.kept import Kept, kept_steps

# a → b → c, and d alone.
ORDER = ["a", "d", "b", "c"]
NEEDS: Mapping[str, Sequence[str]] = {"a": [], "b": ["a"], "c": ["b"], "d": []}


def same_except(*changed: str) -> Callable[[str], bool]:
    return lambda name: name not in changed


@pytest.mark.parametrize(
    ("succeeded", "changed", "expected"),
    [
        # Nothing succeeded before: nothing is kept, nothing changed.
        ([], (), Kept((), (), ())),
        # Everything succeeded and nothing changed: all kept, in the order given.
        (["a", "b", "c", "d"], (), Kept(("a", "d", "b", "c"), (), ())),
        # A changed step is not kept; the steps that need it are not kept either, but they
        # are not said to have changed (they were never compared): downstream.
        (["a", "b", "c", "d"], ("a",), Kept(("d",), ("a",), (), ("b", "c"))),
        (["a", "b", "c", "d"], ("b",), Kept(("a", "d"), ("b",), (), ("c",))),
        # A step whose dependency did not succeed before runs again (downstream), unchanged.
        (["a", "c"], (), Kept(("a",), (), (), ("c",))),
        # A step that succeeded but is no longer in the plan is gone (sorted).
        (["a", "z", "y"], (), Kept(("a",), (), ("y", "z"))),
    ],
)
def test_the_rule(succeeded: list[str], changed: tuple[str, ...], expected: Kept) -> None:
    assert kept_steps(ORDER, NEEDS, succeeded, same_except(*changed)) == expected


def test_unchanged_is_asked_only_when_the_dependencies_are_kept_and_once() -> None:
    asked: list[str] = []

    def unchanged(name: str) -> bool:
        asked.append(name)
        return name != "a"

    kept_steps(ORDER, NEEDS, ["a", "b", "c", "d"], unchanged)
    assert asked == ["a", "d"]  # b and c are not kept whatever their key: never hashed


@pytest.mark.parametrize(
    ("kept", "all_same"),
    [
        (Kept(("a",), (), ()), True),
        (Kept((), ("a",), ()), False),
        (Kept((), (), ("a",)), False),
        (Kept((), (), (), ("a",)), False),
    ],
)
def test_all_same(kept: Kept, all_same: bool) -> None:
    assert kept.all_same is all_same


@pytest.mark.parametrize(
    ("kept", "changed_part", "after_part"),
    [
        # Only the step whose key differs is named as changed; its dependants come apart.
        (Kept(("d",), ("a",), (), ("b", "c")), "changed): a;", "run again after them: b, c"),
        (Kept((), ("a",), ()), "changed): a", None),
        (Kept((), (), ("z",)), "changed): z (no longer in the spec)", None),
    ],
)
def test_the_refusal_names_only_changed_steps_as_changed(
    kept: Kept, changed_part: str, after_part: str | None
) -> None:
    from shipyard.operations.resuming import refusal_to_change

    error = refusal_to_change("exec_x", kept)
    assert error is not None
    assert changed_part in error.message
    if after_part is None:
        assert "run again after them" not in error.message
    else:
        assert after_part in error.message
