"""An execution's hooks (``hooks: {prepare, cleanup}``): each phase's commands run in order on
the local runner, in the spec's folder, into one log (``logs/_prepare.log``), told by
``hook_started``/``hook_finished`` events — what :mod:`shipyard.hookview` reads them back from
as the units ``_prepare`` and ``_cleanup``. One runner for every kind of execution: the pipeline
executor's (a plan with steps) and a fleet's without steps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

from shipyard.engine.recorder import Recorder
from shipyard.engine.runners.base import Handle, Runner, SpawnError, UnitLaunch
from shipyard.plan.model import Plan, PlannedCommand
from shipyard.workspace import RunDir


class HookRunner:
    """Runs the plan's hook phases; ``journal`` records each hook's process in the run's spawn
    journal (so a crashed engine's leftovers are found, as a step's are)."""

    def __init__(
        self,
        plan: Plan,
        *,
        run_dir: RunDir,
        recorder: Recorder,
        base_env: Mapping[str, str],
        local: Runner,
        journal: Callable[[Handle], None],
    ) -> None:
        self.plan = plan
        self.run_dir = run_dir
        self.recorder = recorder
        self._base_env = base_env
        self._local = local  # hooks run where the engine does
        self._journal = journal
        self._failure: str | None = None  # which prepare hook failed, and how
        self._current: tuple[str, Handle] | None = None  # the hook running now, and its phase
        #: A stop was asked for: no further prepare command starts (even when the running one
        #: still ends well — it had its grace, or it ignores the stop signal).
        self._stopping = False

    @property
    def running(self) -> str | None:
        """The phase of the hook running now (``prepare``, ``cleanup``), or None."""
        return self._current[0] if self._current is not None else None

    @property
    def prepare_failed(self) -> bool:
        """A prepare hook failed (could not start, or ended badly), rather than was not run."""
        return self._failure is not None

    def stop_starting(self) -> None:
        """Start no further prepare command; the running one goes on (a graceful stop)."""
        self._stopping = True

    async def run(self, phase: str, commands: list[PlannedCommand]) -> bool:
        """Run hook commands in order; stop at the first failure. True if all succeeded.
        Prepare commands stop at a stop too: False, the next one never started."""
        log_path = self.run_dir.log_for(f"_{phase}")
        env = {**self._base_env, **self.plan.env, "SHIPYARD_HOOK": phase}
        for command in commands:
            if phase == "prepare" and self._stopping:
                return False
            self.recorder.event("hook_started", None, phase=phase, command=command.display)
            launch = UnitLaunch(
                f"_{phase}", command.argv, dict(env), str(hook_dir(self.plan)), str(log_path)
            )
            try:
                hook = self._local.start(launch)
            except SpawnError as error:
                self._failed(phase, command, f"could not start: {error}")
                self.recorder.event("hook_finished", None, phase=phase, ok=False, reason=str(error))
                return False
            self._journal(hook)
            self._current = (phase, hook)
            try:
                status = await asyncio.shield(hook.exited)
            finally:
                self._current = None
            if hook.leftovers():
                await hook.terminate(10.0, "TERM")
            hook.close()
            # How a failed one ended, in words ("killed by signal TERM" is no exit code 143).
            how = {} if status.ok else {"reason": status.describe()}
            self.recorder.event(
                "hook_finished", None, phase=phase, ok=status.ok, exit_code=status.returncode, **how
            )
            if not status.ok:
                self._failed(phase, command, status.describe())
                return False
        return True

    def interrupt(self, *, force: bool) -> None:
        """The execution is being stopped: a running prepare hook is interrupted like a step
        (SIGTERM), and no further prepare command starts; a cleanup hook always runs to its end
        unless the stop is forced (SIGKILL)."""
        self._stopping = True
        if self._current is None:
            return
        phase, hook = self._current
        if force:
            hook.kill()
        elif phase == "prepare":
            hook.signal("TERM")

    @property
    def prepare_failure(self) -> str:
        """Why the prepare hooks failed: the command and how it ended."""
        return self._failure or "a prepare hook failed"

    def _failed(self, phase: str, command: PlannedCommand, how: str) -> None:
        if phase == "prepare":
            self._failure = f"the prepare hook `{command.display}` {how}"


def hook_dir(plan: Plan) -> Path:
    """Where hooks run: the spec's folder (the current one for a plan without a spec file)."""
    return Path(plan.spec_path).parent if plan.spec_path else Path.cwd()
