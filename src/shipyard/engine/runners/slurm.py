"""The Slurm runner (issue 16 §3): units as Slurm jobs, driven through Slurm's own clients.

``mode: job`` (the default): each unit attempt is one ``sbatch --parsable`` job. Its script
(written under the run folder, ``slurm/``) is one ``exec`` of the unit's argv, every word
``shlex.quote``d; everything else is an ``sbatch`` option given as argv: ``--chdir`` (the
unit's workdir), ``--export=ALL`` with the unit's environment as ``sbatch``'s own (so a value
with a comma or a newline arrives whole), ``--output``/``--error`` both the unit's log
(``--open-mode=append``: the runner's own ``==> shipyard:`` lines stay), ``--job-name``
(``shipyard.<execution>.<unit>``), ``--no-requeue`` (a job whose node fails ends
``NODE_FAIL``; the unit's retries decide), and the settings' partition, time, nodes, ntasks,
account and ``extra`` words.

``mode: allocation``: one allocation for the run (``salloc --no-shell``, made by the first
such unit with its settings, released by :meth:`SlurmRunner.aclose` at the run's end), and
each unit an ``srun --jobid=<allocation>`` step. ``srun`` is a real local process (it waits
for its step and forwards signals to it), so those units are local process groups like the
local runner's, whose pid is ``srun``'s own; a kill also cancels the step in Slurm.

A job is not a local process. Its :class:`SlurmHandle` has ``pid`` 0 (shown as "—" by
``status``), journals ``0 <start> <unit>`` in the spawn journal (so ``stop`` and ``status``
know it started; the watchdog and recovery never signal group 0: see
:func:`shipyard.engine.liveness.kill_orphaned_group`), and is signalled only through
``scancel``. Every job and allocation is also noted in ``slurm/jobs`` under the run folder, so
that recovery of a lost run cancels them (:func:`cancel_recorded_jobs`).

One task per runner polls every job of the runner with one ``squeue -r -t all -j <ids>`` per tick
(no accounting daemon needed: ended jobs stay known for ``MinJobAge``), at
``poll_interval`` seconds (``SHIPYARD_SLURM_POLL_INTERVAL``, default 0.5) backing off to
``max_poll_interval`` while nothing changes for a few polls (:func:`next_poll_delay`). An
ended job resolves its handle's ``exited`` with a :class:`SlurmExit`: Slurm's exit code or
signal, its end state and reason mapped by :func:`slurm_end` (``TIMEOUT`` is exit code 124,
as a timeout is elsewhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.engine.process import ExitStatus, SpawnError
from shipyard.engine.runners.base import Handle, UnitLaunch
from shipyard.engine.wiring import HOST
from shipyard.models import ResourceUsage
from shipyard.plan.model import SlurmSettings

if TYPE_CHECKING:
    from shipyard.engine.containment import Containment
    from shipyard.engine.runners.local import LocalHandle

__all__ = [
    "INSTALL_HINT",
    "JobRow",
    "SlurmExit",
    "SlurmHandle",
    "SlurmRunner",
    "cancel_recorded_jobs",
    "next_poll_delay",
    "parse_squeue",
    "poll_interval_from_env",
    "sbatch_argv",
    "slurm_end",
]

log = logging.getLogger(__name__)

#: What to install when a Slurm client or munge is missing
INSTALL_HINT = (
    "install Slurm's clients and munge (apt-get install slurm-wlm munge), with a running "
    "munged and slurmctld (SLURM_CONF names the cluster's slurm.conf)"
)
#: The environment variable that sets the poll interval (seconds)
POLL_ENV = "SHIPYARD_SLURM_POLL_INTERVAL"
DEFAULT_POLL_INTERVAL = 0.5
DEFAULT_MAX_POLL_INTERVAL = 5.0
#: Polls at the base interval before the backoff starts
STEADY_TICKS = 4
#: Ticks a job may be missing from squeue before it is taken as ended, status unknown
MISSING_TICKS = 3
#: How long a cancelled job may take to reach an end state before it is given up on
CANCEL_WAIT = 60.0
#: The exit code of a unit that reached its time limit (as `timeout` and the task runner say)
TIMED_OUT = 124
#: The squeue fields polled, each ended by "|"
#: (JobArrayID is the job id, or ``12_3`` for a task of array 12: with ``-r`` each task is a row)
SQUEUE_FORMAT = "JobArrayID:|,State:|,Reason:|,NodeList:|,exit_code:|"
#: Slurm's end states: a job in one of these has nothing left running
END_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "BOOT_FAIL",
        "DEADLINE",
        "PREEMPTED",
        "REVOKED",
        "SPECIAL_EXIT",
    }
)
#: Words for the end states that are not a plain exit
_STATE_WORDS = {
    "TIMEOUT": "reached its Slurm time limit",
    "OUT_OF_MEMORY": "ran out of memory (killed by Slurm)",
    "NODE_FAIL": "its node failed",
    "BOOT_FAIL": "its node failed to boot",
    "DEADLINE": "reached its deadline",
    "PREEMPTED": "was preempted",
    "REVOKED": "was revoked (a federated sibling ran it)",
    "SPECIAL_EXIT": "ended in a special exit state",
    "CANCELLED": "was cancelled",
}


# -- decisions (no I/O) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job as squeue shows it."""

    job_id: str
    state: str  # CANCELLED by 0 is shown as CANCELLED; squeue gives the bare state
    reason: str
    nodes: str
    wait_status: int  # the batch script's wait(2) status: code << 8 | signal


@dataclass(frozen=True)
class SlurmExit(ExitStatus):
    """How a Slurm job ended: its exit code or signal as Slurm gives them, plus the job id, its
    end state, Slurm's reason and its nodes (all in :meth:`describe`, so in the unit's
    reason)."""

    job_id: str = ""
    state: str = ""
    reason: str = ""
    nodes: str = ""

    def describe(self) -> str:
        where = f" on {self.nodes}" if self.nodes else ""
        head = f"Slurm job {self.job_id} {self.state}{where}"
        word = _STATE_WORDS.get(self.state)
        if self.unknown:
            how = word or "ended, its exit status unknown"
        elif word is not None and self.state != "CANCELLED":
            how = f"{word} ({self._how()})"
        else:
            how = self._how() if word is None else f"{word}, {self._how()}"
        why = f"; reason {self.reason}" if self.reason and self.reason != "None" else ""
        return f"{head}: {how}{why}"

    def _how(self) -> str:
        if self.signal is not None:
            return f"killed by signal {self.signal}"
        return f"exit code {self.exit_code}"


_SIGNAL_NAMES = {1: "HUP", 2: "INT", 3: "QUIT", 6: "ABRT", 9: "KILL", 10: "USR1", 12: "USR2",
                 15: "TERM", 11: "SEGV", 7: "BUS", 8: "FPE", 13: "PIPE", 24: "XCPU"}  # fmt: skip


def slurm_end(row: JobRow) -> SlurmExit | None:
    """The exit of a job in an end state (None while it runs, pends or completes). Exit code
    and signal from its wait status; a state that is a failure of its own is never a success
    (``FAILED`` with code 0 is code 1), ``TIMEOUT`` is code 124, ``OUT_OF_MEMORY`` a SIGKILL,
    ``NODE_FAIL``/``BOOT_FAIL``/``PREEMPTED`` without a status unknown (so retryable)."""
    state = row.state.split(" ")[0].upper()
    if state not in END_STATES:
        return None
    number = row.wait_status & 0x7F
    code: int | None = (row.wait_status >> 8) & 0xFF
    signal: str | None = None
    if number:
        signal = _SIGNAL_NAMES.get(number, str(number))
        code = None
    if state == "TIMEOUT":
        code, signal = TIMED_OUT, None
    elif state == "OUT_OF_MEMORY":
        code, signal = None, "KILL"
    elif state == "CANCELLED" and signal is None and code == 0:
        code, signal = None, "TERM"  # cancelled before it ran: it did not succeed
    elif state in ("FAILED", "SPECIAL_EXIT", "DEADLINE") and signal is None and code == 0:
        code = 1
    elif state in ("NODE_FAIL", "BOOT_FAIL", "PREEMPTED", "REVOKED") and code == 0:
        code = None  # ended without an exit of its own
    return SlurmExit(
        exit_code=code,
        signal=signal,
        cpu_seconds=0.0,
        job_id=row.job_id,
        state=state,
        reason=row.reason,
        nodes=row.nodes,
    )


def parse_squeue(text: str) -> dict[str, JobRow]:
    """``squeue -h -O`` output in :data:`SQUEUE_FORMAT`, by job id (bad lines skipped)."""
    rows = {}
    for line in text.splitlines():
        fields = [field.strip() for field in line.split("|")]
        if len(fields) < 5 or not fields[0]:
            continue
        try:
            status = int(fields[4] or 0)
        except ValueError:
            status = 0
        rows[fields[0]] = JobRow(fields[0], fields[1], fields[2], fields[3], status)
    return rows


def next_poll_delay(unchanged: int, *, base: float, ceiling: float) -> float:
    """The wait before the next poll, after ``unchanged`` polls in a row saw nothing change
    (a job started, ended, or a new one came resets it to 0): ``base`` for the first
    :data:`STEADY_TICKS` (a short job is seen ending at once), then half as long again each
    time, up to ``ceiling`` (a long job costs slurmctld little)."""
    if unchanged < STEADY_TICKS:
        return base
    return float(min(base * 1.5 ** (unchanged - STEADY_TICKS + 1), max(ceiling, base)))


def poll_interval_from_env(environ: Mapping[str, str]) -> float:
    """``SHIPYARD_SLURM_POLL_INTERVAL`` in seconds (default 0.5); a ShipyardError-worthy value
    (not a positive number) raises ValueError with what is wrong."""
    raw = environ.get(POLL_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_POLL_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{POLL_ENV}={raw!r} is not a number of seconds") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"{POLL_ENV}={raw!r} must be a positive number of seconds")
    return value


def sbatch_argv(
    settings: SlurmSettings, *, job_name: str, workdir: str, log_path: str, script: str
) -> list[str]:
    """The ``sbatch`` command line of one unit (see the module's docstring)."""
    argv = [
        "sbatch", "--parsable", f"--job-name={job_name}", f"--chdir={workdir}",
        f"--output={log_path}", f"--error={log_path}", "--open-mode=append", "--export=ALL",
        # A job Slurm requeues (its node failed) would run again under the same id, unseen
        # by Shipyard: it ends NODE_FAIL instead, and the step's own `retries:` decide.
        "--no-requeue",
    ]  # fmt: skip
    argv += _resource_options(settings)
    argv += [*settings.extra, script]
    return argv


def step_tasks(settings: SlurmSettings, *, starts_ranks: bool) -> list[str]:
    """The ``srun`` options that size a step of the run's allocation. A command that starts
    its own ranks (mpirun) runs once — srun would start one copy per task, each starting every
    rank — on one node; mpirun over several nodes of an allocation is refused (its nodes and
    slots per node are the job's, which a one-task step does not see): mode job runs it."""
    if starts_ranks:
        if settings.nodes is not None and settings.nodes > 1:
            raise SpawnError(
                f"an mpi: step in a Slurm allocation runs on one node (nodes: {settings.nodes}): "
                "use slurm: {mode: job} to run mpirun across nodes"
            )
        return ["--ntasks=1"]
    options = [f"--nodes={settings.nodes}"] if settings.nodes is not None else []
    if settings.ntasks is not None:
        options.append(f"--ntasks={settings.ntasks}")
    return options


def _resource_options(settings: SlurmSettings) -> list[str]:
    options = []
    if settings.partition:
        options.append(f"--partition={settings.partition}")
    if settings.time:
        options.append(f"--time={settings.time}")
    if settings.nodes is not None:
        options.append(f"--nodes={settings.nodes}")
    if settings.ntasks is not None:
        options.append(f"--ntasks={settings.ntasks}")
    if settings.account:
        options.append(f"--account={settings.account}")
    return options


def job_script(argv: Sequence[str]) -> str:
    """The batch script: one ``exec`` of the unit's argv, every word quoted."""
    return "#!/bin/sh\n# written by shipyard: the unit's command, run by Slurm\n" + (
        f"exec {shlex.join(argv)}\n"
    )


def _explain(command: str, done: subprocess.CompletedProcess[str]) -> str:
    """A failed Slurm client in words, with what to check."""
    error = (done.stderr or done.stdout).strip().splitlines()
    text = error[-1] if error else f"exit code {done.returncode}"
    lowered = (done.stderr or "").lower()
    munge = [line for line in error if "munge" in line.lower() and "failed" in line.lower()]
    if munge:
        text = munge[0]  # the cause, not the "authentication error" it ends in
    if "munge" in lowered:
        hint = "is munged running on this machine, with the cluster's key? " + INSTALL_HINT
    elif "configuration source" in lowered or "slurm.conf" in lowered:
        hint = "no Slurm configuration found: set SLURM_CONF to the cluster's slurm.conf"
    elif "controller" in lowered or "connect" in lowered:
        hint = "is slurmctld running and reachable (SLURM_CONF names the right one)?"
    else:
        hint = "check the unit's slurm settings (partition, time, account, extra)"
    return f"{command} failed: {text} ({hint})"


# -- the handle -----------------------------------------------------------------------------


class SlurmHandle:
    """A Slurm job. Not a local process: ``pid`` is 0 and every signal goes through
    ``scancel``; ``exited`` is resolved by the runner's poll."""

    pid = 0  # a job id is never a local pid: nothing may signal it as one

    def __init__(
        self, runner: SlurmRunner, job_id: str, unit: str, stop_signal: str, log_path: str
    ) -> None:
        self.runner = runner
        self.job_id = job_id
        self.unit = unit
        self.stop_signal = stop_signal
        self.log_path = log_path
        self.started = time.time()
        self.started_monotonic = time.monotonic()
        self.exited: asyncio.Future[ExitStatus] = asyncio.get_running_loop().create_future()
        #: What squeue said last: state, reason, nodes (for the log line and `status`)
        self.state = "PENDING"
        self.reason = ""
        self.nodes = ""
        self.cancelled = False

    def alive(self) -> bool:
        return not self.exited.done()

    def leftovers(self) -> bool:
        return False  # a job in an end state has nothing left: Slurm cleaned its node up

    def members(self) -> list[int]:
        return []  # no local process is the job's

    def signal(self, sig: str | None = None) -> None:
        self.runner.scancel_soon(["--full", f"--signal={sig or self.stop_signal}", self.job_id])

    async def terminate(self, grace: float, sig: str | None = None) -> bool:
        if self.exited.done():
            return False
        sig = sig or self.stop_signal
        if sig == "TERM":
            # Slurm's own stop: TERM to every step and the batch script (KILL after the
            # cluster's KillWait), and the job ends CANCELLED in Slurm's records.
            await self.runner.ascancel(self.job_id)
            self.cancelled = True
        else:
            await self.runner.ascancel("--full", f"--signal={sig}", self.job_id)
        self.runner.wake()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.exited), max(grace, 0.0))
            return False
        await self.runner.ascancel("--full", "--signal=KILL", self.job_id)
        if not self.cancelled:
            await self.runner.ascancel(self.job_id)
        self.cancelled = True
        self.runner.wake()
        await self._ended(CANCEL_WAIT)
        return True

    def kill(self) -> None:
        self.runner.scancel_soon(["--full", "--signal=KILL", self.job_id], [self.job_id])
        self.cancelled = True
        self.runner.wake()

    async def release(self) -> None:
        await self._ended(CANCEL_WAIT)
        self.close()

    async def _ended(self, within: float) -> None:
        """Wait until the job is in an end state; past ``within`` seconds give up on Slurm
        and end it as unknown (the poll said nothing: slurmctld unreachable)."""
        try:
            await asyncio.wait_for(asyncio.shield(self.exited), within)
        except TimeoutError:
            self.runner.resolve(
                self,
                SlurmExit(None, None, 0.0, job_id=self.job_id, state="UNKNOWN",
                          reason="no end state from Slurm after scancel", nodes=self.nodes),
            )  # fmt: skip

    def close(self) -> None:
        self.runner.forget(self.job_id)

    def journal_entry(self) -> str:
        # pid 0: the watchdog and recovery never signal it (kill_orphaned_group refuses 0);
        # the job itself is in slurm/jobs, which recovery cancels.
        return f"0 {self.started:.6f} {self.unit}\n"


def _allocation_id(line: str) -> str | None:
    """The job id in salloc's "Pending job allocation 12" / "Granted job allocation 12"."""
    words = line.split()
    if "allocation" in words and words[-1].isdigit():
        return words[-1]
    return None


@dataclass(frozen=True)
class NotStarted(ExitStatus):
    """A step of allocation mode that never ran: its allocation was refused (code 127, as a
    command that cannot start), or it was stopped while it waited (signal TERM)."""

    message: str = ""

    def describe(self) -> str:
        return self.message


class PendingStep:
    """A step of allocation mode: waits (a task, not the engine) for the run's allocation,
    then is its ``srun`` process (:attr:`inner`). Until then it has no process: pid 0, and
    a stop ends the wait."""

    def __init__(
        self,
        runner: SlurmRunner,
        launch: UnitLaunch,
        settings: SlurmSettings,
        allocating: asyncio.Task[str],
    ) -> None:
        self.unit = launch.unit
        self.log_path = launch.log_path
        self.started = time.time()
        self.started_monotonic = time.monotonic()
        loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[ExitStatus] = loop.create_future()
        self.inner: Handle | None = None
        _note(launch.log_path, "waiting for the run's Slurm allocation (salloc)")
        self._task = loop.create_task(self._run(runner, launch, settings, allocating))

    @property
    def pid(self) -> int:
        return self.inner.pid if self.inner is not None else 0

    async def _run(
        self,
        runner: SlurmRunner,
        launch: UnitLaunch,
        settings: SlurmSettings,
        allocating: asyncio.Task[str],
    ) -> None:
        try:
            allocation = await asyncio.shield(allocating)
            inner = runner._srun(launch, settings, allocation)
        except asyncio.CancelledError:
            message = "stopped while it waited for its Slurm allocation"
            _note(self.log_path, message)
            self._end(NotStarted(None, "TERM", 0.0, message=message))
            return
        except Exception as error:  # a refused salloc, or srun that cannot start
            message = str(error)
            _note(self.log_path, message)
            self._end(NotStarted(127, None, 0.0, message=message))
            return
        self.inner = inner
        inner.exited.add_done_callback(self._inner_exited)

    def _inner_exited(self, future: asyncio.Future[ExitStatus]) -> None:
        if not future.cancelled():
            self._end(future.result())

    def _end(self, status: ExitStatus) -> None:
        if not self.exited.done():
            self.exited.set_result(status)

    def alive(self) -> bool:
        return not self.exited.done()

    def leftovers(self) -> bool:
        return self.inner.leftovers() if self.inner is not None else False

    def members(self) -> list[int]:
        return self.inner.members() if self.inner is not None else []

    def signal(self, sig: str | None = None) -> None:
        if self.inner is not None:
            self.inner.signal(sig)
        else:
            self._task.cancel()

    async def terminate(self, grace: float, sig: str | None = None) -> bool:
        if self.inner is None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.inner is not None:  # it started meanwhile
            return await self.inner.terminate(grace, sig)
        return False

    def kill(self) -> None:
        if self.inner is not None:
            self.inner.kill()
        else:
            self._task.cancel()

    async def release(self) -> None:
        if self.inner is not None:
            await self.inner.release()

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()

    def journal_entry(self) -> str:
        # pid 0 (no process yet); srun, once started, carries SHIPYARD_EXECUTION_ID (found by
        # the watchdog's marker sweep) and the allocation is in slurm/jobs.
        return f"0 {self.started:.6f} {self.unit}\n"


class SlurmSampler:
    """Jobs are not sampled here (their processes are on Slurm's nodes): every figure is None
    (never a guess), as :class:`ResourceUsage` documents."""

    def sample(self, running: Mapping[str, Handle]) -> None:
        return None

    def finish(self, key: str, *, cpu_seconds: float) -> ResourceUsage:
        return ResourceUsage()

    def current(self, key: str) -> ResourceUsage | None:
        return None


# -- the runner -----------------------------------------------------------------------------


class SlurmRunner:
    """Units as Slurm jobs (see the module's docstring). ``env``: the environment the Slurm
    clients run in (default: this process's, where SLURM_CONF is); ``poll_interval``: seconds
    between polls (default: :func:`poll_interval_from_env`)."""

    name = "slurm"
    host = HOST  # ports and probes of services: Slurm runs steps, not services

    def __init__(
        self,
        containment: Containment,
        run_root: Path,
        *,
        env: Mapping[str, str] | None = None,
        poll_interval: float | None = None,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    ) -> None:
        self.containment = containment
        self.run_root = run_root
        self.env = dict(os.environ if env is None else env)
        #: A bad setting fails each unit at its start with what to do (the execution must
        #: not be left pending by an error raised before it runs)
        self._refused: str | None = None
        if poll_interval is None:
            try:
                poll_interval = poll_interval_from_env(self.env)
            except ValueError as error:
                poll_interval = DEFAULT_POLL_INTERVAL
                self._refused = (
                    f"cannot run on Slurm: {error} (give it in seconds, 0.5 by default, or "
                    "unset it)"
                )
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.folder = run_root / "slurm"
        self._jobs: dict[str, SlurmHandle] = {}
        self._missing: dict[str, int] = {}
        self._poller: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._serial = 0
        self._allocation: str | None = None
        self._pending_allocation: str | None = None  # named by salloc, maybe not granted yet
        self._allocating: asyncio.Task[str] | None = None
        self._signalling: set[asyncio.Task[None]] = set()  # scancel_soon's, kept till done
        self.polls = 0  # squeue calls made (the bench's figure)

    # -- starting -----------------------------------------------------------------------

    def start(self, launch: UnitLaunch) -> Handle:
        if self._refused is not None:
            raise SpawnError(self._refused)
        settings = launch.slurm or SlurmSettings()
        self._need("sbatch" if settings.mode == "job" else "srun")
        if settings.mode == "allocation":
            return self._start_step(launch, settings)
        return self._submit(launch, settings)

    def _need(self, binary: str) -> None:
        if shutil.which(binary, path=self.env.get("PATH")) is None:
            raise SpawnError(f"cannot run on Slurm: {binary} is not on PATH ({INSTALL_HINT})")

    def _job_name(self, unit: str) -> str:
        return f"shipyard.{self.run_root.name}.{unit}"

    def _submit(self, launch: UnitLaunch, settings: SlurmSettings) -> SlurmHandle:
        self.folder.mkdir(mode=0o700, exist_ok=True)
        self._serial += 1
        script = self.folder / f"{launch.unit}.{self._serial}.sh"
        script.write_text(job_script(launch.argv), encoding="utf-8")
        script.chmod(0o700)
        workdir = launch.cwd or str(Path.cwd())
        job_name = self._job_name(launch.unit)
        argv = sbatch_argv(
            settings,
            job_name=job_name,
            workdir=workdir,
            log_path=launch.log_path,
            script=str(script),
        )
        env = {**self.env, **launch.env}  # the unit's environment is exported as the job's
        done = self._client(argv, env)
        if done.returncode != 0:
            raise SpawnError(_explain("sbatch", done))
        job_id = done.stdout.strip().split(";")[0]
        if not job_id:
            raise SpawnError(f"sbatch said nothing of the job it submitted ({done.stderr})")
        self._record(job_id, job_name)
        handle = SlurmHandle(self, job_id, launch.unit, launch.stop_signal, launch.log_path)
        _note(launch.log_path, f"Slurm job {job_id} submitted ({shlex.join(argv)})")
        _show_nodes(self.run_root, {launch.unit: f"job {job_id} PENDING"})
        self._track(handle)
        return handle

    def _client(
        self, argv: list[str], env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                argv, env=dict(env or self.env), capture_output=True, text=True,
                check=False, timeout=60,
            )  # fmt: skip
        except FileNotFoundError:
            raise SpawnError(
                f"cannot run on Slurm: {argv[0]} is not on PATH ({INSTALL_HINT})"
            ) from None
        except subprocess.TimeoutExpired:
            raise SpawnError(f"{argv[0]} did not answer within 60 s (is slurmctld up?)") from None

    def _record(self, job_id: str, job_name: str) -> None:
        """Note the job in slurm/jobs (before anything else happens to it), for recovery."""
        self.folder.mkdir(mode=0o700, exist_ok=True)
        conf = self.env.get("SLURM_CONF", "-")
        with open(self.folder / "jobs", "a", encoding="utf-8") as jobs:
            jobs.write(f"{job_id} {job_name} {conf}\n")

    # -- allocation mode ----------------------------------------------------------------

    def _start_step(self, launch: UnitLaunch, settings: SlurmSettings) -> Handle:
        """A step of the run's allocation: its ``srun`` at once once the allocation is
        granted, else a :class:`PendingStep` that waits for it without holding up the engine
        (the first such step asks for it, with its settings)."""
        if self._allocation is not None:
            return self._srun(launch, settings, self._allocation)
        if self._allocating is None:
            self._need("salloc")
            loop = asyncio.get_running_loop()
            self._allocating = loop.create_task(self._allocate(settings))
        return PendingStep(self, launch, settings, self._allocating)

    def _srun(self, launch: UnitLaunch, settings: SlurmSettings, allocation: str) -> LocalHandle:
        """The ``srun`` step: a local process, started as the local runner starts one."""
        from shipyard.engine.runners.local import LocalRunner

        argv = ["srun", f"--jobid={allocation}", f"--job-name={launch.unit}", "--export=ALL"]
        if launch.cwd:
            argv.append(f"--chdir={launch.cwd}")
        argv += [*step_tasks(settings, starts_ranks=launch.starts_ranks), *settings.extra]
        if launch.starts_ranks and settings.ntasks is not None:
            # The step's one task sees one slot; mpirun is told the allocation's tasks.
            argv += ["env", f"SLURM_TASKS_PER_NODE={settings.ntasks}"]
        argv += launch.argv
        env = {**self.env, **launch.env}
        env.pop("SLURM_JOB_ID", None)  # the allocation is named by --jobid alone
        step = UnitLaunch(
            launch.unit, argv, env, launch.cwd, launch.log_path, launch.stop_signal, settings
        )
        _note(launch.log_path, f"Slurm step of allocation {allocation} ({shlex.join(argv)})")
        _show_nodes(self.run_root, {launch.unit: f"allocation {allocation}"})
        return LocalRunner(self.containment).start(step)

    async def _allocate(self, settings: SlurmSettings) -> str:
        """``salloc --no-shell`` for the run, read as it goes: its job id is noted for recovery
        as soon as salloc names it (pending), the allocation's once it is granted."""
        name = self._job_name("allocation")
        argv = ["salloc", "--no-shell", f"--job-name={name}", *_resource_options(settings)]
        argv += settings.extra
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        lines: list[str] = []
        try:
            assert process.stderr is not None
            async for raw in process.stderr:
                line = raw.decode(errors="replace").strip()
                lines.append(line)
                job = _allocation_id(line)
                if job is not None and self._pending_allocation is None:
                    self._pending_allocation = job
                    self._record(job, name)
            code = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        if code != 0 or self._pending_allocation is None:
            done = subprocess.CompletedProcess(argv, code, "", "\n".join(lines))
            raise SpawnError(_explain("salloc", done))
        self._allocation = self._pending_allocation
        return self._allocation

    @property
    def allocation(self) -> str | None:
        """The job id of the run's allocation, once made."""
        return self._allocation

    # -- signals ------------------------------------------------------------------------

    def scancel(self, *args: str) -> None:
        done = self._client_quiet(["scancel", *args])
        if done is not None and done.returncode != 0 and "already completing" not in done.stderr:
            log.warning(_explain("scancel", done), extra={"action": "slurm_scancel_failed"})

    async def ascancel(self, *args: str) -> None:
        await asyncio.to_thread(self.scancel, *args)

    def scancel_soon(self, *calls: list[str]) -> None:
        """``scancel`` with each of ``calls`` in turn, on a thread: a signal or a kill must not
        hold up the engine while slurmctld is slow to answer."""

        async def run() -> None:
            for args in calls:
                await self.ascancel(*args)
            self.wake()

        task = asyncio.get_running_loop().create_task(run())
        self._signalling.add(task)
        task.add_done_callback(self._signalling.discard)

    def _client_quiet(self, argv: list[str]) -> subprocess.CompletedProcess[str] | None:
        try:
            return self._client(argv)
        except SpawnError as error:
            log.warning(str(error), extra={"action": "slurm_client_failed"})
            return None

    # -- the poll -----------------------------------------------------------------------

    def follow(self, job_id: str, unit: str, log_path: str) -> SlurmHandle:
        """Follow a job submitted elsewhere (a task ``12_3`` of a sweep's job array,
        :mod:`shipyard.slurmarray`) by this runner's one batched poll: its handle."""
        handle = SlurmHandle(self, job_id, unit, "TERM", log_path)
        self._track(handle)
        return handle

    def _track(self, handle: SlurmHandle) -> None:
        self._jobs[handle.job_id] = handle
        if self._poller is None or self._poller.done():
            self._wake = asyncio.Event()
            self._poller = asyncio.get_running_loop().create_task(self._poll())
        self.wake()

    def wake(self) -> None:
        """Poll soon, at the base interval (a job was submitted or cancelled)."""
        if self._wake is not None:
            self._wake.set()

    def forget(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)
        self._missing.pop(job_id, None)

    def resolve(self, handle: SlurmHandle, status: SlurmExit) -> None:
        """End ``handle`` with ``status`` (once), with a line in its log."""
        if handle.exited.done():
            return
        handle.state, handle.reason = status.state, status.reason
        handle.nodes = status.nodes or handle.nodes
        _note(handle.log_path, status.describe())
        handle.exited.set_result(status)

    async def _poll(self) -> None:
        """One squeue for every job of the runner per tick, until none is left unresolved.
        If the poll itself breaks, its jobs end (unknown, saying why) rather than being
        waited for by nobody: a run never hangs on a dead poll."""
        try:
            await self._polling()
        except Exception as error:
            log.exception("the Slurm poll failed", extra={"action": "slurm_poll_crashed"})
            for handle in list(self._jobs.values()):
                self.resolve(
                    handle,
                    SlurmExit(None, None, 0.0, job_id=handle.job_id, state="UNKNOWN",
                              reason=f"the Slurm poll failed: {error}", nodes=handle.nodes),
                )  # fmt: skip

    async def _polling(self) -> None:
        assert self._wake is not None
        delay, unchanged = self.poll_interval, 0
        while any(not h.exited.done() for h in self._jobs.values()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            woken = self._wake.is_set()
            self._wake.clear()
            changed = await self._tick() or woken
            unchanged = 0 if changed else unchanged + 1
            delay = next_poll_delay(
                unchanged, base=self.poll_interval, ceiling=self.max_poll_interval
            )

    async def _tick(self) -> bool:
        waiting = [job for job, h in self._jobs.items() if not h.exited.done()]
        if not waiting:
            return False
        argv = ["squeue", "-h", "-r", "-t", "all", "-j", ",".join(waiting), "-O", SQUEUE_FORMAT]
        self.polls += 1
        try:
            done = await asyncio.to_thread(self._client, argv)
        except SpawnError as error:
            log.warning(str(error), extra={"action": "slurm_poll_failed"})
            return False
        if done.returncode != 0 and "Invalid job id" not in done.stderr:
            log.warning(_explain("squeue", done), extra={"action": "slurm_poll_failed"})
            return False
        rows = parse_squeue(done.stdout) if done.returncode == 0 else {}
        return self._apply(waiting, rows)

    def _apply(self, waiting: list[str], rows: Mapping[str, JobRow]) -> bool:
        changed = False
        placed: dict[str, str] = {}
        for job_id in waiting:
            handle = self._jobs.get(job_id)
            if handle is None:
                continue
            row = rows.get(job_id)
            if row is None:
                self._missing[job_id] = self._missing.get(job_id, 0) + 1
                if self._missing[job_id] >= MISSING_TICKS:
                    self.resolve(
                        handle,
                        SlurmExit(None, None, 0.0, job_id=job_id, state="UNKNOWN",
                                  reason="no longer known to squeue", nodes=handle.nodes),
                    )  # fmt: skip
                    changed = True
                continue
            self._missing.pop(job_id, None)
            if (row.state, row.reason, row.nodes) != (handle.state, handle.reason, handle.nodes):
                changed = True
                if row.state != handle.state:
                    where = f" on {row.nodes}" if row.nodes else ""
                    why = f" ({row.reason})" if row.reason and row.reason != "None" else ""
                    if slurm_end(row) is None:
                        _note(handle.log_path, f"Slurm job {job_id} {row.state}{where}{why}")
                handle.state, handle.reason = row.state, row.reason
                handle.nodes = row.nodes or handle.nodes
                placed[handle.unit] = _where(job_id, row)
            ended = slurm_end(row)
            if ended is not None:
                self.resolve(handle, ended)
                changed = True
        _show_nodes(self.run_root, placed)
        return changed

    # -- the end ------------------------------------------------------------------------

    async def aclose(self) -> None:
        """The run is over: release its allocation, stop the poll."""
        if self._allocating is not None and not self._allocating.done():
            self._allocating.cancel()  # salloc is killed; its pending job cancelled below
            with contextlib.suppress(BaseException):
                await self._allocating
        allocation = self._allocation or self._pending_allocation
        if allocation is not None:
            await self.ascancel(allocation)
            self._allocation = self._pending_allocation = None
        if self._poller is not None and not self._poller.done():
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller

    def sampler(self) -> SlurmSampler:
        return SlurmSampler()


def _show_nodes(run_root: Path, placed: dict[str, str]) -> None:
    """What ``status`` shows in the units' node column (``job 12 on c07``), through the run
    folder's nodes.json (:func:`shipyard.nodes.record_nodes`, one write for a whole poll): a
    display only, never a reason to fail."""
    if not placed:
        return
    from shipyard.nodes import record_nodes

    with contextlib.suppress(OSError):
        record_nodes(run_root, placed)


def _where(job_id: str, row: JobRow) -> str:
    if (row.nodes and row.state in ("RUNNING", "COMPLETING")) or slurm_end(row) is not None:
        return f"job {job_id} on {row.nodes}" if row.nodes else f"job {job_id}"
    why = f" ({row.reason})" if row.reason and row.reason != "None" else ""
    return f"job {job_id} {row.state}{why}"


def _note(log_path: str, message: str) -> None:
    """A ``==> shipyard:`` line in the unit's log (Slurm appends its output to the same)."""
    with contextlib.suppress(OSError), open(log_path, "a", encoding="utf-8") as log_file:
        log_file.write(f"==> shipyard: {message}\n")


# -- recovery -------------------------------------------------------------------------------


def cancel_recorded_jobs(run_root: Path) -> list[str]:
    """Cancel the jobs and allocations a lost run noted in ``slurm/jobs`` that Slurm still
    has under the same name (a job id reused by another cluster's state is left alone).
    Returns the ids cancelled. Quiet: recovery must go on whatever Slurm answers."""
    try:
        lines = (run_root / "slurm" / "jobs").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    by_conf: dict[str, dict[str, str]] = {}
    for line in lines:
        parts = line.split(" ", 2)
        if len(parts) == 3:
            by_conf.setdefault(parts[2], {})[parts[0]] = parts[1]
    cancelled = []
    for conf, jobs in by_conf.items():
        env = dict(os.environ)
        if conf != "-":
            env["SLURM_CONF"] = conf
        try:
            listed = subprocess.run(
                ["squeue", "-h", "-j", ",".join(jobs), "-O", "JobID:|,Name:|"],
                env=env, capture_output=True, text=True, check=False, timeout=30,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            continue
        live = []
        for row in listed.stdout.splitlines():
            fields = [field.strip() for field in row.split("|")]
            if len(fields) >= 2 and jobs.get(fields[0]) == fields[1]:
                live.append(fields[0])
        if live:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(["scancel", *live], env=env, capture_output=True,
                               check=False, timeout=30)  # fmt: skip
            cancelled += live
    return cancelled
