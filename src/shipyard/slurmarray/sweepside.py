"""The sweep process's side of a Slurm job array: :func:`drive_array` prepares the sweep's
pending points (held: nothing runs), submits them as one array (:mod:`.jobs`), follows its
tasks to their end with the Slurm runner's batched ``squeue`` poll, records each point as the
sweep records any point, and stops the array when the sweep is stopped."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState
from shipyard.slurmarray.decisions import cancelled_in_queue, job_ids_of, task_outcome
from shipyard.slurmarray.jobs import (
    REFUSED,
    array_folder,
    cancel_array,
    submit_array,
    task_command,
)
from shipyard.slurmarray.points import end_unstarted, mark_started

if TYPE_CHECKING:
    from shipyard.engine.containment import Containment
    from shipyard.engine.runners.slurm import SlurmExit, SlurmHandle, SlurmRunner
    from shipyard.sweep import SweepSettings
    from shipyard.sweeprun import SweepHost

__all__ = ["drive_array"]

#: How often the follow loop looks at the store (a stop request) and beats
TICK = 0.25
HEARTBEAT_EVERY = 1.0
#: How long a stopped array's running tasks have to stop their points before Slurm cancels them
STOP_GRACE = 30.0


@dataclass(slots=True)
class _Task:
    point: dict[str, Any]
    execution_id: str
    handle: SlurmHandle | None = None
    started: bool = False  # its point recorded running


def drive_array(host: SweepHost, sweep_id: str) -> None:
    """Run the sweep's pending points as one job array and follow it to its end."""
    from shipyard.sweep import settings_from_json
    from shipyard.sweeppoints import cancel_pending, failed_points

    row = host.store.sweep_row(sweep_id)
    if row is None:
        raise ShipyardError(f"there is no sweep '{sweep_id}'")
    settings = settings_from_json(row["settings"])
    by_name = row["pipeline"] is not None
    spec = row["pipeline"] if by_name else row["spec_path"]
    spec_text = None if by_name else row["spec_text"]
    folder = array_folder(host.workspace, sweep_id)
    tasks: list[_Task] = []
    try:
        for point in host.store.sweep_point_rows(sweep_id):
            if point["state"] != "pending":
                continue  # kept from a resumed sweep
            held = host.run(spec, point["parameters"], spec_text=spec_text, hold=True)
            tasks.append(_Task(point, held.id))
        if tasks and not host.store.sweep_stop_requested(sweep_id):
            array_id = _submit(host, sweep_id, folder, tasks, settings, row)
            asyncio.run(_follow(host, sweep_id, array_id, tasks, folder))
    except BaseException as error:
        # No task may run on behind a sweep that ends (Ctrl-C, a refused sbatch).
        cancel_array(host.workspace, sweep_id)
        why = error.message if isinstance(error, ShipyardError) else "interrupted"
        for task in tasks:
            _end_unstarted(host, task.execution_id, ExecutionState.CANCELLED, why)
            _record(host, sweep_id, task, None)
        cancel_pending(host, sweep_id, why)
        state = "failed" if isinstance(error, ShipyardError) else "cancelled"
        host.store.end_sweep(sweep_id, state, reason=why, at=host.clock.now())
        raise
    cancel_pending(host, sweep_id, "the sweep was stopped")
    points = host.store.sweep_point_rows(sweep_id)
    failed = sum(p["state"] == "failed" for p in points)
    if host.store.sweep_stop_requested(sweep_id):
        state, reason = "cancelled", "stopped by shipyard sweep stop"
    elif failed:
        state, reason = "failed", failed_points(failed, len(points))
    else:
        state, reason = "succeeded", None
    host.store.end_sweep(sweep_id, state, reason=reason, at=host.clock.now())


def _submit(
    host: SweepHost,
    sweep_id: str,
    folder: Path,
    tasks: list[_Task],
    settings: SweepSettings,
    row: Mapping[str, Any],
) -> str:
    from shipyard.plan.placement import _slurm
    from shipyard.spec.loader import load_spec_text

    # The spec's top-level slurm: settings are the array job's (a unit's own are not).
    path = Path(row["spec_path"]) if row["spec_path"] else None
    common = _slurm(load_spec_text(row["spec_text"], path).spec.slurm, None)
    job_name = f"shipyard.{sweep_id}.array"
    array_id = submit_array(
        folder,
        [task.execution_id for task in tasks],
        settings=common,
        throttle=settings.max_parallel_runs,
        job_name=job_name,
        command=task_command(host.workspace.home, folder),
    )
    conf = os.environ.get("SLURM_CONF", "-")
    for task, job_id in zip(tasks, job_ids_of(array_id, len(tasks)), strict=True):
        # Noted in the run folder as the Slurm runner notes a job: a lost point is cancelled,
        # and `shipyard stop` of a point still queued cancels its task (cancel_queued).
        slurm_folder = host.workspace.run_dir(task.execution_id).root / "slurm"
        slurm_folder.mkdir(mode=0o700, exist_ok=True)
        with open(slurm_folder / "jobs", "a", encoding="utf-8") as jobs:
            jobs.write(f"{job_id} {job_name} {conf}\n")
        # Still pending (queued): it is `running` once its task starts (_follow).
        host.store.update_sweep_point(
            sweep_id, task.point["point_hash"], task.point["repeat"], execution_id=task.execution_id
        )
    return array_id


async def _follow(
    host: SweepHost, sweep_id: str, array_id: str, tasks: list[_Task], folder: Path
) -> None:
    """Until every task ended in Slurm: one batched squeue per tick for all of them (the
    runner's poll), the store read for a stop request, the sweep's heartbeat."""
    from shipyard.engine.runners.slurm import SlurmRunner

    # The runner submits nothing here, it only follows: it never needs a containment.
    runner = SlurmRunner(cast("Containment", None), folder)
    waiting: dict[asyncio.Future[Any], _Task] = {}
    for task, job_id in zip(tasks, job_ids_of(array_id, len(tasks)), strict=True):
        log = host.workspace.run_dir(task.execution_id).root / "supervisor.log"
        task.handle = runner.follow(job_id, task.execution_id, str(log))
        waiting[task.handle.exited] = task
    cancelled: set[str] = set()  # queued tasks the stop cancelled by their id
    stopping: float | None = None  # when the stop began (monotonic)
    beat = 0.0
    try:
        while waiting:
            done, _ = await asyncio.wait(list(waiting), timeout=TICK)
            for future in done:
                task, end = waiting.pop(future), future.result()
                # Cancelled in the queue by the stop below, or by `shipyard stop` of its point.
                stopped = host.store.execution_state(task.execution_id) == ExecutionState.CANCELLED
                if task.handle is not None and (task.handle.job_id in cancelled or stopped):
                    end = cancelled_in_queue(end)
                _record(host, sweep_id, task, end, folder)
            _note_started(host, sweep_id, waiting.values())
            if stopping is None and host.store.sweep_stop_requested(sweep_id):
                stopping = time.monotonic()
                cancelled = await _stop(host, runner, list(waiting.values()))
            elif stopping is not None and time.monotonic() - stopping > STOP_GRACE:
                stopping = float("inf")  # once: whatever still runs, Slurm ends it
                await runner.ascancel(array_id)
                runner.wake()
            now = time.monotonic()
            if now - beat >= HEARTBEAT_EVERY:
                beat = now
                host.store.sweep_heartbeat(sweep_id, at=host.clock.now())
    finally:
        await runner.aclose()


async def _stop(host: SweepHost, runner: SlurmRunner, tasks: list[_Task]) -> set[str]:
    """Stop the array: its tasks still queued cancelled (one scancel), its running ones'
    supervisors sent SIGTERM alone (``--batch``, a second one), a stop recorded for them
    first, so each stops its units as `shipyard stop` would and its execution ends ``cancelled`` —
    Slurm's own cancel would signal every process of the task at once, the units racing
    their supervisor. Past :data:`STOP_GRACE` the follow loop cancels what is left. Returns
    the queued tasks cancelled (:func:`cancelled_in_queue`)."""
    now = host.clock.now()
    for task in tasks:
        host.store.request_stop(task.execution_id, force=False, grace=0.0, at=now)
    # By task id (``12_3``), only those still queued: `scancel <array>` would signal the
    # running ones' every process too.
    queued = [
        t.handle.job_id for t in tasks if t.handle is not None and t.handle.state == "PENDING"
    ]
    running = [
        t.handle.job_id for t in tasks if t.handle is not None and t.handle.state != "PENDING"
    ]
    if queued:
        await runner.ascancel(*queued)
    if running:
        await runner.ascancel("--batch", "--signal=TERM", *running)
    runner.wake()
    return set(queued)


def _note_started(host: SweepHost, sweep_id: str, tasks: Iterable[_Task]) -> None:
    """Points whose task Slurm shows started (no longer PENDING) are recorded running, if
    the task did not record it itself (:func:`mark_started`, the moment it began: kept)."""
    begun = [
        task
        for task in tasks
        if not task.started and task.handle is not None and task.handle.state != "PENDING"
    ]
    for task in begun:
        task.started = True
        mark_started(host.store, sweep_id, task.execution_id, at=host.clock.now())


def _refused(folder: Path | None, task: _Task) -> str | None:
    """Why the task refused to run its point (:func:`node_refusal`), if it did."""
    if folder is None or task.handle is None:
        return None
    index = task.handle.job_id.rsplit("_", 1)[-1]
    try:
        return (folder / REFUSED.format(index=index)).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _record(
    host: SweepHost, sweep_id: str, task: _Task, end: SlurmExit | None, folder: Path | None = None
) -> None:
    """The task is over: end its execution if it did not (with Slurm's reason, or the task's
    own refusal), then record the point as the sweep records any point."""
    from shipyard.sweeppoints import record_end

    state = host.store.execution_state(task.execution_id)
    outcome = task_outcome(end, state) if end is not None else None
    refused = _refused(folder, task)
    if outcome is not None and refused is not None:
        outcome = dataclasses.replace(outcome, reason=refused)
    if outcome is not None and outcome.execution_state is not None:
        _end_unstarted(host, task.execution_id, outcome.execution_state, outcome.reason)
    status = host.status(task.execution_id)
    record_end(host, sweep_id, task.point, status, timed_out=False)
    if outcome is not None and outcome.point_state is not None:
        host.store.update_sweep_point(
            sweep_id,
            task.point["point_hash"],
            task.point["repeat"],
            state=outcome.point_state,
            reason=outcome.reason,
        )


def _end_unstarted(host: SweepHost, execution_id: str, state: ExecutionState, reason: str) -> None:
    end_unstarted(
        host.store, host.workspace.run_dir(execution_id), execution_id, state, reason, host.clock
    )
