"""The fleet's side of a canary rollout: the proxy in front of a service with ``rollout:``,
the canary's own process (started beside the stable one, with the changed environment, on an
internal port), its readiness, its stop, and its promotion to be the service.

A service with ``rollout:`` is always served through its proxy: its public port (the one
``port:`` gave it, the one other units are wired to) is the proxy's, and its process listens on
an internal port given to it as ``PORT``. So a rollout can begin at any time without the
service's address changing, and a rolled-back canary never leaves a trace on that address.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from typing import TYPE_CHECKING, Any

from shipyard.engine.health import Listener, probe
from shipyard.engine.runners.base import Handle, SpawnError, UnitLaunch
from shipyard.engine.stopping import StopContext, stop_unit
from shipyard.engine.wiring import HOST, service_url
from shipyard.errors import ShipyardError
from shipyard.rollout.controller import CanaryRollout
from shipyard.rollout.proxy import CanaryProxy

if TYPE_CHECKING:
    from shipyard.engine.fleet import FleetExecutor, _Service

#: What a rollout's new version may change: its environment (``--env KEY=VALUE``).
CANARY_SUFFIX = ".canary"


def internal_port(host: str = HOST) -> int:
    """A free port for a version behind the proxy (bound and released: the service takes it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe_socket:
        probe_socket.bind((host, 0))
        port: int = probe_socket.getsockname()[1]
        return port


def port_env(port: int, public: int, host: str = HOST) -> dict[str, str]:
    """A version behind the proxy listens on ``port``; its own URL stays the public one."""
    return {
        "PORT": str(port),
        "SHIPYARD_PORT": str(port),
        "AGENT_PORT": str(port),
        "SHIPYARD_SERVICE_URL": service_url(public, host),
    }


class FleetCanary:
    """One rollout of one service of ``fleet``: the :class:`CanaryHost` its controller drives."""

    def __init__(self, fleet: FleetExecutor, service: _Service, changes: dict[str, str]) -> None:
        assert service.proxy is not None and service.public_port is not None
        assert service.planned.rollout is not None
        self.fleet = fleet
        self.service = service
        self.changes = changes
        self.port = internal_port()
        self.env = {**service.env, **changes, **port_env(self.port, service.public_port)}
        self.handle: Handle | None = None
        self.controller = CanaryRollout(
            service.name,
            service.planned.rollout,
            service.proxy,
            self,
            canary_port=self.port,
        )
        self.task: asyncio.Task[None] | None = None

    @property
    def unit(self) -> str:
        return self.service.name + CANARY_SUFFIX

    # -- CanaryHost --------------------------------------------------------------------------

    def record(self, action: str, **data: Any) -> None:
        self.fleet.recorder.event(action, self.service.name, **data)
        self.fleet.recorder.flush()  # what `rollout status` shows is never behind the service

    async def stop_canary(self) -> None:
        handle = self.handle
        if handle is None:
            return
        planned = self.service.planned
        log = str(self.fleet.run_dir.log_for(self.unit))
        await stop_unit(handle, planned.stop, StopContext(self.env, planned.workdir, log))
        handle.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(handle.exited)
        await handle.release()
        self.record("rollout_canary_stopped", pid=handle.pid)

    async def promote_canary(self) -> None:
        handle = self.handle
        assert handle is not None
        self.handle = None  # the service's now: its exit goes through the restart policy
        await self.fleet._adopt_canary(self.service, handle, self.port, self.env)

    # -- the run -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Start the canary, wait for it to be healthy, then the steps."""
        planned = self.service.planned
        self.record(
            "rollout_started",
            changes=self.changes,
            steps=planned.rollout.steps if planned.rollout else [],
            canary_port=self.port,
        )
        try:
            self.handle = self._start()
        except SpawnError as error:
            self.controller.state, self.controller.reason = "rolled_back", str(error)
            self.record("rollout_rolled_back", reason=f"the canary could not start: {error}")
            return
        self.handle.exited.add_done_callback(self._exited)
        why = await self._ready(self.handle)
        if why is not None:
            self.service.proxy.route(canary_port=None, weight=0)  # type: ignore[union-attr]
            self.controller.state, self.controller.reason = "rolled_back", why
            self.record("rollout_rolled_back", reason=why)
            await self.stop_canary()
            return
        self.record("rollout_canary_healthy", pid=self.handle.pid)
        await self.controller.run()

    def _start(self) -> Handle:
        planned = self.service.planned
        launch = UnitLaunch(
            self.unit,
            planned.command.argv,
            dict(self.env),
            planned.workdir,
            str(self.fleet.run_dir.log_for(self.unit)),
            planned.stop.signal,
        )
        handle = self.fleet.runners[planned.runner].start(launch)
        assert self.fleet._run is not None
        self.fleet._run.journal(handle.journal_entry())  # found and killed after a crash
        self.record("rollout_canary_started", pid=handle.pid, port=self.port)
        return handle

    def _exited(self, done: asyncio.Future[Any]) -> None:
        if done.cancelled() or self.handle is None or self.controller.finished:
            return
        status = done.result()
        self.controller.command("died", f"the canary exited: {status.describe()}")

    async def _ready(self, handle: Handle) -> str | None:
        """None once the canary passed its health check; else why it never did."""
        planned = self.service.planned
        health = planned.health
        assert health is not None  # refused by validation otherwise
        deadline = time.monotonic() + planned.readiness_timeout
        listener = Listener(self.port, HOST)
        good = 0
        last = "no probe answered yet"
        await asyncio.sleep(health.initial_delay)
        while time.monotonic() < deadline:
            if handle.exited.done():
                return (
                    f"the canary exited before it was healthy: {handle.exited.result().describe()}"
                )
            result = await probe(
                health,
                name=self.service.name,
                host=HOST,
                port=self.port,
                env=self.env,
                workdir=planned.workdir,
            )
            ok = result.ok and listener.own_answer(
                leader=handle.pid,
                members=handle.members,
                healthy=False,
                started=handle.started_monotonic,
                report=lambda *a, **k: None,
            )
            good = good + 1 if ok else 0
            last = result.detail
            if good >= health.success_threshold:
                return None
            await asyncio.sleep(health.start_interval or health.interval)
        return (
            f"the canary was not healthy within {planned.readiness_timeout:g}s (last probe: {last})"
        )


def refuse_rollout(service: _Service, action: str, active: FleetCanary | None) -> None:
    """Why ``action`` cannot be done on ``service``'s rollout now (raises), or nothing."""
    if service.planned.rollout is None:
        raise ShipyardError(
            f"service '{service.name}' has no rollout settings",
            hint="add rollout: {strategy: canary, steps: [10, 50, 100], …} to it in the spec",
        )
    running = active is not None and not active.controller.finished
    if action == "start" and running:
        raise ShipyardError(
            f"a rollout of '{service.name}' is already running",
            hint=f"shipyard rollout promote … {service.name}, or abort it first",
        )
    if action in ("promote", "abort") and not running:
        raise ShipyardError(
            f"no rollout of '{service.name}' is running",
            hint=f"start one: shipyard rollout start EXEC {service.name} --env KEY=VALUE",
        )
    if action not in ("start", "promote", "abort"):
        raise ShipyardError(f"unknown rollout action {action!r}", hint="start, promote, abort")


__all__ = ["CANARY_SUFFIX", "CanaryProxy", "FleetCanary", "internal_port", "refuse_rollout"]
