"""Lost executions: an active execution whose process died (SIGKILL, reboot) or stopped
answering becomes ``lost``, and whatever it started is stopped so nothing is left behind.

:func:`verdict` decides from what the store says (pure); :func:`reconcile` does the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.models import ExecutionState

if TYPE_CHECKING:
    from shipyard.operations.clock import Clock
    from shipyard.store.base import Store
    from shipyard.workspace import RunDir

#: A running execution whose heartbeat is older than this is taken for dead.
HEARTBEAT_TIMEOUT = 15.0


def verdict(
    state: ExecutionState | None,
    pid: int | None,
    heartbeat: float | None,
    *,
    alive: bool,
    now: float,
    timeout: float = HEARTBEAT_TIMEOUT,
) -> str | None:
    """Why the execution is lost (``"died"``, ``"stopped answering"``), or None when it is not:
    finished, not started yet (no process), or alive with a fresh heartbeat. ``alive``: is
    process ``pid`` still there (zombies count as dead)."""
    if state is None or state.finished or pid is None:
        return None
    stale = heartbeat is not None and now - heartbeat > timeout
    if alive and not stale:
        return None
    return "stopped answering" if alive else "died"


def reconcile(store: Store, run_dir: RunDir, execution_id: str, clock: Clock) -> None:
    """Mark ``execution_id`` lost if :func:`verdict` says so, after killing the process groups
    its spawn journal lists, the processes marked with its id and its cgroup."""
    from shipyard.engine.liveness import pid_alive

    state = store.execution_state(execution_id)
    if state is None or state.finished:
        return  # the common case, answered by one small query
    pid, heartbeat = store.supervisor(execution_id)
    alive = pid is not None and pid_alive(pid)
    why = verdict(state, pid, heartbeat, alive=alive, now=clock.now())
    if why is None:
        return
    started = _stop_leftovers(run_dir, execution_id)
    end_lost(
        store,
        run_dir,
        execution_id,
        reason=f"its process (pid {pid}) {why}; its running units were stopped "
        f"(shipyard resume {execution_id} runs what did not finish)",
        at=clock.now(),
        started=started,
    )


def end_lost(
    store: Store,
    run_dir: RunDir,
    execution_id: str,
    *,
    reason: str,
    at: float,
    started: tuple[str, ...],
) -> bool:
    """Mark an execution whose supervisor is gone lost, its journal read back first: False
    (not marked) when events.jsonl shows it did end (the store missed it: disk full). Also
    how a sweep's array ends a point whose task died (:mod:`shipyard.slurmarray`)."""
    from shipyard.recovery import recover, settle_attempts

    if recover(store, run_dir, execution_id):
        return False
    settle_attempts(store, run_dir, execution_id)  # what began and how it ended, if seen
    store.mark_lost(execution_id, reason=reason, at=at, started=started)
    return True


def _stop_leftovers(run_dir: RunDir, execution_id: str) -> tuple[str, ...]:
    """Kill what a lost execution started; returns the units that had started."""
    from shipyard.engine.containment import kill_recorded_cgroup  # only on this rare path
    from shipyard.engine.liveness import kill_marked, kill_orphaned_group

    # The spawn journal knows every process started, even those the store has not heard of.
    journal = run_dir.started()
    for child, started, _ in journal:
        kill_orphaned_group(child, started)
    marked = kill_marked(execution_id)  # what the journal missed, by its environment
    kill_recorded_cgroup(run_dir.root)  # and its cgroup
    if (run_dir.root / "slurm").is_dir():  # and its Slurm jobs (issue 16), by their job ids
        from shipyard.engine.runners.slurm import cancel_recorded_jobs

        cancel_recorded_jobs(run_dir.root)
    return tuple(
        {unit for _, _, unit in journal if not unit.startswith("_")} | {unit for _, unit in marked}
    )
