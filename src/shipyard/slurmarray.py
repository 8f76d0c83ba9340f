"""A sweep as one Slurm job array (issue 16 §3: "sweeps as job arrays").

``shipyard sweep SPEC -m … --slurm-array`` (or ``slurm_array: true`` in the spec's ``sweep:``
block) prepares every pending point as an execution of its own (its record and run folder,
held: nothing runs yet), then submits ONE ``sbatch --array=0-(N-1)%K`` job, ``K`` being
``max_parallel_runs``. Task ``i`` runs point ``i``'s execution on its node, in the foreground,
by the same entry a detached supervisor drives a prepared execution with
(:func:`shipyard.supervisor.drive` of the run folder's ``plan.json``): ``python -m
shipyard.slurmarray HOME FOLDER`` (:func:`main`), where the point's units run with the local
runner of that node (a ``runner: slurm`` unit too: it is already in its Slurm job).

The home's store is SQLite in WAL mode, which needs every process that opens it on ONE host:
over a shared file system from several hosts it corrupts. So a task runs only on the host
that submitted the sweep (recorded in ``array/host``): a task that starts on another node
ends at once without opening the store (:func:`node_refusal`), its point failed with why.

The array's files are under the sweep's folder ``HOME/sweeps/<sweep id>/array/``: ``tasks``
(execution id of task i on line i), ``array.sh`` (the batch script), ``job`` (the array's job
id and the SLURM_CONF it was submitted with), ``host`` (the submitting host), ``refused-<i>``
(why task i refused to run, if it did), ``task-<i>.log`` (what a task printed before its
execution's ``supervisor.log`` took over). Each point's run folder notes its task
(``slurm/jobs``: ``<array>_<i>``), so that recovery of a lost point cancels it, and so
that ``shipyard stop`` of a point still queued cancels its task (:func:`cancel_queued`). A
point stays ``pending`` until its task starts.

The sweep process follows the tasks with the Slurm runner's own batched ``squeue`` poll
(:meth:`shipyard.engine.runners.slurm.SlurmRunner.follow`). A task that ends leaves its
point's execution as the execution recorded it; one that ends without the execution having
finished (cancelled while PENDING, ``TIMEOUT``, ``NODE_FAIL``, ``OUT_OF_MEMORY``…) gets it
ended with Slurm's end mapped as the runner maps a job's (:func:`task_outcome`). A stop of
the sweep cancels the array's queued tasks with one ``scancel`` and has
the running ones stop their points (:func:`_stop`).

The decisions (the ``--array`` range, the ``sbatch`` argv, what a task's end means, the
refusals) are pure functions, tested with tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState

if TYPE_CHECKING:
    from shipyard.engine.containment import Containment
    from shipyard.engine.runners.slurm import SlurmExit, SlurmHandle, SlurmRunner
    from shipyard.operations.clock import Clock
    from shipyard.plan.model import SlurmSettings
    from shipyard.spec.models import Spec
    from shipyard.spec.yamlsource import SourceMap
    from shipyard.store.base import Store
    from shipyard.sweep import SweepReport, SweepSettings
    from shipyard.sweeprun import SweepHost
    from shipyard.workspace import RunDir, Workspace

__all__ = [
    "TaskOutcome",
    "array_argv",
    "array_range",
    "array_refusal",
    "cancel_array",
    "cancel_queued",
    "cancelled_in_queue",
    "drive_array",
    "end_unstarted",
    "job_ids_of",
    "main",
    "node_refusal",
    "submit_array",
    "task_outcome",
    "with_jobs",
]

#: The flag and the spec key that ask for an array, as errors name them
ASKED = "--slurm-array (slurm_array: true in sweep:)"
#: How often the follow loop looks at the store (a stop request) and beats
TICK = 0.25
HEARTBEAT_EVERY = 1.0
#: How long a stopped array's running tasks have to stop their points before Slurm cancels them
STOP_GRACE = 30.0


# -- decisions (no I/O) ---------------------------------------------------------------------


def array_range(count: int, throttle: int) -> str:
    """``sbatch --array``'s value for ``count`` tasks, at most ``throttle`` running at once:
    ``0-3%2``; no ``%`` when the throttle does not limit anything."""
    if count < 1:
        raise ValueError(f"an array of {count} tasks")
    if throttle < 1:
        raise ValueError(f"a throttle of {throttle}")
    indices = f"0-{count - 1}"
    return f"{indices}%{throttle}" if throttle < count else indices


def array_argv(
    settings: SlurmSettings,
    *,
    count: int,
    throttle: int,
    job_name: str,
    folder: Path,
    script: Path,
) -> list[str]:
    """The ``sbatch`` of the array: the Slurm runner's own command line for a job
    (:func:`~shipyard.engine.runners.slurm.sbatch_argv`, so the spec's top-level ``slurm:``
    partition, time, nodes, ntasks, account and extra words apply to every task), with
    ``--array`` and an output file per task."""
    from shipyard.engine.runners.slurm import sbatch_argv

    argv = sbatch_argv(
        settings,
        job_name=job_name,
        workdir=str(folder),
        log_path=str(folder / "task-%a.log"),
        script=str(script),
    )
    argv.insert(2, f"--array={array_range(count, throttle)}")
    return argv


def task_script(command: Sequence[str]) -> str:
    """The array's batch script: one ``exec`` of ``command`` (every word quoted), so the
    task's signals (scancel, the time limit) reach the execution's supervisor itself."""
    return (
        "#!/bin/sh\n# written by shipyard: task $SLURM_ARRAY_TASK_ID runs its sweep point\n"
        f"exec {shlex.join(command)}\n"
    )


def job_ids_of(array_id: str, count: int) -> list[str]:
    """The task ids squeue shows (``12_0`` … ``12_<count-1>``), task i being point i."""
    return [f"{array_id}_{index}" for index in range(count)]


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """How a point's execution is ended by the sweep, its task being over in Slurm: its
    state and reason (Slurm's end in the runner's words), and the sweep point's."""

    execution_state: ExecutionState | None  # None: the execution's own end stands
    point_state: str | None  # None: the execution's end decides (record_end)
    reason: str


def task_outcome(end: SlurmExit, execution: ExecutionState | None) -> TaskOutcome | None:
    """What a task's end in Slurm means for its point (None: nothing to add, the execution
    ended and said how). A task ends only once its execution's supervisor has exited, so an
    execution not finished by then never will: it ends ``cancelled`` if Slurm cancelled the
    task (``scancel``, a stop), else ``failed``, with Slurm's reason. An execution that did
    finish keeps its record, but a task that Slurm ended in a failure of its own
    (``TIMEOUT``: the supervisor stopped its units on Slurm's SIGTERM) fails the point with
    Slurm's reason rather than reading as a user's stop."""
    reason = end.describe()
    if execution is None or not execution.finished:
        state = ExecutionState.CANCELLED if end.state == "CANCELLED" else ExecutionState.FAILED
        return TaskOutcome(state, None, reason)
    if end.state in ("COMPLETED", "CANCELLED", "FAILED") or execution == ExecutionState.SUCCEEDED:
        return None
    return TaskOutcome(None, "failed", reason)


def cancelled_in_queue(end: SlurmExit) -> SlurmExit:
    """The end of a queued task the sweep cancelled by its id. Slurm then lists it no more
    as a task of its own (squeue shows the array's cancelled remainder as one row), so the
    poll ends it unknown, "no longer known to squeue": it was cancelled, as Slurm's
    cancelled-while-pending job reads (signal TERM, never a success)."""
    if end.state != "UNKNOWN":
        return end
    return dataclasses.replace(
        end, exit_code=None, signal="TERM", state="CANCELLED", reason="cancelled while queued"
    )


def node_refusal(node: str, home_host: str | None) -> str | None:
    """Why an array task on ``node`` must not open the store of a sweep submitted on
    ``home_host`` (None: it may). SQLite's WAL mode needs every process on one host: over a
    shared file system from another host it corrupts the store. A host named with and
    without its domain is one host; no recorded host (an older array) is not checked."""
    if home_host is None or node == home_host or node.split(".")[0] == home_host.split(".")[0]:
        return None
    return (
        f"array tasks run on this machine's nodes only: node {node} is not {home_host}, "
        "where the sweep's SQLite home lives (SQLite cannot be shared by several hosts), "
        "so this task did not run its point; run the sweep without --slurm-array, or "
        f"restrict the partition to this host with slurm: {{extra: [--nodelist={home_host}]}}"
    )


def array_refusal(
    spec: Spec,
    source: SourceMap | None,
    settings: SweepSettings,
    *,
    which: Callable[[str], str | None],
) -> ShipyardError | None:
    """Why this sweep cannot be a Slurm job array (None: it can). ``which``: finds a
    program on PATH (:func:`shutil.which`)."""
    from shipyard.engine.runners.slurm import INSTALL_HINT

    if which("sbatch") is None:
        return ShipyardError(
            f"{ASKED}: sbatch is not on PATH, so no job array can be submitted",
            hint=INSTALL_HINT,
        )

    def where(*path: str | int) -> str:
        location = source.locate(path, key=True) if source is not None else None
        return f"{location}: " if location is not None else ""

    if spec.services:
        first = next(iter(spec.services))
        return ShipyardError(
            f"{where('services', first)}service '{first}' cannot run in a Slurm job array: "
            "an array task runs its point's steps to completion and ends",
            hint="sweep a spec of steps only, or sweep it without --slurm-array",
        )
    for name, parameter in spec.parameters.items():
        if parameter.secret:
            return ShipyardError(
                f"{where('parameters', name)}parameter '{name}' is secret: an array task could "
                "not receive it (Shipyard never writes a secret to a file)",
                hint="sweep it without --slurm-array, where each point gets it in memory",
            )
    if settings.timeout_per_run is not None:
        return ShipyardError(
            f"timeout_per_run (--timeout-per-run) with {ASKED}: Slurm enforces a task's limit",
            hint="give the tasks a Slurm time limit instead: slurm: {time: 30} at the spec's "
            "top level (a task past it ends TIMEOUT, its point failed)",
        )
    if settings.failure_threshold is not None:
        return ShipyardError(
            f"failure_threshold (--failure-threshold) with {ASKED}: every task of an array is "
            "queued at once, so there is no later point to hold back",
            hint="sweep without --slurm-array to stop starting points past a threshold",
        )
    return None


def check_array(spec: Spec, source: SourceMap | None, settings: SweepSettings) -> None:
    """Raise :func:`array_refusal`'s error, if there is one."""
    refusal = array_refusal(spec, source, settings, which=shutil.which)
    if refusal is not None:
        raise refusal


# -- submitting -----------------------------------------------------------------------------


#: In the array's folder: the host that submitted it; ``refused-<i>``: why task i did not run
HOST_FILE = "host"
REFUSED = "refused-{index}"


def array_folder(workspace: Workspace, sweep_id: str) -> Path:
    return workspace.home / "sweeps" / sweep_id / "array"


def task_command(home: Path, folder: Path) -> list[str]:
    """What task i runs: this interpreter's :func:`main` for the sweep's folder."""
    return [sys.executable, "-m", "shipyard.slurmarray", str(home), str(folder)]


def submit_array(
    folder: Path,
    executions: Sequence[str],
    *,
    settings: SlurmSettings,
    throttle: int,
    job_name: str,
    command: Sequence[str],
    env: Mapping[str, str] | None = None,
) -> str:
    """Write the array's files in ``folder`` and submit it; its job id (also in
    ``folder/job``). ``command``: what each task runs (it finds its execution in ``tasks``
    by ``SLURM_ARRAY_TASK_ID``)."""
    from shipyard.engine.runners.slurm import INSTALL_HINT, _explain

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    (folder / "tasks").write_text("".join(f"{e}\n" for e in executions), encoding="utf-8")
    # The host whose SQLite store the tasks may open: this one (node_refusal).
    (folder / HOST_FILE).write_text(socket.gethostname() + "\n", encoding="utf-8")
    script = folder / "array.sh"
    script.write_text(task_script(command), encoding="utf-8")
    script.chmod(0o700)
    argv = array_argv(
        settings,
        count=len(executions),
        throttle=throttle,
        job_name=job_name,
        folder=folder,
        script=script,
    )
    environ = dict(os.environ if env is None else env)
    try:
        done = subprocess.run(
            argv, env=environ, capture_output=True, text=True, check=False, timeout=120
        )
    except FileNotFoundError:
        raise ShipyardError(f"{ASKED}: sbatch is not on PATH", hint=INSTALL_HINT) from None
    except subprocess.TimeoutExpired:
        raise ShipyardError(
            "sbatch did not answer within 120 s", hint="is slurmctld up and reachable?"
        ) from None
    if done.returncode != 0:
        hint = "the cluster's MaxArraySize (slurm.conf) limits a job array's tasks"
        extra = f" ({hint})" if "array" in done.stderr.lower() else ""
        raise ShipyardError(_explain("sbatch", done) + extra)
    array_id = done.stdout.strip().split(";")[0]
    if not array_id:
        raise ShipyardError(f"sbatch said nothing of the array it submitted ({done.stderr})")
    conf = environ.get("SLURM_CONF", "-")
    (folder / "job").write_text(f"{array_id} {conf}\n", encoding="utf-8")
    return array_id


def recorded_array(folder: Path) -> tuple[str, str] | None:
    """The array's job id and SLURM_CONF (``-``: none), if one was submitted."""
    try:
        words = (folder / "job").read_text(encoding="utf-8").split()
    except OSError:
        return None
    return (words[0], words[1]) if len(words) == 2 else None


def cancel_array(workspace: Workspace, sweep_id: str) -> str | None:
    """``scancel`` the sweep's array (every task, pending or running); its id, if it has one.
    Quiet: a stop must go on whatever Slurm answers."""
    recorded = recorded_array(array_folder(workspace, sweep_id))
    if recorded is None:
        return None
    array_id, conf = recorded
    env = dict(os.environ)
    if conf != "-":
        env["SLURM_CONF"] = conf
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(["scancel", array_id], env=env, capture_output=True, check=False, timeout=60)
    return array_id


def with_jobs(workspace: Workspace, report: SweepReport) -> SweepReport:
    """``report`` with each point's task of the array (``slurm_job``)."""
    jobs = task_jobs(workspace, report.id)
    if not jobs:
        return report
    points = [
        dataclasses.replace(point, slurm_job=jobs.get(point.execution_id or ""))
        for point in report.points
    ]
    return dataclasses.replace(report, points=points)


def task_jobs(workspace: Workspace, sweep_id: str) -> dict[str, str]:
    """Execution id → its task's job id (``12_3``), for ``sweep status``."""
    folder = array_folder(workspace, sweep_id)
    recorded = recorded_array(folder)
    if recorded is None:
        return {}
    try:
        executions = (folder / "tasks").read_text(encoding="utf-8").split()
    except OSError:
        return {}
    return dict(zip(executions, job_ids_of(recorded[0], len(executions)), strict=True))


# -- the sweep's side: prepare, submit, follow ----------------------------------------------


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
    env = dict(os.environ)
    if conf != "-":
        env["SLURM_CONF"] = conf
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):  # quiet: the stop goes on
        subprocess.run(["scancel", job_id], env=env, capture_output=True, check=False, timeout=60)
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


# -- the task's side ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m shipyard.slurmarray HOME FOLDER``, inside task ``$SLURM_ARRAY_TASK_ID``:
    drive that point's prepared execution here, in the foreground, its units on this node —
    only on the host that submitted the sweep (:func:`node_refusal`)."""
    from shipyard.engine.runners.local import LocalRunner
    from shipyard.operations.clock import SystemClock
    from shipyard.plan.placement import SLURM
    from shipyard.supervisor import _open_store, _redirect, _supervise
    from shipyard.workspace import Workspace

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or "SLURM_ARRAY_TASK_ID" not in os.environ:
        sys.stderr.write(
            "usage (in a Slurm array task): python -m shipyard.slurmarray HOME FOLDER\n"
        )
        return 2
    home, folder = Path(args[0]), Path(args[1])
    index = int(os.environ["SLURM_ARRAY_TASK_ID"])
    try:
        home_host: str | None = (folder / HOST_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        home_host = None  # an array submitted before the host was recorded
    refusal = node_refusal(socket.gethostname(), home_host)
    if refusal is not None:
        # Before anything opens the store: to the task's output file, and for the sweep.
        sys.stderr.write(f"shipyard: {refusal}\n")
        (folder / REFUSED.format(index=index)).write_text(refusal + "\n", encoding="utf-8")
        return 1
    execution_id = (folder / "tasks").read_text(encoding="utf-8").split()[index]
    workspace = Workspace(home)
    store = _open_store(workspace)
    state = store.execution_state(execution_id)
    if state is not None and state.finished:  # stopped (cancel_queued) as its task started
        store.close()
        return 0
    mark_started(store, folder.parent.name, execution_id, at=SystemClock().now())
    # From here on, what the supervisor says goes where a detached one's goes.
    _redirect(workspace.run_dir(execution_id))
    # A `runner: slurm` unit is already in its Slurm job: it runs here, on this node.
    _supervise(workspace, store, execution_id, {}, runners={SLURM: LocalRunner})
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
