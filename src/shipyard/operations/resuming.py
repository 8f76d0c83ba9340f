"""Running an execution again: ``resume`` (the same execution), ``run --resume-from`` (a new
one reusing an earlier one's successes) and ``checkpoint restore``. Which steps are kept is
:func:`shipyard.operations.kept.kept_steps`; this module checks and records."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError
from shipyard.models import Event, ExecutionState, ExecutionStatus, UnitState
from shipyard.operations.kept import Kept, kept_steps
from shipyard.workspace import RunDir, write_private

if TYPE_CHECKING:
    from shipyard.plan.model import Plan
    from shipyard.store.base import Store


def refusal_to_resume(status: ExecutionStatus) -> ShipyardError | None:
    """Why ``status`` cannot be resumed (still running, or nothing left to do), or None."""
    if not status.state.finished:
        return ShipyardError(
            f"execution {status.id} is still {status.state.value}",
            hint=f"stop it first (shipyard stop {status.id}) or wait for it",
        )
    if status.state == ExecutionState.SUCCEEDED:
        return ShipyardError(
            f"execution {status.id} succeeded: there is nothing to resume",
            hint="to run it again: shipyard run SPEC",
        )
    return None


def by_cache_key(plan: Plan, old_keys: Mapping[str, str]) -> Kept:
    """The rule against an earlier run's cache keys: unchanged means the same key now."""
    from shipyard.engine.cachekey import step_key

    return kept_steps(
        [name for stage in plan.stages for name in stage],
        {step.name: step.needs for step in plan.steps},
        old_keys,
        lambda name: step_key(plan.step(name)) == old_keys[name],
    )


def from_checkpoint(plan: Plan, units: Mapping[str, str]) -> Kept:
    """The rule against a checkpoint's unit states: its plan is the one restored, so every
    step that had succeeded is unchanged."""
    succeeded = {unit for unit, state in units.items() if state == UnitState.SUCCEEDED.value}
    return kept_steps(
        [name for stage in plan.stages for name in stage],
        {step.name: step.needs for step in plan.steps},
        succeeded,
        lambda _: True,
    )


def refusal_to_change(execution_id: str, kept: Kept) -> ShipyardError | None:
    """Resuming must not silently run different steps: the error when some would be."""
    if kept.all_same:
        return None
    what = ", ".join([*kept.changed, *(f"{name} (no longer in the spec)" for name in kept.gone)])
    # Only the steps found changed are named as changed; those that would run again only
    # because a step they need does were never compared, and are said apart.
    after = (
        f"; run again after them: {', '.join(kept.downstream)} (they need a step not kept)"
        if kept.downstream
        else ""
    )
    return ShipyardError(
        f"cannot resume {execution_id}: steps that succeeded would not be the same steps "
        f"now (their command, environment, parameters or inputs changed): {what or 'none'}"
        f"{after}",
        hint="--force runs them again with the current spec; or start afresh with shipyard run",
    )


def snapshot_spec(
    run_dir: RunDir, spec_path: Path, plan: Plan, now: float, *, text: str | None = None
) -> str:
    """The spec and plan a resumed execution runs with, written to its folder (an earlier,
    different snapshot is kept beside it). Returns the spec's text (``text``: the text it was
    planned from, when that is not ``spec_path``'s)."""
    from shipyard.operations.plans import save_plan

    if text is None:
        text = spec_path.read_text(encoding="utf-8")
    snapshot = run_dir.root / "spec.yaml"
    if snapshot.exists() and snapshot.read_text(encoding="utf-8") != text:
        snapshot.rename(run_dir.root / f"spec.before-resume-{int(now)}.yaml")
    write_private(snapshot, text)
    save_plan(run_dir, plan)
    return text


def mark_reused(
    store: Store,
    run_dir: RunDir,
    execution_id: str,
    kept: Kept,
    source: str,
    keys: Mapping[str, str],
    now: float,
) -> None:
    """Record the steps ``run --resume-from`` keeps as succeeded, each with its cache key and a
    ``unit_reused`` event, before the engine starts (it then takes them as done)."""
    why = f"reused from {source} (same cache key)"
    _keep(store, run_dir, execution_id, kept, source, why, keys, now, [])


def mark_restored(
    store: Store,
    run_dir: RunDir,
    execution_id: str,
    kept: Kept,
    checkpoint: str,
    keys: Mapping[str, str],
    now: float,
) -> None:
    """Record the steps a restore keeps as succeeded, with the cache keys they had
    (``keys``: of the checkpointed execution; its plan is the one restored, so a ``resume``
    keeps them too), and that it came from ``checkpoint``."""
    restored = Event(now, execution_id, "restored_from_checkpoint", None, {"id": checkpoint})
    why = f"done before {checkpoint}"
    _keep(store, run_dir, execution_id, kept, checkpoint, why, keys, now, [restored])


def _keep(
    store: Store,
    run_dir: RunDir,
    execution_id: str,
    kept: Kept,
    source: str,
    why: str,
    keys: Mapping[str, str],
    now: float,
    also: list[Event],
) -> None:
    """The kept steps as succeeded, each with a ``unit_reused`` event carrying its reason and
    cache key, written to the run's journal (fsynced) before the store commits them, as the
    engine's recorder does: ``store rebuild`` replays the journal, and a step kept only in the
    store came back pending, keyless (``resume`` ran it again). Nothing is recorded when the
    journal cannot take it."""
    from shipyard.engine.recorder import journal_durably

    events = [
        Event(
            now,
            execution_id,
            "unit_reused",
            name,
            {"from": source, "reason": why} | ({"cache_key": keys[name]} if name in keys else {}),
        )
        for name in kept.kept
    ]
    events += also
    if not events:
        return
    try:
        journal_durably(run_dir.events, events)
    except OSError as error:
        raise ShipyardError(
            f"cannot write the steps kept from {source} into {run_dir.events}: "
            f"{error.strerror or error}; execution {execution_id} was not started",
            hint="free space or fix the run folder's permissions, then run it again",
        ) from None
    with store.transaction():
        for name in kept.kept:
            store.update_unit(
                execution_id, name, state=UnitState.SUCCEEDED, reason=why, cache_key=keys.get(name)
            )
        store.append_events(events)


def plan_again(
    plan_of: Callable[..., Plan], status: ExecutionStatus, run_dir: RunDir
) -> tuple[Plan, Path, str | None]:
    """The plan a resumed execution runs: its spec now (or its snapshot, if the file is gone)
    with its own parameters, mode and settings; the spec file it came from; and the text it was
    planned from when that is not the file's (None: the file's).
    ``plan_of``: :meth:`LocalOperations.plan` (through the plan cache)."""
    import dataclasses

    from shipyard.operations.plans import load_plan

    before = load_plan(run_dir)
    spec_path = Path(status.spec_path) if status.spec_path else None
    text = None
    if status.pipeline is not None and spec_path is not None:
        # A registered pipeline ran the text kept in the store (edited since it was added,
        # perhaps), named by the file it was added from: the same text again, from the
        # snapshot, still named by that file so its relative paths mean what they meant.
        text = (run_dir.root / "spec.yaml").read_text(encoding="utf-8")
    elif spec_path is None or not spec_path.exists():
        spec_path = run_dir.root / "spec.yaml"  # the file is gone: its snapshot
    plan = plan_of(
        spec_path,
        status.parameters,
        spec_text=text,
        mode=before.mode,
        max_parallel=before.max_parallel,
    )
    # Brought up with `up`: still so.
    return dataclasses.replace(plan, stay_up=before.stay_up), spec_path, text
