"""The local runner: units as process groups on this machine.

It gathers what the executors used to call themselves: :func:`shipyard.engine.process.spawn`
(posix_spawn or Popen, a pidfd watching the exit), the execution's containment (a cgroup or a
marker per unit run, so processes that left the group are still the unit's), liveness checks,
group termination, and psutil sampling. Its host is loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from shipyard.engine.containment import Containment, UnitScope, kill_now, release, terminate_unit
from shipyard.engine.liveness import pid_alive
from shipyard.engine.process import (
    SIGNALS,
    ExitStatus,
    Launched,
    group_alive,
    signal_group,
    spawn,
)
from shipyard.engine.runners.base import Handle, UnitLaunch
from shipyard.engine.sampler import ResourceSampler
from shipyard.engine.wiring import HOST
from shipyard.models import ResourceUsage


class LocalHandle:
    """A process group on this machine, with the containment scope of its unit run. What the
    executors read at every step's start and end is a plain attribute (no property calls on
    the hot path)."""

    __slots__ = (
        "exited",
        "launched",
        "pid",
        "scope",
        "started",
        "started_monotonic",
        "stop_signal",
        "unit",
    )

    def __init__(self, launched: Launched, scope: UnitScope, unit: str, stop_signal: str) -> None:
        self.launched = launched
        self.scope = scope
        self.unit = unit
        self.stop_signal = stop_signal
        self.pid = launched.pid
        self.started = launched.started
        self.started_monotonic = launched.started_monotonic
        self.exited: asyncio.Future[ExitStatus] = launched.exited

    def alive(self) -> bool:
        return not self.launched.exited.done() and pid_alive(self.launched.pid)

    def leftovers(self) -> bool:
        return group_alive(self.launched.pgid) or self.scope.escaped()

    def members(self) -> list[int]:
        return self.scope.members()

    def signal(self, sig: str | None = None) -> None:
        signal_group(self.launched.pgid, SIGNALS[sig or self.stop_signal])

    async def terminate(self, grace: float, sig: str | None = None) -> bool:
        number = SIGNALS[sig or self.stop_signal]
        return await terminate_unit(self.launched.pgid, self.scope, number, grace)

    def kill(self) -> None:
        kill_now(self.launched.pgid, self.scope)

    async def release(self) -> None:
        await release(self.scope)

    def close(self) -> None:
        self.scope.close()

    def journal_entry(self) -> str:
        return f"{self.launched.pid} {self.launched.started:.6f} {self.unit}\n"


class LocalSampler:
    """psutil samples of each running unit's process tree (:class:`ResourceSampler`)."""

    def __init__(self) -> None:
        self._sampler = ResourceSampler()

    def sample(self, running: Mapping[str, Handle]) -> None:
        self._sampler.sample(
            {key: (handle.pid, handle.started_monotonic) for key, handle in running.items()}
        )

    def finish(self, key: str, *, cpu_seconds: float) -> ResourceUsage:
        return self._sampler.finish(key, cpu_seconds=cpu_seconds)

    def current(self, key: str) -> ResourceUsage | None:
        return self._sampler.current(key)


class LocalRunner:
    """Units as process groups here, each tracked by ``containment`` (the execution's)."""

    name = "local"
    host = HOST

    def __init__(self, containment: Containment) -> None:
        self.containment = containment

    def start(self, launch: UnitLaunch) -> LocalHandle:
        """Start ``launch`` in a session of its own, born in its unit run's scope, with the
        scope's marker (``SHIPYARD_UNIT``) in its environment. Raises SpawnError."""
        scope = self.containment.scope(launch.unit)
        env = launch.env  # the unit's own dict (see UnitLaunch): no copy on the hot path
        env["SHIPYARD_UNIT"] = scope.marker
        loop = asyncio.get_running_loop()
        try:
            launched = scope.spawn(
                lambda: spawn(
                    launch.argv, env=env, cwd=launch.cwd, log_path=launch.log_path, loop=loop
                )
            )
        except BaseException:
            scope.close()
            raise
        scope.leader = launched.pid
        return LocalHandle(launched, scope, launch.unit, launch.stop_signal)

    def sampler(self) -> LocalSampler:
        return LocalSampler()
