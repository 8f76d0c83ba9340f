"""Which steps of an earlier run are kept, so that only the rest runs again.

One rule for ``resume``, ``run --resume-from`` and ``checkpoint restore``: a step is kept when
it succeeded before, it is unchanged (the same cache key under the current spec; a checkpoint's
steps are the plan being restored, so nothing changed), and every step it needs is kept too — a
step run again upstream may change what a kept one would have read.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Kept:
    kept: tuple[str, ...]  # in the order given (dependencies first)
    changed: tuple[str, ...]  # succeeded before, but not the same step now (its cache key)
    gone: tuple[str, ...]  # succeeded before, no longer in the plan (sorted)
    #: Succeeded before, not kept because a step it needs is not: whether it changed itself
    #: was never asked (hashing its inputs would be wasted), so it is not named as changed.
    downstream: tuple[str, ...] = ()

    @property
    def all_same(self) -> bool:
        """Would every step that succeeded before be kept?"""
        return not self.changed and not self.gone and not self.downstream


def kept_steps(
    order: Sequence[str],
    needs: Mapping[str, Sequence[str]],
    succeeded: Collection[str],
    unchanged: Callable[[str], bool],
) -> Kept:
    """Apply the rule to the steps of ``order`` (a topological order: every step after the
    steps it needs). ``unchanged`` is asked only about a step whose dependencies are all kept,
    and at most once: it may be costly (a cache key hashes the step's input files)."""
    kept: dict[str, None] = {}  # ordered, and a quick `in` for the dependencies
    changed: list[str] = []
    downstream: list[str] = []
    for name in order:
        if name not in succeeded:
            continue
        if not all(dep in kept for dep in needs.get(name, ())):
            downstream.append(name)
        elif unchanged(name):
            kept[name] = None
        else:
            changed.append(name)
    gone = sorted(set(succeeded) - set(order))
    return Kept(tuple(kept), tuple(changed), tuple(gone), tuple(downstream))
