"""The pipeline executor: runs a plan's steps as real process groups on this machine.

It is callback-driven on one asyncio loop: a step's exit (seen through its pidfd) is handled in
the loop callback that notices it, and the next steps start from there, with no polling and no
task per step. Decisions — what may start, what is skipped — are the scheduler's; this module
performs them and records what happened.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from shipyard.alerts import HISTORY_RUNS, DurationLimit, UnitLook, due_alerts, duration_limit
from shipyard.confinement import confined_files, refused
from shipyard.engine import gates, metrics
from shipyard.engine.attemptlog import Ending, end_line, start_line
from shipyard.engine.cachekey import step_key
from shipyard.engine.containment import Containment, choose_containment
from shipyard.engine.hooks import HookRunner
from shipyard.engine.logrotation import LogRotation
from shipyard.engine.recorder import Observer, Recorder
from shipyard.engine.retries import Verdict, attempt_header, decide_retry, judge_exit
from shipyard.engine.runners.base import ExitStatus, Handle, Runner, SpawnError, UnitLaunch
from shipyard.engine.runners.local import LocalRunner
from shipyard.engine.runtime import ExecutionRun, base_environment
from shipyard.engine.scheduler import Capacity, Scheduler, StepDemand
from shipyard.engine.stopping import StopContext, stop_unit
from shipyard.engine.wiring import connection_env
from shipyard.errors import OutsideWorkdir, ShipyardError
from shipyard.models import Artifact, Attempt, ExecutionState, ResourceUsage, UnitState
from shipyard.plan.model import Plan, PlannedStep
from shipyard.spec.quantities import format_duration
from shipyard.spec.templating import fill_inputs, input_variable
from shipyard.store.base import Store
from shipyard.workspace import RunDir, confined_path, open_private, private_dir


def machine_capacity() -> tuple[int, int]:
    """(cores, bytes of memory) of this machine."""
    cores = os.cpu_count() or 1
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return cores, memory


class Taken(Protocol):
    """What a checkpoint taken tells the run's events."""

    @property
    def id(self) -> str: ...

    @property
    def bytes(self) -> int: ...


class Checkpointer(Protocol):
    """Takes an automatic checkpoint (``shipyard.checkpoint.create``, injected by whoever
    drives the execution: the engine does not import the layers above it)."""

    def __call__(
        self,
        run_dir: RunDir,
        plan: Plan,
        execution_id: str,
        /,
        *,
        states: Mapping[str, str],
        running: Mapping[str, int],
        reason: str,
    ) -> Taken: ...


#: Files named per ``artifacts_recorded`` event: a step with many outputs writes several
#: events (part 1 of N, …), so no events.jsonl line grows with the number of its files.
ARTIFACTS_PER_EVENT = 500
#: The reason of a step that succeeded but left processes behind.
LEFTOVERS_STOPPED = "exited 0; processes it left running were stopped"


@dataclass(frozen=True, slots=True)
class _Ended:
    """The facts of an attempt that ended (its verdict aside)."""

    started_at: datetime
    exit_code: int | None
    signal: str | None
    pid: int | None
    resources: ResourceUsage
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class _Running:
    step: PlannedStep
    attempt: int
    handle: Handle  # every process of this attempt, also those that left its group
    timeout_handle: asyncio.TimerHandle | None = None
    exit: ExitStatus | None = None
    terminating: asyncio.Task[bool] | None = None
    timed_out: bool = False
    cancel_reason: str | None = None
    leftovers_killed: bool = False
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    stop_context: StopContext | None = None  # where its stop command runs


class PipelineExecutor:
    """Runs one execution of a plan. Create, then ``await run()`` once."""

    def __init__(
        self,
        plan: Plan,
        *,
        execution_id: str,
        run_dir: RunDir,
        store: Store,
        observer: Observer | None = None,
        capacity: tuple[int, int] | None = None,
        base_env: dict[str, str] | None = None,
        done: Iterable[str] = (),
        attempts: Mapping[str, int] | None = None,
        recorder: Recorder | None = None,
        containment: Containment | None = None,
        checkpointer: Checkpointer | None = None,
        runners: Mapping[str, Runner] | None = None,
    ) -> None:
        """``done``: steps that already succeeded (a resumed execution, or results reused from
        another one): they do not run. ``attempts``: attempts already made per step, so a
        resumed execution numbers on. ``recorder``: shared with a fleet running these steps.
        ``containment``: how each unit's processes are tracked (a cgroup per unit where the
        machine allows it, see :mod:`shipyard.engine.containment`); a fleet shares its own.
        ``checkpointer``: takes the automatic checkpoints ``execution.checkpoint_interval``
        asks for (none are taken without one). ``runners``: where units run, by name (default:
        ``{"local": LocalRunner(containment)}``); hooks run on ``local``."""
        self.plan = plan
        self._checkpointer = checkpointer
        self._already = set(done)
        self.execution_id = execution_id
        self.run_dir = run_dir
        self.store = store
        self.recorder = recorder or Recorder(store, execution_id, run_dir.events, observer=observer)
        self.scheduler = _scheduler(plan, capacity or machine_capacity(), self._already)
        self._steps = {step.name: step for step in plan.steps}
        # Resolved once, not per attempt: the hot path between two steps stays free of pathlib.
        here = os.getcwd()  # noqa: PTH109 - compared as a string
        self._cwds = {s.name: None if s.workdir == here else s.workdir for s in plan.steps}
        names = [s.name for s in plan.steps]
        self._log_paths = dict(zip(names, run_dir.log_paths(names), strict=True))
        self._metrics_prefix = os.path.join(run_dir.metrics, "")  # noqa: PTH118 - ends in '/'
        #: Per step, the artifacts folders of the steps it needs that declare outputs (what
        #: it is handed as SHIPYARD_INPUT_<STEP> and {{ inputs.<step> }}).
        self._inputs = _input_folders(plan, run_dir)
        self._attempts: dict[str, int] = {
            name: (attempts or {}).get(name, 0) for name in self._steps
        }
        #: Attempts made before this run (a resumed execution): a step's retries, its start
        #: and its time count from its first attempt in this run, not from the earlier run's.
        self._earlier = dict(self._attempts)
        #: Steps waiting for their retry: the last attempt's reason and end.
        self._retrying: dict[str, tuple[str, float]] = {}
        self._keys: dict[str, str] = {}  # cache keys of steps whose inputs were hashed at start
        self._running: dict[str, _Running] = {}
        self._log_rotation = LogRotation(
            plan.log_limits,
            self._log_paths.__getitem__,
            lambda name: self.recorder.event("log_rotated", name),
        )
        self._base_env = base_environment(plan, execution_id, run_dir, base_env)
        self.containment = containment or choose_containment(execution_id, run_dir.root)
        #: Where units run, by the name steps give in ``runner:`` (local: process groups here).
        self.runners: Mapping[str, Runner] = runners or {"local": LocalRunner(self.containment)}
        self._samplers = {name: runner.sampler() for name, runner in self.runners.items()}
        self._hooks = HookRunner(
            plan,
            run_dir=run_dir,
            recorder=self.recorder,
            base_env=self._base_env,
            local=self.runners["local"],
            journal=self._journal_spawn,
        )
        #: Each step's p95 from earlier runs (None: too little history), read at the first
        #: sample that sees it running: steps that end sooner never query it; and the alerts
        #: raised per (step, attempt).
        self._duration_limits: dict[str, DurationLimit | None] = {}
        self._raised: dict[tuple[str, int], frozenset[str]] = {}
        self._init_progress()

    def _init_progress(self) -> None:
        """Where the execution stands: nothing run, stopped or settled yet (but what the
        scheduler starts as done)."""
        self._stop_reason: str | None = None
        self._prepare_failed = False
        self._gated: list[str] = []  # why each gated step was: the run's reason names them
        self._failed_gates: dict[str, str] = {}  # step → its failed gates, named
        self._run: ExecutionRun | None = None  # the run the steps are part of, once begun
        self._fault: str | None = None  # why a side task of the run stopped it
        self._timed_out_execution = False
        self._done: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Set once the prepare hooks have run (``prepare_ok`` says how): a fleet sharing the
        #: execution starts its services only after them.
        self.prepared = asyncio.Event()
        self.prepare_ok = False
        # Set when a step has ended for good (services may wait for that).
        self._settled = {name: asyncio.Event() for name in self._steps}
        self._service_env: dict[str, dict[str, str]] = {}  # step → the fleet's URLs
        # The group commit: successes queued for the store but not known committed (all
        # queued while ``recorder.commits`` was ``_fresh_mark``), and the steps that need one
        # of them, held (running to the scheduler) until the turn's transaction is in.
        self._fresh: set[str] = set()
        self._fresh_mark = 0
        self._held: list[str] = []
        self._turn_due = False
        self._commit_waiters: list[asyncio.Future[None]] = []
        for name, state in self.scheduler.state.items():
            if state.finished:
                self._settled[name].set()

    # -- public -----------------------------------------------------------------------------

    async def run(self) -> ExecutionState:
        """The whole execution: record it running, run the steps and the hooks, record how it
        ended."""
        run = ExecutionRun(
            execution_id=self.execution_id,
            run_dir=self.run_dir,
            store=self.store,
            recorder=self.recorder,
            containment=self.containment,
            on_fault=self.fault,
        )
        run.begin(total=len(self._steps), max_parallel=self.plan.max_parallel, mode=self.plan.mode)
        try:
            await self.run_steps(run)
        finally:
            await self.run_cleanup()
            state = self.final_state()
            counts = {s.value: n for s, n in self.scheduler.counts().items()}
            # The reason too, so events.jsonl alone can restore the record.
            await run.end(
                state, self.outcome_reason(), duration=time.time() - run.started, counts=counts
            )
        return state

    def fault(self, reason: str) -> None:
        """A side task of the run died: the execution stops and fails with ``reason``."""
        self._fault = self._fault or reason
        self.request_stop(reason)

    async def run_steps(self, run: ExecutionRun) -> None:
        """The prepare hooks, then every step to its end, within ``run`` (this executor's own,
        or that of a fleet running these steps beside its services)."""
        self._loop = asyncio.get_running_loop()
        self._done = self._loop.create_future()
        self._run = run
        private_dir(self.run_dir.metrics)  # once per run: each attempt only gets a file name
        side = [
            run.side_task("sampling", self._sample_periodically()),
            run.side_task("checkpoint", self._checkpoint_periodically()),
        ]
        deadline = (
            self._loop.call_later(self.plan.timeout, self._execution_timed_out)
            if self.plan.timeout
            else None
        )
        try:
            # Stopped before it began (a fleet sharing the execution failed at once): no hook.
            prepared = self._stop_reason is None and await self._hooks.run(
                "prepare", self.plan.prepare
            )
            self.prepare_ok = prepared
            self.prepared.set()
            if not prepared and self._stop_reason is None:
                self._prepare_failed = True
                self._skip(self.scheduler.drain("not started: a prepare hook failed"))
            elif self._stop_reason is None:
                self._record_disabled()
                self._pump()
                if not self._done.done():
                    await self._done
        finally:
            self.prepared.set()
            if deadline:
                deadline.cancel()
            await run.stop_tasks(side)

    async def run_cleanup(self) -> None:
        """The cleanup hooks (they always run), then the temporary files (kept in debug)."""
        await self._hooks.run("cleanup", self.plan.cleanup)
        if self.plan.mode != "debug":
            shutil.rmtree(self.run_dir.tmp, ignore_errors=True)

    def outcome_reason(self) -> str | None:
        return (
            self._fault
            or self._stop_reason
            or (self.prepare_failure if self._prepare_failed else None)
            or ("; ".join(self._gated) if self._gated else None)
        )

    @property
    def prepare_failure(self) -> str:
        """Why the prepare hooks failed: the command and how it ended."""
        return self._hooks.prepare_failure

    @property
    def prepare_failed(self) -> bool:
        """A prepare hook failed (rather than was stopped, or never ran)."""
        return self._prepare_failed

    # -- services the steps need (a spec with steps and services) ---------------------------

    def connect(self, ports: Mapping[str, int], hosts: Mapping[str, str] | None = None) -> None:
        """The fleet's ports are known (on ``hosts``: service → its runner's host): each step
        learns every service's URL (``SHIPYARD_URL_<NAME>``), and those of the services it
        needs as ``CONNECTED_AGENTS``."""
        on = hosts or {}
        every = connection_env(ports, ports, on)
        for step in self.plan.steps:
            needed = connection_env(step.needs_services, ports, on)["CONNECTED_AGENTS"]
            self._service_env[step.name] = {**every, "CONNECTED_AGENTS": needed}

    def service_ready(self, name: str) -> None:
        """A service turned healthy: steps that need it may start."""
        self.scheduler.external_ready(name)
        if self._loop is not None and self.prepare_ok:
            self._pump()

    def service_failed(self, name: str) -> None:
        """A service will not be healthy (failed, never started): steps needing it are
        skipped."""
        self._skip(self.scheduler.external_failed(name))
        self._check_done()

    async def outcome(self, name: str) -> bool:
        """Wait until step ``name`` has ended for good: True if it succeeded (or is disabled)."""
        await self._settled[name].wait()
        while self._uncommitted(name):
            # A service that needs this step starts only once its success is on disk.
            assert self._loop is not None
            waiter = self._loop.create_future()
            self._commit_waiters.append(waiter)
            self._commit_soon()
            await waiter
        return self.scheduler.state[name] in (UnitState.SUCCEEDED, UnitState.DISABLED)

    def stop_gracefully(self, reason: str, *, grace: float) -> None:
        """Start nothing more; let running steps — or a running prepare hook — finish for up
        to ``grace`` seconds, then stop them as :meth:`request_stop` does."""
        assert self._loop is not None
        if self._stop_reason is None:
            self._stop_reason = reason
            self.recorder.event("stop_requested", reason=reason, force=False, grace=grace)
        self._skip(self.scheduler.drain(f"not started: {self._stop_reason}"))
        self._hooks.stop_starting()  # no further prepare command
        if self._running or self._hooks.running == "prepare":
            self._loop.call_later(grace, self.request_stop, reason)
        self._check_done()

    def request_stop(self, reason: str = "stopped by the user", *, force: bool = False) -> None:
        """Start nothing more; stop running steps (stop signal, then SIGKILL after their grace).

        ``force`` kills every process group at once. Safe to call more than once.
        """
        first = self._stop_reason is None
        self._stop_reason = self._stop_reason or reason
        if first or force:
            self.recorder.event("stop_requested", reason=reason, force=force)
        self._skip(self.scheduler.drain(f"not started: {self._stop_reason}"))
        self._hooks.interrupt(force=force)  # a prepare hook; cleanup always runs unless forced
        for running in list(self._running.values()):
            self._stop_unit(running, reason, force=force)
        if self._held:
            self._commit_soon()  # held steps never start now: the turn skips them
        self._check_done()

    # -- steps ------------------------------------------------------------------------------

    def _pump(self) -> None:
        ready = self.scheduler.take_ready()
        if ready and self._fresh:
            ready = self._hold_uncommitted(ready)
        for name in ready:
            self._start(name)
        self._check_done()

    # -- the group commit: a success is on disk before anything that needs it starts ---------

    def _uncommitted(self, name: str) -> bool:
        if self._fresh and self.recorder.commits != self._fresh_mark:
            self._fresh.clear()  # a flush went through since they were queued
        return name in self._fresh

    def _hold_uncommitted(self, ready: list[str]) -> list[str]:
        """The steps of ``ready`` free to start now; those needing a success not yet committed
        wait for the end of this loop turn, when one transaction commits every outcome the turn
        produced (a supervisor killed before it leaves nothing started on an unrecorded
        success)."""
        now = []
        for name in ready:
            if any(self._uncommitted(need) for need in self._steps[name].needs):
                self._held.append(name)
            else:
                now.append(name)
        if self._held:
            self._commit_soon()
        return now

    def _commit_soon(self) -> None:
        """Commit at the loop's next turn: every exit handled in this one joins the batch."""
        if not self._turn_due:
            assert self._loop is not None
            self._turn_due = True
            self._loop.call_soon(self._commit_turn)

    def _commit_turn(self) -> None:
        self._turn_due = False
        if self._stop_reason is None:
            try:
                self.recorder.flush()
            except Exception:
                # The store refuses for now (locked, disk full): what is held keeps waiting, and
                # the periodic flush stops the run if the store goes on refusing.
                assert self._loop is not None
                self._loop.call_later(0.2, self._commit_soon)
                return
            self._fresh.clear()
        held, self._held = self._held, []
        for waiter in self._commit_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._commit_waiters = []
        for name in held:
            if self._stop_reason is None:
                self._start(name)
            else:
                self.scheduler.unstart(name, f"not started: {self._stop_reason}")
                self._skip([name])
        self._check_done()

    def _check_done(self) -> None:
        if (
            self._done is not None
            and not self._done.done()
            and not self._running
            and self.scheduler.finished
        ):
            self._done.set_result(None)

    def _start(self, name: str) -> None:
        assert self._loop is not None
        step = self._steps[name]
        self._attempts[name] += 1
        attempt = self._attempts[name]
        log_path = self._log_paths[name]
        stop = step.stop.signal
        env = {**self._base_env, **self._service_env.get(name, {}), **step.env}
        env["SHIPYARD_STEP"] = name
        env["SHIPYARD_ATTEMPT"] = str(attempt)
        env["SHIPYARD_METRICS"] = self._metrics_path(name, attempt)
        inputs = self._inputs.get(name)
        argv = step.command.argv
        if inputs:
            env.update({input_variable(up): folder for up, folder in inputs.items()})
            if not step.command.shell:  # a shell string expands the variables itself
                argv = [fill_inputs(word, inputs) for word in argv]
        # Noted before the spawn: a number a process was given is never given again.
        self._note(start_line(name, attempt, time.time()))
        if inputs:
            missing = self._missing_input(step)
            if missing is not None:
                self._spawn_failed(step, attempt, missing)
                return
        if step.inputs:
            # A link among the inputs that leads out of the workdir: refused before it is read.
            outside = refused(step.workdir, step.inputs, "input")
            if outside is not None:
                self._spawn_failed(step, attempt, outside)
                return
            # Inputs are hashed before the step runs: it may well change them.
            self._keys[name] = step_key(step)
        if attempt > 1:
            with open(open_private(log_path), "a", encoding="utf-8") as log:
                header = attempt_header(attempt, self._earlier[name], step.retries.count)
                log.write(f"==> shipyard: {header}\n")
        try:
            if step.mpi is not None:
                from shipyard.engine.mpi import mpirun_argv  # only MPI steps need it

                argv = mpirun_argv(step, self.plan, self.run_dir.root / "mpi", argv, env)
            launch = UnitLaunch(
                name,
                argv,
                env,
                self._cwds[name],
                log_path,
                stop,
                step.slurm,
                starts_ranks=step.mpi is not None,
            )
            handle = self.runners[step.runner].start(launch)
        except SpawnError as error:
            self._spawn_failed(step, attempt, str(error))
            return
        except Exception as error:
            # Anything else that slips through (validation should have refused it) must still
            # end the unit with a reason: raised here it would leave it pending under a failed
            # execution, or, from an exit callback, leave the run waiting forever.
            self._spawn_failed(step, attempt, f"cannot start: {type(error).__name__}: {error}")
            return
        self._journal_spawn(handle)
        running = _Running(
            step, attempt, handle, stop_context=StopContext(env, launch.cwd, log_path)
        )
        self._running[name] = running
        if step.timeout is not None:
            running.timeout_handle = self._loop.call_later(step.timeout, self._timed_out, name)
        handle.exited.add_done_callback(lambda future: self._leader_exited(name, future))
        self.recorder.event(
            "unit_started", name, attempt=attempt, pid=handle.pid, command=step.command.display
        )
        self.recorder.write(
            self.store.update_unit,
            self.execution_id,
            name,
            state=UnitState.RUNNING,
            attempts=attempt,
            started_at=handle.started if self._first_in_run(name, attempt) else None,
            pid=handle.pid,
        )

    def _missing_input(self, step: PlannedStep) -> str | None:
        """Why the step cannot start: an upstream step's artifacts folder, or a file or folder
        it declared, is not there (removed since it was copied); None when all are."""
        for upstream, folder in self._inputs[step.name].items():
            up = self._steps[upstream]
            if not up.enabled:
                continue  # a disabled step handed nothing over; its dependants run as told
            if not os.path.isdir(folder):  # noqa: PTH112 - a string, once per start
                return (
                    f"input missing: the artifacts folder of '{upstream}' ({folder}) is gone; "
                    "not started"
                )
            for declared in up.outputs:
                path = Path(folder) / confined_path(declared)
                if not path.exists():
                    return (
                        f"input missing: '{declared}' from '{upstream}' is not in its artifacts "
                        f"folder ({path}); not started"
                    )
        return None

    def _first_in_run(self, name: str, attempt: int) -> bool:
        """Is this the step's first attempt in this run? Its record's start is that attempt's:
        a resumed step's time is not the gap since the run before."""
        return attempt == self._earlier[name] + 1

    def _note(self, line: bytes) -> None:
        assert self._run is not None
        self._run.note_attempt(line)

    def _journal_spawn(self, handle: Handle) -> None:
        assert self._run is not None
        self._run.journal(handle.journal_entry())

    def _spawn_failed(self, step: PlannedStep, attempt: int, message: str) -> None:
        with open(open_private(self.run_dir.log_for(step.name)), "a", encoding="utf-8") as log:
            log.write(f"==> shipyard: {message}\n")
        # A command that cannot start will not start on retry either: fail at once.
        self._finish(
            step.name,
            attempt,
            Verdict(UnitState.FAILED, message, retryable=False),
            _Ended(
                started_at=datetime.now(UTC),
                exit_code=127,
                signal=None,
                pid=None,
                resources=ResourceUsage(),
            ),
        )

    def _leader_exited(self, name: str, future: asyncio.Future[ExitStatus]) -> None:
        running = self._running.get(name)
        if running is None or future.cancelled():
            return
        running.exit = future.result()
        if running.timeout_handle is not None:
            running.timeout_handle.cancel()
        if running.terminating is not None:
            return  # the termination task completes the unit once the group is empty
        if running.handle.leftovers():
            # The command is done but left processes behind, in its group or out of it (setsid):
            # they go too, so a finished step never leaves orphans running.
            running.leftovers_killed = True
            self._terminate(running, running.step.stop.timeout)
            return
        self._complete(running)

    def _timed_out(self, name: str) -> None:
        running = self._running.get(name)
        if running is None or running.terminating is not None:
            return
        running.timed_out = True
        self.recorder.event("unit_timed_out", name, attempt=running.attempt)
        self._terminate(running, running.step.stop.timeout)

    def _stop_unit(self, running: _Running, reason: str, *, force: bool) -> None:
        running.cancel_reason = running.cancel_reason or reason
        if force:
            running.handle.kill()
        if running.terminating is None:
            self._terminate(running, 0.0 if force else running.step.stop.timeout)

    def _terminate(self, running: _Running, grace: float) -> None:
        stopping = stop_unit(running.handle, running.step.stop, running.stop_context, grace=grace)
        running.terminating = asyncio.ensure_future(stopping)
        running.terminating.add_done_callback(lambda _: self._group_gone(running))

    def _group_gone(self, running: _Running) -> None:
        if running.exit is None:
            # The group is empty, so the leader is dead; its exit callback is on its way.
            running.handle.exited.add_done_callback(lambda _: self._complete(running))
            return
        self._complete(running)

    def _complete(self, running: _Running) -> None:
        name = running.step.name
        if self._running.get(name) is not running:
            return
        del self._running[name]
        running.handle.close()  # empty by now: its group and everything that left it are gone
        status = running.exit
        assert status is not None
        resources = self._samplers[running.step.runner].finish(name, cpu_seconds=status.cpu_seconds)
        ok = status.succeeded(running.step.success_exit_codes)
        verdict = judge_exit(
            ok=ok,
            described="" if ok else status.describe(),
            cancel_reason=running.cancel_reason,
            timed_out=running.timed_out,
            timeout=running.step.timeout,
        )
        if verdict.state == UnitState.SUCCEEDED:
            failure = self._collect_outputs(running.step)
            if failure is not None:
                verdict = Verdict(UnitState.FAILED, *failure)
            elif running.leftovers_killed:
                verdict = Verdict(UnitState.SUCCEEDED, LEFTOVERS_STOPPED, retryable=False)
        self._finish(
            name,
            running.attempt,
            verdict,
            _Ended(
                started_at=datetime.fromtimestamp(running.handle.started, UTC),
                exit_code=status.returncode,
                signal=status.signal,
                pid=running.handle.pid,
                resources=resources,
            ),
        )

    def _finish(self, name: str, attempt: int, verdict: Verdict, ended: _Ended) -> None:
        """Record one attempt's outcome; retry the step if :func:`decide_retry` says so, else
        let the scheduler decide what follows."""
        step = self._steps[name]
        reading = metrics.read(self._metrics_path(name, attempt), name, attempt)
        if verdict.state == UnitState.SUCCEEDED and step.gates:
            verdict = self._judge_gates(step, attempt, reading, verdict)
        decision = decide_retry(
            verdict,
            attempt=attempt - self._earlier[name],  # the retries are this run's
            retries=step.retries,
            stopping=self._stop_reason is not None,
        )
        key = None
        if verdict.state in (UnitState.SUCCEEDED, UnitState.GATED):
            # A gated step's result may yet be approved (then resumed from): it keeps its key.
            key = self._keys.pop(name, None) or step_key(step)
        retrying = decision.delay is not None
        # The outcome reaches the attempt journal before anything else happens because of it.
        self._note(
            end_line(
                name,
                attempt,
                Ending(
                    state=verdict.state,
                    started_at=ended.started_at.timestamp(),
                    ended_at=ended.at.timestamp(),
                    exit_code=ended.exit_code,
                    signal=ended.signal,
                    pid=ended.pid,
                    reason=verdict.reason,
                    cache_key=key,
                    retrying=retrying,
                ),
            )
        )
        self._record_metrics(name, attempt, ended, reading)
        self._record_attempt(name, attempt, verdict, ended, key, retrying=retrying)
        if decision.delay is not None:
            self._retry_later(name, attempt, decision.delay, verdict, ended)
            return
        self.recorder.write(
            self.store.update_unit,
            self.execution_id,
            name,
            state=verdict.state,
            attempts=attempt,
            started_at=ended.started_at.timestamp() if self._first_in_run(name, attempt) else None,
            ended_at=ended.at.timestamp(),
            exit_code=ended.exit_code,
            reason=verdict.reason,
            cache_key=key,
        )
        self._settle(name, verdict.state, verdict.reason)

    def _judge_gates(
        self, step: PlannedStep, attempt: int, reading: metrics.Reading | None, verdict: Verdict
    ) -> Verdict:
        """The step exited 0 and its outputs are in: its gates decide whether it succeeded
        (each verdict an event) or is ``gated``, never retried (the same code would measure
        the same)."""
        values = gates.last_values(reading.metrics if reading is not None else [])
        verdicts = gates.judge_all(step.gates, values)
        self.recorder.event(
            "gates_checked",
            step.name,
            attempt=attempt,
            gates=[
                {
                    "gate": gates.describe(v.gate),
                    "metric": v.gate.metric,
                    "op": v.gate.op,
                    "threshold": v.gate.threshold,
                    "value": v.value,
                    "passed": v.passed,
                    "message": v.message,
                }
                for v in verdicts
            ],
        )
        failed = gates.failure_reason(verdicts)
        if failed is None:
            return verdict
        self._failed_gates[step.name] = ", ".join(
            gates.describe(v.gate) for v in verdicts if not v.passed
        )
        return Verdict(UnitState.GATED, failed, retryable=False)

    def _metrics_path(self, name: str, attempt: int) -> str:
        # Two strings added (~0.2 µs; os.path.join ~1.2, pathlib more): made at every start.
        return self._metrics_prefix + metrics.file_name(name, attempt)

    def _record_metrics(
        self, name: str, attempt: int, ended: _Ended, reading: metrics.Reading | None
    ) -> None:
        """The figures the attempt reported (``reading``: its metrics file, read once), queued
        with its end record (one transaction: they are committed when its end is); what was
        passed over is noted once, as an event."""
        if reading is None:
            return  # the common case: the step reported nothing
        if reading.metrics:
            self.recorder.write(
                self.store.save_metrics,
                self.execution_id,
                reading.metrics,
                recorded_at=ended.at.timestamp(),
            )
        if reading.first_bad is not None:
            line, why = reading.first_bad
            self.recorder.event(
                "metrics_skipped",
                name,
                attempt=attempt,
                line=line,
                reason=why,
                lines=reading.bad_lines,
                path=self._metrics_path(name, attempt),
            )
        if reading.cut is not None:
            self.recorder.event(
                "metrics_cut", name, attempt=attempt, reason=reading.cut, kept=len(reading.metrics)
            )

    def _record_attempt(
        self,
        name: str,
        attempt: int,
        verdict: Verdict,
        ended: _Ended,
        key: str | None,
        *,
        retrying: bool,
    ) -> None:
        self.recorder.write(
            self.store.save_attempt,
            self.execution_id,
            Attempt(
                unit=name,
                number=attempt,
                state=verdict.state,
                started_at=ended.started_at,
                ended_at=ended.at,
                exit_code=ended.exit_code,
                signal=ended.signal,
                reason=verdict.reason,
                pid=ended.pid,
                resources=ended.resources,
            ),
            key,
        )
        duration = (ended.at - ended.started_at).total_seconds()
        self.recorder.event(
            "unit_finished",
            name,
            attempt=attempt,
            state=verdict.state.value,
            exit_code=ended.exit_code,
            signal=ended.signal,
            reason=verdict.reason,
            duration=round(duration, 4),
            retrying=retrying,
        )

    def _retry_later(
        self, name: str, attempt: int, delay: float, verdict: Verdict, ended: _Ended
    ) -> None:
        """The slot is free during the backoff (state ``retrying``); the step comes back at
        the front of the queue once it is due."""
        assert self._loop is not None
        self.scheduler.retrying(name)
        self._retrying[name] = (verdict.reason or "failed", ended.at.timestamp())
        self.recorder.event("unit_retrying", name, attempt=attempt + 1, delay=round(delay, 3))
        self.recorder.write(
            self.store.update_unit,
            self.execution_id,
            name,
            state=UnitState.RETRYING,
            exit_code=ended.exit_code,
            reason=verdict.reason,
        )
        self._loop.call_later(delay, self._retry_due, name)
        self._pump()

    def _settle(self, name: str, state: UnitState, reason: str | None = None) -> None:
        """Step ``name`` has ended for good as ``state``: what needs it may start, or is
        skipped; under fail_fast a failure stops the others. ``reason``: why it was gated."""
        if state == UnitState.SUCCEEDED:
            if not self._fresh or self.recorder.commits != self._fresh_mark:
                self._fresh = set()
                self._fresh_mark = self.recorder.commits
            self._fresh.add(name)
            self.scheduler.succeeded(name)
        elif state == UnitState.GATED:
            self._gated.append(f"step '{name}' was gated: {reason}")
            named = self._failed_gates.get(name, "a gate")
            self._skip(self.scheduler.failed(name, state=state, why=f"was gated ({named} failed)"))
        else:
            self._skip(self.scheduler.failed(name, state=state))
            if state == UnitState.FAILED and self.plan.failure_strategy == "fail_fast":
                for other in list(self._running.values()):
                    self._stop_unit(
                        other,
                        f"stopped: '{name}' failed (failure_strategy: fail_fast)",
                        force=False,
                    )
        self._settled[name].set()
        self._pump()

    def _collect_outputs(self, step: PlannedStep) -> tuple[str, bool] | None:
        """Copy the step's declared outputs into artifacts/<step>/. Returns why the step must
        count as failed, and whether a retry may help: a declared output is missing (yes), or it
        (or a link inside it) leads out of the workdir (no; nothing at all is copied then)."""
        if not step.outputs:
            return None  # the common case, kept free of pathlib and stat calls
        found: list[tuple[str, list[tuple[str, Path]]]] = []
        for declared in step.outputs:
            try:
                found.append((declared, confined_files(step.workdir, declared)))
            except OutsideWorkdir as error:
                return f"declared output {error.message}: refused, nothing was copied", False
            except OSError:
                return f"declared output '{declared}' was not written", True
        artifacts = self.run_dir.artifacts / step.name
        recorded: list[Artifact] = []
        for declared, files in found:
            target = artifacts / confined_path(declared)
            try:
                for relative, source in files:
                    copied = target / relative if relative else target
                    size, digest = _copy(source, copied)
                    path = copied.relative_to(artifacts).as_posix()
                    recorded.append(Artifact(step.name, path, size, digest))
            except OSError as error:
                return f"declared output '{declared}' could not be copied: {error}", True
        # In events.jsonl too, before the store (the recorder's order): what a rebuilt store
        # takes the records from, digests included — re-hashing the folder then would record
        # whatever it holds by then, not what the dependants were handed.
        parts = max(1, -(-len(recorded) // ARTIFACTS_PER_EVENT))
        for part in range(parts):
            chunk = recorded[part * ARTIFACTS_PER_EVENT : (part + 1) * ARTIFACTS_PER_EVENT]
            self.recorder.event(
                "artifacts_recorded",
                step.name,
                part=part + 1,
                parts=parts,
                files=[[a.path, a.size, a.sha256] for a in chunk],
            )
        # With the attempt's end (one transaction): what a dependant is handed is on record
        # before it starts.
        self.recorder.write(
            self.store.save_artifacts,
            self.execution_id,
            step.name,
            recorded,
            recorded_at=time.time(),
        )
        return None

    def _retry_due(self, name: str) -> None:
        self._retrying.pop(name, None)
        self.scheduler.retry_due(name)
        self._pump()

    def _skip(self, names: list[str]) -> None:
        for name in names:
            self._settled[name].set()
            reason = self.scheduler.reason.get(name, "not started")
            if self.scheduler.state[name] == UnitState.CANCELLED:
                self._call_off_retry(name, reason)
                continue
            self.recorder.event("unit_skipped", name, reason=reason)
            self.recorder.write(
                self.store.update_unit,
                self.execution_id,
                name,
                state=UnitState.SKIPPED,
                reason=reason,
            )

    def _call_off_retry(self, name: str, reason: str) -> None:
        """A step waiting for its retry when the run stopped: cancelled, ending when its last
        attempt did (it showed ``skipped``, "not started", with no end, its time growing)."""
        last, ended_at = self._retrying.pop(name)
        why = f"{last}; retry cancelled: {reason.removeprefix('not started: ')}"
        self.recorder.event("unit_retry_cancelled", name, state="cancelled", reason=why)
        self.recorder.write(
            self.store.update_unit,
            self.execution_id,
            name,
            state=UnitState.CANCELLED,
            ended_at=ended_at,
            reason=why,
        )

    def _record_disabled(self) -> None:
        for name, state in self.scheduler.state.items():
            if state == UnitState.DISABLED:
                self.recorder.write(
                    self.store.update_unit,
                    self.execution_id,
                    name,
                    state=UnitState.DISABLED,
                    reason="enabled: false",
                )

    def _execution_timed_out(self) -> None:
        self._timed_out_execution = True
        limit = format_duration(self.plan.timeout or 0)
        self.request_stop(f"the execution timed out after {limit}")

    # -- liveness ---------------------------------------------------------------------------

    async def _checkpoint_periodically(self) -> None:
        """Automatic checkpoints (``execution.checkpoint_interval``), taken on a thread: waiting
        for a step's ready file must not stall the loop."""
        interval = self.plan.checkpoint_interval
        take = self._checkpointer
        if not interval or take is None:
            return
        while True:
            await asyncio.sleep(interval)
            running = {name: r.handle.pid for name, r in self._running.items() if r.exit is None}
            if not running:
                continue
            states = {name: state.value for name, state in self.scheduler.state.items()}
            try:
                taken = await asyncio.to_thread(
                    take,
                    self.run_dir,
                    self.plan,
                    self.execution_id,
                    states=states,
                    running=running,
                    reason="automatic",
                )
            except (ShipyardError, OSError) as error:
                self.recorder.event("checkpoint_failed", reason=str(error))
            else:
                self.recorder.event("checkpoint_created", id=taken.id, bytes=taken.bytes)

    # -- resources --------------------------------------------------------------------------

    async def _sample_periodically(self) -> None:
        interval = self.plan.sample_interval
        if interval <= 0 and not self.plan.log_limits:
            return
        while True:
            # With sampling off (interval 0), log limits are still checked every second.
            await asyncio.sleep(interval if interval > 0 else 1.0)
            live = {name: r for name, r in self._running.items() if r.exit is None}
            if not live:
                continue
            await self._log_rotation.check(live)
            if interval > 0:
                self._sample(live)
                self._check_alerts(live)

    def _sample(self, live: dict[str, _Running]) -> None:
        """One sample of the running steps, through their runners' samplers. The latest figures
        go to the store as provisional attempt rows (replaced when the attempt ends), so
        `status` in another shell shows them."""
        for runner, sampler in self._samplers.items():
            sampler.sample({n: r.handle for n, r in live.items() if r.step.runner == runner})
        for name, sampled in live.items():
            usage = self._samplers[sampled.step.runner].current(name)
            running = self._running.get(name)
            if usage is None or running is None:
                continue
            self.recorder.write(
                self.store.save_attempt,
                self.execution_id,
                Attempt(
                    unit=name,
                    number=running.attempt,
                    state=UnitState.RUNNING,
                    started_at=datetime.fromtimestamp(running.handle.started, UTC),
                    ended_at=None,
                    pid=running.handle.pid,
                    resources=usage,
                ),
            )

    def _check_alerts(self, live: dict[str, _Running]) -> None:
        """Raise the alerts :func:`shipyard.alerts.due_alerts` calls for, as ``alert`` events,
        once per step attempt and kind."""
        limits = self._duration_limits
        unseen = [name for name in live if name not in limits]
        if unseen:
            history = self.store.step_durations(self.plan.name, unseen, last=HISTORY_RUNS)
            for name in unseen:
                limits[name] = duration_limit(history.get(name, []))
        now = time.time()
        for name, running in live.items():
            if self._running.get(name) is not running:
                continue
            usage = self._samplers[running.step.runner].current(name)
            look = UnitLook(
                rss_bytes=usage.rss_now_bytes if usage is not None else None,
                elapsed_seconds=now - running.handle.started,
                memory_limit=running.step.resources.memory,
                duration=limits.get(name),
            )
            key = (name, running.attempt)
            raised = self._raised.get(key, frozenset())
            for kind, message in due_alerts(look, raised):
                raised |= {kind}
                self.recorder.event(
                    "alert", name, attempt=running.attempt, kind=kind, message=message
                )
            self._raised[key] = raised

    # -- outcome ----------------------------------------------------------------------------

    def final_state(self) -> ExecutionState:
        states = self.scheduler.state.values()
        if self._fault or self._prepare_failed or self._timed_out_execution:
            return ExecutionState.FAILED
        if any(state in (UnitState.FAILED, UnitState.GATED) for state in states):
            return ExecutionState.FAILED
        if self._stop_reason is not None:
            return ExecutionState.CANCELLED
        if all(state in (UnitState.SUCCEEDED, UnitState.DISABLED) for state in states):
            return ExecutionState.SUCCEEDED
        return ExecutionState.FAILED


def _scheduler(plan: Plan, capacity: tuple[int, int], done: set[str]) -> Scheduler:
    """The scheduler of ``plan``'s steps on a machine of ``capacity`` (cores, bytes); the
    fleet's services are external units it waits on."""
    cores, memory = capacity
    return Scheduler(
        (
            StepDemand(
                name=step.name,
                needs=(*step.needs, *step.needs_services),
                cpus=step.resources.cpus or 0.0,
                memory=step.resources.memory or 0,
                enabled=step.enabled,
            )
            for step in plan.steps
        ),
        Capacity(slots=plan.max_parallel, cpus=float(cores), memory=memory),
        keep_going=plan.failure_strategy == "continue",
        done=done,
        external=[service.name for service in plan.services],
    )


#: Bytes read at a time while copying an output: memory stays this, whatever the file's size.
COPY_CHUNK = 1024 * 1024


def _copy(source: Path, target: Path) -> tuple[int, str]:
    """An independent copy, never a hard link: writing to the artifact must not change the
    step's file (or what it pointed at), nor the other way round. Whatever was at ``target``
    (a file of an earlier attempt, a link the step planted there) is removed, not written
    through. Returns the copy's size and SHA-256, hashed as it is written (one read of the
    file, in chunks)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as reader, target.open("xb") as writer:
        while chunk := reader.read(COPY_CHUNK):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
    shutil.copystat(source, target)
    return size, digest.hexdigest()


def _input_folders(plan: Plan, run_dir: RunDir) -> dict[str, dict[str, str]]:
    """Step → {a step it needs that declares outputs → that step's artifacts folder}."""
    handing = {step.name for step in plan.steps if step.outputs}
    return {
        step.name: {up: str(run_dir.artifacts / up) for up in step.needs if up in handing}
        for step in plan.steps
        if handing.intersection(step.needs)
    }


__all__ = ["PipelineExecutor", "machine_capacity"]
