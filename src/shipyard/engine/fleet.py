"""The fleet executor: long-running services, started stage by stage, watched, restarted, stopped.

Each service is its own process group, started with its port and its connections in the
environment. Its exit is seen at once through its pidfd (no polling), its health by a probe task;
restarts follow its policy with exponential backoff and jitter, its restart count going back to
zero after it has been up ``reset_after``. Shutdown goes in reverse start order: the stop signal
to the whole group, SIGKILL after the timeout, and a service is reported stopped only once its
group is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shipyard.engine.containment import Containment, choose_containment
from shipyard.engine.guard import start_watchdog, stop_watchdog
from shipyard.engine.health import Listener, LogWatch, ProbeResult, probe
from shipyard.engine.hooks import HookRunner
from shipyard.engine.logrotation import LogRotation
from shipyard.engine.portclaims import PortClaims
from shipyard.engine.recorder import Observer, Recorder
from shipyard.engine.restarts import RestartDecision, decide_restart, used_up
from shipyard.engine.runners.base import (
    ExitStatus,
    Handle,
    Runner,
    Sampler,
    SpawnError,
    UnitLaunch,
)
from shipyard.engine.runners.local import LocalRunner
from shipyard.engine.runtime import ExecutionRun, base_environment
from shipyard.engine.stopping import StopContext, stop_unit
from shipyard.engine.wiring import HOST, allocate_ports, service_url, wiring_env
from shipyard.errors import ShipyardError
from shipyard.models import Attempt, ExecutionState, UnitState
from shipyard.plan.model import HealthSettings, Plan, PlannedService
from shipyard.store.base import Store
from shipyard.unitview import shown_health
from shipyard.workspace import RunDir

if TYPE_CHECKING:
    from shipyard.engine.canary import FleetCanary
    from shipyard.engine.executor import Checkpointer, PipelineExecutor
    from shipyard.rollout.proxy import CanaryProxy


@dataclass
class _Service:
    planned: PlannedService
    env: dict[str, str]
    port: int | None
    launched: Handle | None = None  # the current start: every process of it, in its group or not
    health: str = "starting"  # starting | healthy | unhealthy
    restarts: int = 0  # every restart of this execution: what `ps` shows, never reset
    streak: int = 0  # restarts since it was last stable: what max_restarts and backoff count
    started: float = 0.0  # monotonic time of the latest start
    listener: Listener = field(default_factory=lambda: Listener(None, HOST))  # who is on port
    log_watch: LogWatch | None = None  # a log_line check's reading of its current start's log
    healthy: asyncio.Event = field(default_factory=asyncio.Event)
    started_once: asyncio.Event = field(default_factory=asyncio.Event)
    gave_up: asyncio.Event = field(default_factory=asyncio.Event)  # failed: it stays down
    #: It exited and its restart policy keeps it down ("no", or "on-failure" after code 0):
    #: `up` waiting for it must hear it at once, and `down` must keep how it ended.
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    probe: asyncio.Task[None] | None = None
    pending_restart: asyncio.TimerHandle | None = None
    stopping: bool = False
    #: Being stopped for failing its probes (stop signal, grace, SIGKILL): its exit is
    #: handled once that stop is over, not when its leader exits.
    ending_unhealthy: bool = False
    last_probe: ProbeResult | None = None  # what its latest health probe saw
    failed: str | None = None  # why, once it has used up its restarts
    #: It stayed down after a failure (not code 0): a fleet whose services have all ended
    #: fails when one of them did, and is merely stopped when they all ended cleanly.
    ended_failing: bool = False
    #: A service with ``rollout:``: the proxy on its public port (``port`` is then the
    #: internal one its process listens on), and its latest rollout.
    proxy: CanaryProxy | None = None
    public_port: int | None = None
    rollout: FleetCanary | None = None

    @property
    def name(self) -> str:
        return self.planned.name


def _not_in(taken: set[int], port: int) -> bool:
    return port not in taken


class FleetExecutor:
    """Brings a fleet up and keeps it up until asked to stop. Create, then ``await run()``."""

    def __init__(
        self,
        plan: Plan,
        *,
        execution_id: str,
        run_dir: RunDir,
        store: Store,
        observer: Observer | None = None,
        base_env: dict[str, str] | None = None,
        done: Iterable[str] = (),
        attempts: Mapping[str, int] | None = None,
        containment: Containment | None = None,
        checkpointer: Checkpointer | None = None,
        runners: Mapping[str, Runner] | None = None,
    ) -> None:
        """A plan with steps too (``kind == "mixed"``) runs them beside the services, through
        a :class:`PipelineExecutor` sharing this execution; ``done`` and ``attempts`` are its.
        ``containment``: how each unit's processes are tracked (shared with the steps).
        ``checkpointer``: takes the steps' automatic checkpoints. ``runners``: where units run,
        by name (default: ``{"local": LocalRunner(containment)}``), shared with the steps."""
        self.plan = plan
        self.execution_id = execution_id
        self.run_dir = run_dir
        self.store = store
        self.recorder = Recorder(store, execution_id, run_dir.events, observer=observer)
        self.containment = containment or choose_containment(execution_id, run_dir.root)
        self.runners: Mapping[str, Runner] = runners or {"local": LocalRunner(self.containment)}
        #: service → the host it runs on (its runner's): its port and probes are there.
        self._hosts = {s.name: self.runners[s.runner].host for s in plan.services}
        self._pipeline: PipelineExecutor | None = None
        if plan.steps:
            from shipyard.engine.executor import PipelineExecutor

            self._pipeline = PipelineExecutor(
                plan,
                execution_id=execution_id,
                run_dir=run_dir,
                store=store,
                base_env=base_env,
                done=done,
                attempts=attempts,
                recorder=self.recorder,
                containment=self.containment,
                checkpointer=checkpointer,
                runners=self.runners,
            )
        self._steps_running = self._pipeline is not None
        self._steps_finished = False  # the steps ended before anything else stopped the run
        self._graceful_stop: str | None = None  # the fleet goes once the steps have ended
        self._base_env = base_environment(plan, execution_id, run_dir, base_env)
        #: The hooks of a fleet without steps (with steps, the pipeline runs them).
        self._hooks: HookRunner | None = None
        if self._pipeline is None:
            self._hooks = HookRunner(
                plan,
                run_dir=run_dir,
                recorder=self.recorder,
                base_env=self._base_env,
                local=self.runners["local"],
                journal=self._journal,
            )
        self._services: dict[str, _Service] = {}
        self._restarted: set[str] = set()  # started since the sampler last looked
        self._tasks: set[asyncio.Task[None]] = set()  # kept referenced until they end
        self._stop = asyncio.Event()
        #: Bring-up got past the prepare hooks: services start (and may be started, stopped).
        self._prepared = False
        self._up = asyncio.Event()  # every service came up (see wait_healthy)
        self._stop_reason: str | None = None
        self._forced = False  # a force stop was asked for
        self._failure: str | None = None
        self._run: ExecutionRun | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The ports this fleet took, held until it has come down (so no fleet brought up at
        #: the same moment takes one before its service listens).
        self._claims = PortClaims()

    # -- public -----------------------------------------------------------------------------

    def request_stop(self, reason: str = "brought down", *, force: bool = False) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
            self.recorder.event("stop_requested", reason=reason, force=force)
        if self._pipeline is not None and self._steps_running:
            self._pipeline.request_stop(reason, force=force)
        if self._hooks is not None:
            self._hooks.interrupt(force=force)  # a prepare hook; cleanup runs unless forced
        if force:
            self._forced = True  # every stop from now on is at once: no stop command, no grace
            for service in self._services.values():
                service.stopping = True
                if service.launched is not None:
                    service.launched.kill()
        self._stop.set()

    def control_service(self, action: str, name: str) -> None:
        """``shipyard service start|stop|restart`` (and ``restart``), asked over the control
        socket: checked and begun at once; the caller watches the store for the outcome."""
        service = self._services.get(name)
        if service is None:
            known = ", ".join(self._services) or "none yet"
            raise ShipyardError(f"no service '{name}' here", hint=f"services: {known}")
        if self._stop.is_set():
            raise ShipyardError("the fleet is coming down", hint="bring it up again: shipyard up")
        if not self._prepared:
            # Its services start once the hook has succeeded: a start now would be a second
            # process beside the one bring-up starts, a stop one that bring-up overrides.
            doing = "running its prepare hook" if self.plan.prepare else "starting"
            raise ShipyardError(
                f"the fleet is still {doing}; try again once it is up",
                hint=f"see when it is: shipyard status {self.execution_id}",
            )
        running = service.launched is not None and not service.launched.exited.done()
        if action == "stop":
            if service.stopping and not running:
                raise ShipyardError(f"service '{name}' is already stopped")
            self.recorder.event("service_stop_requested", name)
            self._spawn_task(self._stop_service(service, reason="stopped by request"))
        elif action == "start":
            if running and not service.stopping:
                raise ShipyardError(f"service '{name}' is already running")
            self.recorder.event("service_start_requested", name)
            self._revive(service)
        elif action == "restart":
            if not running:
                raise ShipyardError(
                    f"service '{name}' is not running", hint=f"shipyard service start … {name}"
                )
            self.recorder.event("service_restart_requested", name)
            self._spawn_task(self._restart_now(service))
        else:
            raise ShipyardError(f"unknown service action {action!r}", hint="start, stop, restart")

    def control_rollout(self, action: str, name: str, env: Mapping[str, str]) -> None:
        """``shipyard rollout start|promote|abort``, asked over the control socket: checked
        and begun at once; the caller watches the store's events for the outcome."""
        from shipyard.engine.canary import FleetCanary, refuse_rollout

        service = self._services.get(name)
        if service is None:
            known = ", ".join(self._services) or "none yet"
            raise ShipyardError(f"no service '{name}' here", hint=f"services: {known}")
        if self._stop.is_set():
            raise ShipyardError("the fleet is coming down", hint="bring it up again: shipyard up")
        refuse_rollout(service, action, service.rollout)
        if action == "start":
            if not service.healthy.is_set():
                raise ShipyardError(
                    f"service '{name}' is not healthy: a canary is judged against a healthy "
                    "stable version",
                    hint=f"shipyard service start … {name}, then start the rollout",
                )
            canary = service.rollout = FleetCanary(self, service, dict(env))
            canary.task = asyncio.ensure_future(canary.run())
            self._tasks.add(canary.task)
            canary.task.add_done_callback(self._tasks.discard)
        else:
            assert service.rollout is not None
            why = "aborted by request" if action == "abort" else "promoted by request"
            self.recorder.event(f"rollout_{action}_requested", name)
            service.rollout.controller.command("promote" if action == "promote" else "abort", why)

    async def _adopt_canary(
        self, service: _Service, handle: Handle, port: int, env: dict[str, str]
    ) -> None:
        """The canary becomes ``service``'s process (its probes, restarts and stop); then the
        old version is stopped — after the proxy sent it its last request."""
        old, old_stop = service.launched, self._stop_context(service)
        if service.probe is not None:
            service.probe.cancel()
        service.launched = handle  # the old one's exit is no longer this service's
        service.port = port
        service.env = env
        service.listener = Listener(port, self._hosts[service.name])
        service.started = time.monotonic()
        self._restarted.add(service.name)
        handle.exited.add_done_callback(lambda done: self._exited(service, handle, done))
        self._record(service, UnitState.RUNNING, started_at=handle.started)
        assert service.planned.health is not None
        service.probe = asyncio.ensure_future(self._watch_health(service, handle))
        if old is not None:
            await stop_unit(old, service.planned.stop, old_stop)
            old.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(old.exited)
            await old.release()
        self.recorder.event("rollout_old_stopped", service.name, pid=old.pid if old else None)
        self.recorder.flush()

    async def _end_rollouts(self) -> None:
        """The fleet is coming down: each running rollout ends (its canary stopped), then each
        proxy closes once its service is down."""
        for service in self._services.values():
            canary = service.rollout
            if canary is None or canary.task is None or canary.task.done():
                continue
            canary.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await canary.task
            if not canary.controller.finished:
                canary.controller.state = "aborted"
                canary.record("rollout_aborted", reason="the fleet came down")
            await canary.stop_canary()

    async def wait_healthy(self) -> dict[str, Any]:
        """Answered once every service is healthy, or the fleet failed or is coming down;
        what was recorded until then is in the store by the time the caller hears it."""
        await self._first(self._up.wait())
        self.recorder.flush()
        if self._up.is_set():
            return {"ok": True, "healthy": True}
        return {"ok": True, "healthy": False, "reason": self._failure or self._stop_reason}

    def _revive(self, service: _Service) -> None:
        """Start a stopped or failed service afresh: its restart count starts again."""
        if service.pending_restart is not None:
            service.pending_restart.cancel()
        service.failed = None
        service.gave_up.clear()
        service.ended.clear()
        service.ended_failing = False
        service.streak = 0  # the count `ps` shows goes on: this start is not a restart
        self._start(service)

    async def _restart_now(self, service: _Service) -> None:
        """Stop (signal, timeout, empty group), then start again, counted as a restart."""
        await self._stop_service(service, reason="restarting on request")
        if self._stop.is_set():
            return
        service.restarts += 1
        self.recorder.event("service_restarting", service.name, restarts=service.restarts)
        self._start(service)

    def _spawn_task(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # referenced until it ends
        task.add_done_callback(self._tasks.discard)

    def stop_gracefully(self, reason: str, *, grace: float) -> None:
        """Services have no natural end: a graceful stop is their stop signal and timeout.
        Running steps first get their ``grace`` to finish, with the services still up; so does
        a running prepare hook (the steps' executor runs it), and then no service starts."""
        if self._pipeline is not None and self._steps_running:
            self._graceful_stop = reason
            self._pipeline.stop_gracefully(reason, grace=grace)
            return
        self.request_stop(reason)

    async def run(self) -> ExecutionState:
        self._loop = asyncio.get_running_loop()
        run = self._run = ExecutionRun(
            execution_id=self.execution_id,
            run_dir=self.run_dir,
            store=self.store,
            recorder=self.recorder,
            containment=self.containment,
            on_fault=self._fail,
        )
        total = len(self.plan.services) + len(self.plan.steps)
        run.begin(total=total, kind=self.plan.kind)
        sampling = run.side_task("sampling", self._sample_periodically())
        watchdog = start_watchdog(self.run_dir)  # nothing of the fleet survives this process
        steps = self._run_steps(run) if self._pipeline is not None else None
        try:
            await self._bring_up()
            # Not when a stop held back every service (a graceful one during the prepare hook).
            if self._prepared and self._failure is None and self._stop_reason is None:
                self.recorder.event("fleet_up", services=len(self._services))
                self._up.set()
            await self._stop.wait()
        finally:
            try:
                await self._come_down(steps)
                await run.stop_tasks([sampling])
                state, reason = self._outcome()
                await run.end(state, reason)
            finally:
                self._claims.release()
                stop_watchdog(watchdog)
        return state

    async def _come_down(self, steps: asyncio.Task[None] | None) -> None:
        """The steps stopped (if they still run), the services shut down in reverse start
        order, then the cleanup hooks (whatever happened, as after a pipeline's steps)."""
        if steps is not None:
            if self._steps_running:
                assert self._pipeline is not None
                why = self._failure or self._stop_reason or "brought down"
                self._pipeline.request_stop(why)
            await steps
        await self._shutdown()
        if self._pipeline is not None:
            await self._pipeline.run_cleanup()
        elif self._hooks is not None:
            await self._hooks.run("cleanup", self.plan.cleanup)

    def _run_steps(self, run: ExecutionRun) -> asyncio.Task[None]:
        """The plan's steps, beside the services; once they are done, the fleet comes down
        too unless it was brought up to stay (``stay_up``)."""
        assert self._pipeline is not None
        pipeline = self._pipeline

        async def steps() -> None:
            try:
                await pipeline.run_steps(run)
            finally:
                self._steps_running = False
            if self._graceful_stop is not None:
                self.request_stop(self._graceful_stop)
            elif self._stop_reason is None and self._failure is None:
                self._steps_finished = True
                self.recorder.event("steps_finished", state=pipeline.final_state().value)
                if not self.plan.stay_up:
                    self.request_stop("its steps finished")

        return asyncio.create_task(steps())

    def _outcome(self) -> tuple[ExecutionState, str | None]:
        """The execution's end state and why. A fleet is stopped when brought down; with
        steps, their outcome counts: a failed step fails it, and a `run` that saw them all
        through succeeds (an interrupted one is cancelled)."""
        if self._failure:
            return ExecutionState.FAILED, self._failure
        if self._pipeline is None:
            return ExecutionState.STOPPED, self._stop_reason
        steps = self._pipeline.final_state()
        if steps == ExecutionState.FAILED:
            failed = [
                name
                for name, state in self._pipeline.scheduler.state.items()
                if state == UnitState.FAILED
            ]
            why = f"step {', '.join(failed)} failed" if failed else self._pipeline.outcome_reason()
            return ExecutionState.FAILED, why
        if self.plan.stay_up:
            return ExecutionState.STOPPED, self._stop_reason
        if self._steps_finished:
            return ExecutionState.SUCCEEDED, None
        return ExecutionState.CANCELLED, self._stop_reason

    # -- bringing up ------------------------------------------------------------------------

    async def _remote_port_checks(self) -> dict[str, Callable[[int], bool]]:
        """How the ports of services on other hosts are checked: by the listening ports their
        runner reads there (the ssh runner's ``listening_ports``), not by binding here. A host
        whose answer cannot be read takes any port (its service's start says why it cannot
        run); a host ssh cannot reach raises HostUnreachable, naming it."""
        checks: dict[str, Callable[[int], bool]] = {}
        for key in sorted({s.runner for s in self.plan.services if s.port is not None}):
            lookup = getattr(self.runners[key], "listening_ports", None)
            if lookup is None:
                continue
            taken: set[int] = await lookup() or set()
            for service in self.plan.services:
                if service.runner == key:
                    checks[service.name] = functools.partial(_not_in, taken)
        return checks

    async def _bring_up(self) -> None:
        """Every service starts once what it waits for is there: the services of the start
        stage before its own (healthy, or started where its depends_on says so), and the
        steps it depends on (succeeded). The prepare hooks go first: if they fail, no service
        starts."""
        try:
            free = await self._remote_port_checks()  # an unreachable host: nothing starts
            ports = allocate_ports(
                self.plan.services, self.plan.base_port, self._hosts, free, self._claims.claim
            )
        except ShipyardError as error:
            self._fail(error.message)
            return
        for planned in self.plan.services:
            env = {**self._base_env, **planned.env, **wiring_env(planned, ports, self._hosts)}
            env["SHIPYARD_SERVICE"] = planned.name
            port = ports.get(planned.name)
            self._services[planned.name] = _Service(
                planned, env, port, listener=Listener(port, self._hosts[planned.name])
            )
            proxied = planned.rollout is not None and port is not None
            if proxied and not await self._serve_through_proxy(self._services[planned.name]):
                return
        if self._pipeline is not None:
            self._pipeline.connect(ports, self._hosts)
        prepared, why = await self._prepare()
        if not prepared:
            for service in self._services.values():
                self._give_up(service, f"not started: {why}", UnitState.SKIPPED)
            return
        self._prepared = True
        starts = []
        previous: list[str] = []
        for stage in self.plan.service_stages:
            for name in stage:
                service = self._services[name]
                wanted = service.planned.depends_on
                gate = [(dep, wanted.get(dep, "healthy")) for dep in previous]
                gate += [(dep, cond) for dep, cond in wanted.items() if dep not in previous]
                starts.append(self._bring_up_one(service, gate))
            previous = stage
        await asyncio.gather(*starts)

    async def _prepare(self) -> tuple[bool, str]:
        """The prepare hooks, before any service starts: run by the pipeline (a plan with steps
        runs them before its steps) or by this fleet. ``(True, "")`` if they all succeeded and
        the fleet is still to come up; else ``(False, why)``, why no service starts: "a prepare
        hook failed" only when one did (the fleet fails with its command and how it ended),
        else the fleet's failure, or why it is coming down (a stop asked for while a hook ran,
        even one that then ended well)."""
        if self._pipeline is not None:
            await self._first(self._pipeline.prepared.wait())
            prepared = self._pipeline.prepare_ok
            hook_failed = self._pipeline.prepare_failed
            hook_failure = self._pipeline.prepare_failure
        else:
            assert self._hooks is not None
            # Stopped before it began (`down` at once): no hook.
            prepared = not self._stop.is_set() and await self._hooks.run(
                "prepare", self.plan.prepare
            )
            hook_failed = self._hooks.prepare_failed
            hook_failure = self._hooks.prepare_failure
        stopping = self._stop_reason or self._graceful_stop
        if self._failure is None and stopping is None and not prepared:
            if hook_failed:
                self._fail(hook_failure)
                return False, "a prepare hook failed"
            # The steps' executor was stopped on its own (the execution's timeout): its reason.
            self._fail(self._pipeline_reason() or hook_failure)
        if self._failure is not None:
            return False, self._failure
        if stopping is not None:
            return False, stopping
        return True, ""

    def _pipeline_reason(self) -> str | None:
        return self._pipeline.outcome_reason() if self._pipeline is not None else None

    def _journal(self, handle: Handle) -> None:
        """A process of the fleet (a hook's) in the run's spawn journal."""
        assert self._run is not None
        self._run.journal(handle.journal_entry())

    async def _serve_through_proxy(self, service: _Service) -> bool:
        """A service with ``rollout:``: its proxy on the public port, its process on an
        internal one (see :mod:`shipyard.engine.canary`)."""
        from shipyard.engine.canary import internal_port, port_env
        from shipyard.rollout.proxy import CanaryProxy

        public = service.port
        assert public is not None
        inner = internal_port()
        proxy = CanaryProxy(port=public, stable_port=inner)
        try:
            await proxy.start()
        except OSError as error:
            await proxy.close()
            self._fail(
                f"the rollout proxy of service '{service.name}' cannot serve {public}: {error}"
            )
            return False
        service.proxy, service.public_port, service.port = proxy, public, inner
        service.env.update(port_env(inner, public))
        service.listener = Listener(inner, self._hosts[service.name])
        self.recorder.event("rollout_proxy_serving", service.name, port=public, internal=inner)
        return True

    async def _bring_up_one(self, service: _Service, gate: list[tuple[str, str]]) -> bool:
        for dep, condition in gate:
            if await self._reached(dep, condition):
                continue
            if not self._stop.is_set():
                what = "step" if dep not in self._services else "service"
                self._give_up(
                    service,
                    f"not started: it depends on {what} '{dep}', which did not succeed",
                    UnitState.SKIPPED,
                )
                self._fail(f"service '{service.name}' could not start: {what} '{dep}' failed")
            elif service.launched is None:
                why = f"not started: {self._stop_reason or self._failure}"
                self._give_up(service, why, UnitState.SKIPPED)
            return False
        if self._stop.is_set():
            return False
        self._start(service)
        return await self._ready(service)

    async def _reached(self, unit: str, condition: str) -> bool:
        """Wait until ``unit`` is ``condition`` (started, healthy, completed_successfully);
        False when it never will be, or the fleet stops first."""
        if condition == "completed_successfully":
            assert self._pipeline is not None
            outcome = asyncio.ensure_future(self._pipeline.outcome(unit))
            await self._first(outcome)
            return outcome.done() and not outcome.cancelled() and outcome.result()
        other = self._services[unit]
        target = other.started_once if condition == "started" else other.healthy
        reached = asyncio.ensure_future(target.wait())
        await self._first(reached, other.gave_up.wait())
        return reached.done() and not reached.cancelled() and not self._stop.is_set()

    async def _first(self, *waits: Awaitable[object], timeout: float | None = None) -> None:
        """Wait for the first of ``waits`` — or the fleet's stop, or ``timeout`` seconds."""
        futures = {asyncio.ensure_future(wait) for wait in waits}
        futures.add(asyncio.ensure_future(self._stop.wait()))
        await asyncio.wait(futures, timeout=timeout, return_when="FIRST_COMPLETED")
        for future in futures:
            future.cancel()

    async def _ready(self, service: _Service) -> bool:
        """Wait until ``service`` is healthy; False (and the fleet fails) if it cannot be."""
        limit = service.planned.readiness_timeout
        healthy = asyncio.ensure_future(service.healthy.wait())
        await self._first(healthy, service.gave_up.wait(), service.ended.wait(), timeout=limit)
        if healthy.done() and not healthy.cancelled():
            return True  # it was healthy, even if it has crashed since
        if service.ended.is_set():  # else `up` waited out the readiness timeout for nothing
            why = f"service '{service.name}' {service.failed} while starting"
            self._fail(why + self._last_output(service))
        elif service.failed:
            why = f"service '{service.name}' failed while starting: {service.failed}"
            self._fail(why + self._last_output(service))
        elif not self._stop.is_set():
            trouble = "".join(f"; {line}" for line in self._port_trouble(service))
            if service.last_probe is not None and not service.last_probe.ok:
                trouble = f"; last probe: {service.last_probe.detail}{trouble}"
            why = f"service '{service.name}' was not healthy within {limit:g}s{trouble}"
            self._fail(why + self._last_output(service))
        return False

    def _give_up(self, service: _Service, reason: str, state: UnitState = UnitState.FAILED) -> None:
        """``service`` will not run (again): recorded, and whatever waits for it is told."""
        service.failed = reason
        service.gave_up.set()
        if self._pipeline is not None:
            self._pipeline.service_failed(service.name)
        self._record(service, state, reason=reason)

    def _fail(self, reason: str) -> None:
        if self._failure is None:
            self._failure = reason
            self.recorder.event("fleet_failed", reason=reason)
        if self._hooks is not None:
            self._hooks.interrupt(force=False)  # a prepare hook ends: nothing will start
        self._stop.set()

    def _start(self, service: _Service) -> None:
        assert self._loop is not None
        planned = service.planned
        service.stopping = False
        service.health = "starting"
        service.healthy.clear()
        launch = UnitLaunch(
            planned.name,
            planned.command.argv,
            dict(service.env),
            None if planned.workdir == os.getcwd() else planned.workdir,  # noqa: PTH109
            str(self.run_dir.log_for(planned.name)),
            planned.stop.signal,
        )
        if planned.health is not None and planned.health.log_line is not None:
            service.log_watch = LogWatch.from_start(launch.log_path, planned.health.log_line)
        try:
            handle = self._runner(service).start(launch)
        except SpawnError as error:
            self._give_up(service, str(error))
            return
        assert self._run is not None
        self._run.journal(handle.journal_entry())
        service.launched = handle
        service.started = time.monotonic()
        service.started_once.set()
        self._restarted.add(planned.name)
        handle.exited.add_done_callback(lambda done: self._exited(service, handle, done))
        self.recorder.event(
            "service_started",
            planned.name,
            pid=handle.pid,
            port=service.port,
            restarts=service.restarts,
        )
        self._record(service, UnitState.RUNNING, started_at=handle.started)
        if planned.health is None:
            self._mark_healthy(service)
        if planned.health is not None or planned.liveness is not None:
            service.probe = asyncio.ensure_future(self._watch_health(service, handle))

    def _runner(self, service: _Service) -> Runner:
        return self.runners[service.planned.runner]

    def _mark_healthy(self, service: _Service) -> None:
        service.health = "healthy"
        service.listener.taken = None  # its port is its own again
        service.healthy.set()
        self.recorder.event("service_healthy", service.name)
        self._record(service, UnitState.RUNNING)
        self.recorder.flush_soon()  # `up --wait` is waiting for exactly this
        if self._pipeline is not None:
            self._pipeline.service_ready(service.name)  # steps needing it may start

    # -- health -----------------------------------------------------------------------------

    async def _watch_health(self, service: _Service, launched: Handle) -> None:
        """Its ``health`` check until it is healthy, then — with a ``liveness`` check — that
        one alone, whose failures restart it; without one, ``health`` goes on as liveness."""
        planned = service.planned
        if planned.health is not None:
            ready_only = planned.liveness is not None
            if not await self._probe_loop(service, launched, planned.health, ready_only=ready_only):
                return
        if planned.liveness is not None:
            await self._probe_loop(service, launched, planned.liveness, ready_only=False)

    async def _probe_loop(
        self, service: _Service, launched: Handle, health: HealthSettings, *, ready_only: bool
    ) -> bool:
        """Probe as ``health`` says while this start lasts: good probes make the service
        healthy (True at once when ``ready_only``), failed ones once it is healthy make it
        unhealthy, stopped and handed to its restart policy."""
        await asyncio.sleep(health.initial_delay)
        good = bad = 0
        while not service.stopping and service.launched is launched:
            ok = await self._probe_once(service, launched, health)
            if ok:
                good, bad = good + 1, 0
                if service.health != "healthy" and good >= health.success_threshold:
                    self._mark_healthy(service)
                    if ready_only:
                        return True
            else:
                good, bad = 0, bad + 1
                if service.health == "healthy" and bad >= health.failure_threshold:
                    service.health = "unhealthy"
                    self.recorder.event(
                        "service_unhealthy",
                        service.name,
                        failed_probes=bad,
                        probe=self._seen(service),
                    )
                    self._record(service, UnitState.RUNNING)
                    # Stopped like every stop (was SIGKILL at once), in a task of its own: this
                    # one is cancelled when the leader exits. Then the restart policy decides.
                    service.probe = None
                    self._spawn_task(self._stop_unhealthy(service, launched, bad))
                    return False
            pause = health.interval
            if service.health != "healthy" and health.start_interval is not None:
                pause = health.start_interval  # quick until ready, then the liveness pace
            await asyncio.sleep(pause)
        return False

    async def _stop_unhealthy(self, service: _Service, launched: Handle, failed: int) -> None:
        """Its stop signal to its whole group, SIGKILL after its stop timeout — as ``down``
        does — then its exit goes through the restart policy like a crash's."""
        planned = service.planned
        service.ending_unhealthy = True
        try:
            await stop_unit(launched, planned.stop, self._stop_context(service))
            # Its exit callback (added at its start, so run before this task resumes) must
            # see the flag: the group can be found empty before the exit is reported.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(launched.exited)
        finally:
            service.ending_unhealthy = False
        self._spawn_task(launched.release())
        if service.stopping or service.launched is not launched:
            return  # brought down meanwhile: that stop records it
        probes = "liveness probes" if planned.liveness is not None else "probes"
        why = (
            f"unhealthy after {failed} failed {probes} (last: {self._seen(service)}); stopped "
            f"with SIG{planned.stop.signal} (SIGKILL after {planned.stop.timeout:g}s)"
        )
        self._after_exit(service, exit_ok=False, why=why)

    async def _probe_once(
        self, service: _Service, launched: Handle, health: HealthSettings
    ) -> bool:
        """One probe; its result kept (the store and a ``probe_failed`` event when what it saw
        changed: not at every probe) for ``ps``, ``status`` and failure reasons."""
        result = await self._probe(service, health)
        if result.ok and not self._answer_is_its_own(service, launched, health):
            result = ProbeResult(False, self._not_its_own(service, launched))
        if result != service.last_probe:
            service.last_probe = result
            self.recorder.write(
                self.store.update_probe,
                self.execution_id,
                service.name,
                ok=result.ok,
                detail=result.detail,
            )
            if not result.ok:
                self.recorder.event("probe_failed", service.name, detail=result.detail)
        return result.ok

    def _not_its_own(self, service: _Service, launched: Handle) -> str:
        if not launched.alive():
            return "an answer came, but the service's process is not alive"
        return f"the answer on port {service.port} came from another process" + (
            f": {service.listener.taken}" if service.listener.taken else ""
        )

    @staticmethod
    def _seen(service: _Service) -> str:
        """What its last probe saw, for a reason or an event."""
        return service.last_probe.detail if service.last_probe else "no probe answered yet"

    async def _probe(self, service: _Service, health: HealthSettings) -> ProbeResult:
        return await probe(
            health,
            name=service.name,
            host=self._runner(service).host,
            port=service.port,
            env=service.env,
            workdir=service.planned.workdir,
            log=service.log_watch,
        )

    def _answer_is_its_own(
        self, service: _Service, launched: Handle, health: HealthSettings
    ) -> bool:
        """A good probe counts only while the service's own process is alive and, for a probe
        on its port, while what listens there is its process tree (see
        :meth:`shipyard.engine.health.Listener.own_answer`)."""
        if not launched.alive():
            return False
        if health.exec is not None or health.log_line is not None:
            return True  # a command or its log: the process being alive is all that can be tied
        if service.planned.runner != "local":
            # On another host (ssh): this machine's socket table cannot tell who listens
            # there; the unit being alive is what is left, as for a command probe.
            return True
        return service.listener.own_answer(
            leader=launched.pid,
            members=launched.members,
            healthy=service.health == "healthy",
            started=service.started,
            report=functools.partial(self.recorder.event, unit=service.name),
        )

    def _port_trouble(self, service: _Service) -> list[str]:
        running = service.launched is not None and not service.launched.exited.done()
        return service.listener.trouble(running=running)

    def _last_output(self, service: _Service, count: int = 5) -> str:
        """The last lines a service wrote, indented, for a failure reason ("" if none)."""
        from shipyard.logfiles import tail

        try:
            lines = [line for line in tail(self.run_dir.log_for(service.name), count) if line]
        except OSError:
            return ""
        return "".join(f"\n  {service.name} | {line}" for line in lines)

    # -- exits and restarts -----------------------------------------------------------------

    def _exited(
        self, service: _Service, launched: Handle, done: asyncio.Future[ExitStatus]
    ) -> None:
        if done.cancelled() or service.launched is not launched:
            return
        status = done.result()
        stopped_here = service.stopping or service.ending_unhealthy
        if not stopped_here:
            # Nothing it started outlives it, in its group or out of it (a stop does this
            # itself, signal and grace first).
            if launched.leftovers():
                launched.kill()
            self._spawn_task(launched.release())
        if service.probe is not None:
            service.probe.cancel()
            service.probe = None
        if stopped_here:
            return
        ok = status.succeeded(service.planned.success_exit_codes)  # on-failure keeps it down
        self._after_exit(service, exit_ok=ok, why=status.describe(), exit_code=status.exit_code)

    def _after_exit(
        self, service: _Service, *, exit_ok: bool, why: str, exit_code: int | None = None
    ) -> None:
        """``service`` is down (crashed, exited, or stopped unhealthy): recorded, and the
        restart policy decides what next."""
        service.healthy.clear()
        service.health = "down"
        uptime = time.monotonic() - service.started
        self.recorder.event("service_exited", service.name, reason=why, uptime=round(uptime, 3))
        decision = decide_restart(
            service.planned.restart, exit_ok=exit_ok, uptime=uptime, streak=service.streak
        )
        self._carry_out(service, decision, exit_ok=exit_ok, why=why, exit_code=exit_code)

    def _carry_out(
        self,
        service: _Service,
        decision: RestartDecision,
        *,
        exit_ok: bool,
        why: str,
        exit_code: int | None = None,
    ) -> None:
        """Do what :func:`decide_restart` decided after ``service`` exited: give up (and, under
        ``on_service_failure: stop-all``, fail the fleet), stay down, or restart after the
        delay."""
        service.streak = decision.streak
        policy = service.planned.restart
        if decision.gave_up:
            reason = used_up(policy.max_restarts, why)
            self._give_up(service, "; ".join([reason, *self._port_trouble(service)]))
            self.recorder.event("service_failed", service.name, reason=service.failed)
            if self.plan.on_service_failure == "stop-all":
                self._fail(f"service '{service.name}' failed ({service.failed})")
            return
        if decision.delay is None:
            self._stays_down(service, exit_ok=exit_ok, why=why, exit_code=exit_code)
            return
        assert self._loop is not None
        service.restarts += 1  # the real count, shown by `ps`: never reset
        delay = decision.delay
        self._record(service, UnitState.RETRYING, reason=f"{why}; restarting in {delay:.2f}s")
        service.pending_restart = self._loop.call_later(delay, self._restart, service)

    def _stays_down(
        self, service: _Service, *, exit_ok: bool, why: str, exit_code: int | None
    ) -> None:
        """``service`` exited and its policy does not restart it: recorded with its exit code
        (kept through `down`), and once no service is left running or restarting — none
        stopped on request, which `service start` may bring back — the fleet ends."""
        policy = service.planned.restart.policy
        service.failed = f"{why or 'exited'} (restart policy {policy}: not restarted)"
        service.ended.set()
        service.ended_failing = not exit_ok
        state = UnitState.STOPPED if exit_ok else UnitState.FAILED
        self._record(service, state, reason=service.failed, exit_code=exit_code)
        self.recorder.flush_soon()  # `up` may be waiting for exactly this
        if self._pipeline is None and all(s.ended.is_set() for s in self._services.values()):
            why = "every service has exited: " + self._ended_summary()
            if any(s.ended_failing for s in self._services.values()):
                self._fail(why)
            else:
                self.request_stop(why)

    def _ended_summary(self) -> str:
        return "; ".join(f"{s.name} {s.failed}" for s in self._services.values())

    def _restart(self, service: _Service) -> None:
        service.pending_restart = None
        if service.stopping or self._stop.is_set():
            return
        self.recorder.event("service_restarting", service.name, restarts=service.restarts)
        self._start(service)

    # -- shutdown ---------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        """Reverse start order; each service's stop signal to its whole group, SIGKILL after
        its timeout; a service is stopped once its group is empty. Rollouts end first (their
        canaries stopped), proxies close last."""
        await self._end_rollouts()
        for stage in reversed(self.plan.service_stages):
            await asyncio.gather(
                *(
                    self._stop_service(self._services[name])
                    for name in stage
                    if name in self._services
                )
            )
        for service in self._services.values():
            if service.proxy is not None:
                await service.proxy.close()

    async def _stop_service(self, service: _Service, *, reason: str | None = None) -> None:
        service.stopping = True
        if service.pending_restart is not None:
            service.pending_restart.cancel()
        if service.probe is not None:
            service.probe.cancel()
        launched = service.launched
        if launched is None:
            if service.failed is None:
                self._give_up(service, "never started", UnitState.SKIPPED)
            return
        if not launched.exited.done() or launched.leftovers():
            grace = 0.0 if self._forced else None
            await stop_unit(
                launched, service.planned.stop, self._stop_context(service), grace=grace
            )
        launched.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(launched.exited)
        service.health = "down"  # its last probe's verdict no longer holds
        if service.failed is None:
            why = reason or self._stop_reason or self._failure
            self._record(service, UnitState.STOPPED, reason=why)
        self.recorder.event("service_stopped", service.name)
        if reason is not None:
            self.recorder.flush_soon()  # `service stop` waits for this

    def _stop_context(self, service: _Service) -> StopContext:
        """Where the service's stop command runs: its environment, workdir and log."""
        planned = service.planned
        return StopContext(service.env, planned.workdir, str(self.run_dir.log_for(planned.name)))

    # -- records ----------------------------------------------------------------------------

    def _record(
        self,
        service: _Service,
        state: UnitState,
        *,
        reason: str | None = None,
        started_at: float | None = None,
        exit_code: int | None = None,
    ) -> None:
        launched = service.launched
        self.recorder.write(
            self.store.update_unit,
            self.execution_id,
            service.name,
            state=state,
            # A service never started made no attempt (a skipped one showed 1).
            attempts=service.restarts + 1 if launched else None,
            started_at=started_at,
            ended_at=time.time() if state.finished else None,
            exit_code=exit_code,
            reason=reason,
            pid=launched.pid if launched else None,
        )
        self.recorder.write(
            self.store.update_service,
            self.execution_id,
            service.name,
            port=service.public_port or service.port,
            # At its host's address: the URL its dependants and probes use (ssh runner)
            url=service_url(service.public_port or service.port, self._hosts[service.name])
            if service.port
            else None,
            health=shown_health("service", state, service.health),  # none kept once it ends
            restarts=service.restarts,
        )

    async def _sample_periodically(self) -> None:
        """Measured CPU and memory of every service's process tree, kept as the latest figures
        of its current run (a provisional attempt row) for `ps`."""
        samplers = {name: runner.sampler() for name, runner in self.runners.items()}
        rotation = LogRotation(
            self.plan.log_limits,
            self.run_dir.log_for,
            lambda name: self.recorder.event("log_rotated", name),
        )
        while True:
            await asyncio.sleep(self.plan.sample_interval)
            live = {
                name: s.launched
                for name, s in self._services.items()
                if s.launched is not None and not s.launched.exited.done()
            }
            await rotation.check(live)
            for name in self._restarted:
                # A new process: figures start again.
                samplers[self._services[name].planned.runner].finish(name, cpu_seconds=0.0)
            self._restarted.clear()
            for runner, sampler in samplers.items():
                sampler.sample(
                    {n: h for n, h in live.items() if self._services[n].planned.runner == runner}
                )
            self._record_samples(samplers, live)

    def _record_samples(self, samplers: Mapping[str, Sampler], live: Mapping[str, Handle]) -> None:
        for name, handle in live.items():
            service = self._services[name]
            usage = samplers[service.planned.runner].current(name)
            if usage is None or service.launched is None:
                continue
            self.recorder.write(
                self.store.save_attempt,
                self.execution_id,
                Attempt(
                    unit=name,
                    number=service.restarts + 1,
                    state=UnitState.RUNNING,
                    started_at=datetime.fromtimestamp(service.launched.started, UTC),
                    ended_at=None,
                    pid=handle.pid,
                    resources=usage,
                ),
            )
