"""What the store is told of a Slurm job array's points, by the sweep, by a task and by
``shipyard stop``: a point running once its task starts (:func:`mark_started`), an execution
whose supervisor is gone or never ran ended as a lost one is (:func:`end_unstarted`), and a
point whose task is still queued stopped by cancelling that task (:func:`cancel_queued`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.models import ExecutionState
from shipyard.slurmarray.jobs import scancel_quietly

if TYPE_CHECKING:
    from shipyard.operations.clock import Clock
    from shipyard.store.base import Store
    from shipyard.workspace import RunDir

__all__ = ["cancel_queued", "end_unstarted", "mark_started", "queued_task"]


def mark_started(store: Store, sweep_id: str, execution_id: str, *, at: float) -> None:
    """The sweep point run by ``execution_id`` is running since ``at`` — unless it already
    reads running (or ended). Called by the task as it starts, so `sweep status` says running
    as soon as the point's work can have begun, and by the sweep's poll, which notices later
    (a task that died before it could say so)."""
    for point in store.sweep_point_rows(sweep_id):
        if point["execution_id"] == execution_id and point["state"] == "pending":
            store.update_sweep_point(
                sweep_id, point["point_hash"], point["repeat"], state="running", started_at=at
            )


def end_unstarted(
    store: Store,
    run_dir: RunDir,
    execution_id: str,
    state: ExecutionState,
    reason: str,
    clock: Clock,
) -> None:
    """End an execution whose supervisor is gone (or never ran) as a lost one is ended
    (:func:`shipyard.operations.reconcile.end_lost`: its journal read back first, so a step
    that succeeded before the task died stays succeeded and is not run again by ``resume``;
    what was running cancelled), what never started skipped, and the execution ``state``
    with ``reason``. An execution its journal shows ended keeps that end."""
    from shipyard.models import UnitState
    from shipyard.operations.reconcile import end_lost

    execution = store.get_execution(execution_id)
    if execution is None or execution.state.finished:
        return
    now = clock.now()
    # The spawn journal knows a unit that started before the store heard of it.
    started = tuple({unit for _, _, unit in run_dir.started()})
    if not end_lost(store, run_dir, execution_id, reason=reason, at=now, started=started):
        return
    execution = store.get_execution(execution_id) or execution
    for unit in execution.units:
        if unit.state == UnitState.PENDING and unit.name not in started:
            store.update_unit(
                execution_id, unit.name, state=UnitState.SKIPPED, ended_at=now, reason=reason
            )
    store.update_execution(execution_id, state=state, ended_at=now, reason=reason)


def queued_task(run_root: Path) -> tuple[str, str] | None:
    """The array task (``12_3``) and SLURM_CONF noted in a point's ``slurm/jobs``, if the
    execution is a sweep point of an array (its job named ``shipyard.<sweep>.array``)."""
    try:
        lines = (run_root / "slurm" / "jobs").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        words = line.split(" ", 2)
        if len(words) == 3 and words[1].endswith(".array") and "_" in words[0]:
            return words[0], words[2]
    return None


def cancel_queued(store: Store, run_dir: RunDir, execution_id: str, clock: Clock) -> bool:
    """``shipyard stop`` of a sweep point whose array task is still queued (no supervisor
    yet): ``scancel`` that task and end the execution ``cancelled`` now, rather than wait
    for a supervisor that is not there. False when it is no array task's point."""
    noted = queued_task(run_dir.root)
    if noted is None:
        return False
    job_id, conf = noted
    scancel_quietly(job_id, conf)
    end_unstarted(
        store,
        run_dir,
        execution_id,
        ExecutionState.CANCELLED,
        f"stopped by `shipyard stop` while its Slurm array task {job_id} was queued "
        "(the task was cancelled)",
        clock,
    )
    return True
