"""The DAG scheduler: which steps may start now. Pure state, no I/O, no clock.

The executor tells it what happened (a step started, finished, failed for good, was stopped) and
asks it which steps to start next. Capacity is counted in slots (``max_parallel``) and in the CPUs
and memory that steps declare; a step that declares more than the machine has is clamped to the
whole machine, so it runs alone instead of never.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shipyard.models import UnitState


@dataclass(frozen=True)
class StepDemand:
    name: str
    needs: tuple[str, ...]
    cpus: float = 0.0
    memory: int = 0
    enabled: bool = True


@dataclass(frozen=True)
class Capacity:
    slots: int
    cpus: float
    memory: int


class Scheduler:
    def __init__(
        self,
        steps: Iterable[StepDemand],
        capacity: Capacity,
        *,
        keep_going: bool,
        done: Iterable[str] = (),
        external: Iterable[str] = (),
    ) -> None:
        """``done``: steps that already succeeded (a resumed execution): they count as done.
        ``external``: units steps may need that are not steps (services): the scheduler never
        starts them; :meth:`external_ready` and :meth:`external_failed` say how they went."""
        self._steps = {step.name: step for step in steps}
        self._external = set(external)
        self._external_seen: set[str] = set()
        self._capacity = capacity
        self._keep_going = keep_going
        self.state: dict[str, UnitState] = dict.fromkeys(self._steps, UnitState.PENDING)
        self.reason: dict[str, str] = {}
        finished = set(done)
        # Disabled and already-succeeded steps count as done for their dependants.
        self._waiting_on = {
            name: sum(
                1
                for dep in step.needs
                if dep in self._external or (self._steps[dep].enabled and dep not in finished)
            )
            for name, step in self._steps.items()
        }
        self._dependants: dict[str, list[str]] = {name: [] for name in [*self._steps, *external]}
        for step in self._steps.values():
            for dep in step.needs:
                self._dependants[dep].append(step.name)
        self._ready: list[str] = []
        self._running = 0
        self._cpus = 0.0
        self._memory = 0
        self._draining = False
        for name, step in self._steps.items():
            if not step.enabled:
                self.state[name] = UnitState.DISABLED
            elif name in finished:
                self.state[name] = UnitState.SUCCEEDED
            elif self._waiting_on[name] == 0:
                self._ready.append(name)

    # -- queries ----------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return all(state.finished for state in self.state.values())

    @property
    def running(self) -> int:
        return self._running

    def counts(self) -> dict[UnitState, int]:
        result: dict[UnitState, int] = {}
        for state in self.state.values():
            result[state] = result.get(state, 0) + 1
        return result

    def demand(self, name: str) -> tuple[float, int]:
        step = self._steps[name]
        return min(step.cpus, self._capacity.cpus), min(step.memory, self._capacity.memory)

    # -- decisions --------------------------------------------------------------------------

    def take_ready(self) -> list[str]:
        """Steps to start now, in declaration order among the ready ones; marks them running."""
        if self._draining:
            return []
        started: list[str] = []
        index = 0
        while index < len(self._ready) and self._running < self._capacity.slots:
            name = self._ready[index]
            cpus, memory = self.demand(name)
            fits = (
                self._cpus + cpus <= self._capacity.cpus + 1e-9
                and self._memory + memory <= self._capacity.memory
            )
            if fits:
                self._ready.pop(index)
                self._running += 1
                self._cpus += cpus
                self._memory += memory
                self.state[name] = UnitState.RUNNING
                started.append(name)
            else:
                index += 1  # a smaller step further on may still fit (backfill)
        return started

    def retrying(self, name: str) -> None:
        """The step failed and waits for its backoff; it gives its slot back meanwhile."""
        self._release(name)
        self.state[name] = UnitState.RETRYING

    def retry_due(self, name: str) -> None:
        """The backoff is over: the step goes to the front of the queue."""
        if self.state[name] == UnitState.RETRYING:
            self.state[name] = UnitState.PENDING
            self._ready.insert(0, name)

    def succeeded(self, name: str) -> None:
        self._release(name)
        self.state[name] = UnitState.SUCCEEDED
        self._release_dependants(name)

    def failed(
        self, name: str, *, state: UnitState = UnitState.FAILED, why: str | None = None
    ) -> list[str]:
        """The step failed for good (or was cancelled, or ``gated``: a quality gate failed).
        Returns the steps skipped because of it. A gated step stops its dependants only, under
        either failure strategy: the other branches are not what the gate judged. ``why``: how
        the dependants' reason says it ended (default "did not succeed")."""
        if self.state[name] in (UnitState.RUNNING,):
            self._release(name)
        self.state[name] = state
        if state == UnitState.FAILED and not self._keep_going:
            return self.drain(f"not started: '{name}' failed (failure_strategy: fail_fast)")
        return self._skip_dependants(name, why=why or "did not succeed")

    def external_ready(self, name: str) -> None:
        """An external unit is ready (a service turned healthy): its dependants may start.
        Only the first time counts."""
        if name in self._external and name not in self._external_seen:
            self._external_seen.add(name)
            self._release_dependants(name)

    def external_failed(self, name: str) -> list[str]:
        """An external unit will never be ready: the steps waiting for it are skipped."""
        if name not in self._external or name in self._external_seen:
            return []
        self._external_seen.add(name)
        return self._skip_dependants(name, why="never became healthy")

    def unstart(self, name: str, reason: str) -> None:
        """A step handed out by :meth:`take_ready` that was never started after all (the run
        stopped while it waited): skipped, its slot given back."""
        if self.state[name] == UnitState.RUNNING:
            self._release(name)
        self.state[name] = UnitState.SKIPPED
        self.reason[name] = reason

    def drain(self, reason: str) -> list[str]:
        """Start nothing more: every step not yet started is skipped with ``reason``; one
        waiting for its retry is cancelled (it did start: its retry is what is called off).
        Returns both kinds; :attr:`state` tells them apart."""
        self._draining = True
        skipped = []
        for name, state in self.state.items():
            if state in (UnitState.PENDING, UnitState.RETRYING):
                retrying = state == UnitState.RETRYING
                self.state[name] = UnitState.CANCELLED if retrying else UnitState.SKIPPED
                self.reason[name] = reason
                skipped.append(name)
        self._ready.clear()
        return skipped

    # -- bookkeeping ------------------------------------------------------------------------

    def _release(self, name: str) -> None:
        cpus, memory = self.demand(name)
        self._running -= 1
        self._cpus -= cpus
        self._memory -= memory

    def _release_dependants(self, name: str) -> None:
        for child in self._dependants[name]:
            self._waiting_on[child] -= 1
            if self._waiting_on[child] == 0 and self.state[child] == UnitState.PENDING:
                self._ready.append(child)

    def _skip_dependants(self, name: str, *, why: str = "did not succeed") -> list[str]:
        skipped = []
        stack = list(self._dependants[name])
        while stack:
            child = stack.pop()
            if self.state[child] == UnitState.DISABLED:
                stack.extend(self._dependants[child])
            elif self.state[child] == UnitState.PENDING:
                self.state[child] = UnitState.SKIPPED
                self.reason[child] = f"not started: it depends on '{name}', which {why}"
                skipped.append(child)
                stack.extend(self._dependants[child])
        return skipped
