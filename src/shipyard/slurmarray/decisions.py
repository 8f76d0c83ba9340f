"""A sweep as a Slurm job array: its decisions, pure functions tested with tables
(tests/unit/test_slurmarray.py): the ``--array`` range and throttle, the ``sbatch`` command line
and batch script, the tasks' ids, what a task's end in Slurm means for its point, and the
refusals (a sweep that cannot be an array, a task on another host). No I/O: the sweep's side
(:mod:`.sweepside`, :mod:`.jobs`) and the task's (:mod:`.taskside`) carry them out."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState

if TYPE_CHECKING:
    from shipyard.engine.runners.slurm import SlurmExit
    from shipyard.plan.model import SlurmSettings
    from shipyard.spec.models import Spec
    from shipyard.spec.yamlsource import SourceMap
    from shipyard.sweep import SweepSettings

__all__ = [
    "ASKED",
    "TaskOutcome",
    "array_argv",
    "array_range",
    "array_refusal",
    "cancelled_in_queue",
    "job_ids_of",
    "node_refusal",
    "task_outcome",
    "task_script",
]

#: The flag and the spec key that ask for an array, as errors name them
ASKED = "--slurm-array (slurm_array: true in sweep:)"


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
