"""The runner protocol: where a unit (a step attempt, a hook, a service start) runs.

An executor never starts a process itself: it asks a :class:`Runner` to start a
:class:`UnitLaunch` — argv, environment, working folder, log file, stop signal — and gets a
:class:`Handle` that can be waited on (``exited``), signalled, terminated with a grace, killed,
sampled (through the runner's :meth:`Runner.sampler`) and journalled (its spawn journal entry).
Ports are allocated and probes sent on the runner's ``host``. The local runner
(:mod:`shipyard.engine.runners.local`), ``ssh`` (:mod:`shipyard.engine.runners.ssh`) and
``slurm`` (:mod:`shipyard.engine.runners.slurm`) implement it; the plan's units name theirs by
key (``local``, ``ssh:<host>``, ``slurm``: :mod:`shipyard.engine.runners.registry`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from shipyard.engine.process import ExitStatus, SpawnError
from shipyard.models import ResourceUsage
from shipyard.plan.model import SlurmSettings

if TYPE_CHECKING:
    from shipyard.engine.containment import Containment

__all__ = [
    "ExitStatus",
    "Handle",
    "Runner",
    "Sampler",
    "SpawnError",
    "UnitLaunch",
]


@dataclass(frozen=True, slots=True)
class UnitLaunch:
    """What to start. ``unit`` names it (its log, its journal entry, its containment scope);
    ``env`` is a dict of its own, to which the runner adds its variables (``SHIPYARD_UNIT``);
    ``cwd`` None means the engine's own folder; ``stop_signal`` is what a stop sends first."""

    unit: str
    argv: list[str]
    env: dict[str, str]
    cwd: str | None
    log_path: str
    stop_signal: str = "TERM"
    #: The step's Slurm settings (the slurm runner's; others ignore it)
    slurm: SlurmSettings | None = None
    #: The command starts its own ranks (mpirun): a launcher that would start one copy per
    #: task (srun) starts it once, in the tasks' resources
    starts_ranks: bool = False


class Handle(Protocol):
    """A started unit. ``exited`` resolves with its leader's exit; the unit is over only once
    nothing of it is left (:meth:`leftovers` False), then :meth:`close` releases its tracking."""

    @property
    def pid(self) -> int: ...

    @property
    def started(self) -> float: ...  # time.time() of the start

    @property
    def started_monotonic(self) -> float: ...

    @property
    def exited(self) -> asyncio.Future[ExitStatus]: ...

    def alive(self) -> bool:
        """Is the leader itself still running (a zombie is not)?"""
        ...

    def leftovers(self) -> bool:
        """Once the leader exited: does any process of the unit remain?"""
        ...

    def members(self) -> list[int]:
        """The unit's processes as its tracking knows them (those that left its group too)."""
        ...

    def signal(self, sig: str | None = None) -> None:
        """``sig`` (default: its stop signal) to the unit's process group."""
        ...

    async def terminate(self, grace: float, sig: str | None = None) -> bool:
        """``sig`` (default: its stop signal) to every process of the unit, SIGKILL after
        ``grace`` seconds; returns once nothing is left. True if SIGKILL was needed."""
        ...

    def kill(self) -> None:
        """SIGKILL every process of the unit at once, without waiting."""
        ...

    async def release(self) -> None:
        """Wait (bounded) until a killed unit is empty, then :meth:`close`."""
        ...

    def close(self) -> None:
        """The unit is over and empty: release what tracked it."""
        ...

    def journal_entry(self) -> str:
        """Its line in the run's spawn journal, which the watchdog and `status` clean up by."""
        ...


class Sampler(Protocol):
    """Resource figures of running units, keyed by the executor's own names."""

    def sample(self, running: Mapping[str, Handle]) -> None: ...

    def finish(self, key: str, *, cpu_seconds: float) -> ResourceUsage: ...

    def current(self, key: str) -> ResourceUsage | None: ...


class Runner(Protocol):
    """Where units run. ``host``: the address their ports are on and probes go to."""

    @property
    def name(self) -> str: ...

    @property
    def host(self) -> str: ...

    def start(self, launch: UnitLaunch) -> Handle:
        """Start ``launch`` (called on the engine's running loop). Raises :class:`SpawnError`
        when it cannot start at all (not found, not executable, no such folder)."""
        ...

    def sampler(self) -> Sampler:
        """A fresh sampler of this runner's units (one per executor)."""
        ...


class RunnerFactory(Protocol):
    """Makes an execution's runner from its containment (the cgroup or marker that tracks
    the execution's units, which only exists once the execution does). What
    :class:`shipyard.local.LocalOperations` takes as ``runners=``."""

    def __call__(self, containment: Containment) -> Runner: ...
