"""Cyclic collection is held off while a spec is read and its plan built (shipyard.gcpause):
at 10,000 steps it was about half of a cold plan's CPU. Counted, never timed: a collection
inside the build shows in gc.callbacks."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import shipyard
from shipyard.gcpause import collection_paused

STEPS = 2_000  # enough allocations for the youngest generation to be collected many times


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generation of every collection that starts while the test runs."""
    seen: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(count)
    try:
        yield seen
    finally:
        gc.callbacks.remove(count)
        gc.enable()


def large_spec(folder: Path) -> Path:
    lines = ["name: many", "steps:", *(f"  s{i}: {{run: [true]}}" for i in range(STEPS))]
    spec = folder / "many.yaml"
    spec.write_text("\n".join(lines) + "\n")
    return spec


@pytest.mark.parametrize(
    ("enabled_before", "raises", "enabled_after"),
    [
        (True, False, True),
        (True, True, True),  # on again even when the block raises
        (False, False, False),  # a caller that turned collection off keeps it off
        (False, True, False),
    ],
)
def test_collection_is_off_inside_and_as_it_was_after(
    collections: list[int], enabled_before: bool, raises: bool, enabled_after: bool
) -> None:
    (gc.enable if enabled_before else gc.disable)()
    with pytest.raises(ValueError) if raises else _nothing(), collection_paused():
        assert not gc.isenabled()
        if raises:
            raise ValueError("inside")
    assert gc.isenabled() is enabled_after


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


#: What the call does around the build (opening the store, the critical path) may still be
#: collected a few times; the build itself of STEPS steps was collected ~70 times.
AROUND_THE_BUILD = 5


@pytest.mark.parametrize(
    "call",
    [
        lambda ops, spec: ops.plan(str(spec)),
        lambda ops, spec: ops.validate(str(spec)),
    ],
    ids=["plan", "validate"],
)
def test_a_large_spec_is_read_and_planned_without_collections(
    tmp_path: Path, collections: list[int], call: Callable[[Any, Path], Any]
) -> None:
    ops = shipyard.connect(tmp_path / "home")
    small = tmp_path / "small.yaml"
    small.write_text("name: small\nsteps:\n  a: {run: [true]}\n")
    call(ops, small)  # the imports and the store's opening, which allocate plenty, done first
    spec = large_spec(tmp_path)
    gc.collect()
    collections.clear()
    result = call(ops, spec)
    assert len(collections) <= AROUND_THE_BUILD, f"{collections} collections for {STEPS} steps"
    assert gc.isenabled()
    assert result.steps == STEPS or len(result.steps) == STEPS
