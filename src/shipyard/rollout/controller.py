"""One canary rollout, carried out: the proxy's weight set step by step, each interval's window
judged by :func:`shipyard.rollout.decide.decide`, and the decision done.

The controller owns no process: what starts, stops and promotes the canary is its
:class:`CanaryHost` (the fleet), injected. Every decision is recorded through the host — and
committed to the store — *before* it is carried out, so what `rollout status` says is never
behind what the service does. A person's ``promote`` or ``abort``, or the canary dying, arrive
as commands and are acted on at once, without waiting for the interval to end.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Literal, Protocol

from shipyard.plan.model import RolloutSettings
from shipyard.rollout.decide import Decision, WindowFigures, decide
from shipyard.rollout.proxy import CanaryProxy

State = Literal["starting", "running", "promoted", "rolled_back", "aborted"]
Command = tuple[Literal["promote", "abort", "died"], str]


class CanaryHost(Protocol):
    def record(self, action: str, **data: Any) -> None:
        """An event about this rollout, committed to the store before this returns."""

    async def stop_canary(self) -> None:
        """Stop the canary's processes (stop signal, grace, SIGKILL)."""

    async def promote_canary(self) -> None:
        """The canary becomes the service; the old version is stopped."""


class CanaryRollout:
    def __init__(
        self,
        service: str,
        settings: RolloutSettings,
        proxy: CanaryProxy,
        host: CanaryHost,
        *,
        canary_port: int,
    ) -> None:
        self.service = service
        self.settings = settings
        self.proxy = proxy
        self.host = host
        self.canary_port = canary_port
        self.step = 0
        self.state: State = "running"
        self.reason: str | None = None
        self._commands: asyncio.Queue[Command] = asyncio.Queue()

    @property
    def weight(self) -> int:
        return self.settings.steps[self.step] if self.state == "running" else 0

    @property
    def finished(self) -> bool:
        return self.state in ("promoted", "rolled_back", "aborted")

    def command(self, action: Literal["promote", "abort", "died"], why: str) -> None:
        """A person's promote or abort, or the canary's exit: acted on at once."""
        self._commands.put_nowait((action, why))

    async def run(self) -> State:
        """Step by step until promoted, rolled back or aborted."""
        steps = self.settings.steps
        while not self.finished:
            self.proxy.route(canary_port=self.canary_port, weight=steps[self.step])
            self.proxy.take_window("canary")  # each step is judged on its own traffic
            self.proxy.take_window("stable")
            self.host.record("rollout_step", step=self.step, weight=steps[self.step])
            command = await self._wait(self.settings.interval)
            if command is not None:
                await self._obey(*command)
                continue
            canary = self.proxy.take_window("canary")
            stable = self.proxy.take_window("stable")
            decision = decide(
                canary,
                self.settings.kpis,
                step=self.step,
                steps=steps,
                min_requests=self.settings.min_requests,
            )
            await self._carry_out(decision, canary, stable)
        return self.state

    async def _wait(self, seconds: float) -> Command | None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                return await self._commands.get()
        return None

    async def _carry_out(
        self, decision: Decision, canary: WindowFigures, stable: WindowFigures
    ) -> None:
        self.host.record(
            "rollout_decision",
            decision=decision.action,
            reason=decision.reason,
            weight=self.settings.steps[self.step],
            canary=canary.as_dict(),
            stable=stable.as_dict(),
        )
        if decision.action == "rollback":
            await self._roll_back("rolled_back", decision.reason)
        elif decision.action == "promote":
            await self._promote(decision.reason)
        else:
            self.step = decision.step

    async def _obey(self, action: str, why: str) -> None:
        if action == "promote":
            await self._promote(why)
        elif action == "abort":
            await self._roll_back("aborted", why)
        else:
            await self._roll_back("rolled_back", why)

    async def _roll_back(self, state: State, why: str) -> None:
        """Traffic back to stable at once, recorded, then the canary stopped."""
        self.proxy.route(canary_port=None, weight=0)
        self.state, self.reason = state, why
        self.host.record(f"rollout_{state}", reason=why)
        await self.host.stop_canary()

    async def _promote(self, why: str) -> None:
        """Every request to the canary, which becomes the service; ``promoted`` is recorded
        once the old version is stopped (the decision itself was recorded before)."""
        self.proxy.promote()
        self.state, self.reason = "promoted", why
        await self.host.promote_canary()
        self.host.record("rollout_promoted", reason=why)
