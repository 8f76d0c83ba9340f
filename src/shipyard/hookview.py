"""An execution's hooks as units of it (``_prepare``, ``_cleanup``), read from its events:
what ``status`` shows of them and where ``logs`` finds their output. Pure.

A hook phase is one unit: its commands run in order and share one log
(``logs/_prepare.log``), so the unit is running while one of them runs, failed when one
failed (its reason names the command and how it ended), succeeded when all did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shipyard.models import Event, UnitState, UnitStatus, seconds_between, timestamp

PHASES = ("prepare", "cleanup")
#: The events a hook's unit is read from (the store's partial index ``events_hooks``).
HOOK_ACTIONS = ("hook_started", "hook_finished")


@dataclass
class _Phase:
    started: float
    commands: int = 0
    ended: float | None = None
    running: str | None = None  # the command started and not yet finished
    exit_code: int | None = None
    failure: str | None = None


def hook_units(
    events: Iterable[Event], log_dir: str, *, execution_finished: bool
) -> list[UnitStatus]:
    """One unit per hook phase that ran, prepare first; ``log_dir``: the run's logs folder.
    A phase still running when the execution has ended was cut short: cancelled."""
    phases: dict[str, _Phase] = {}
    for event in events:
        phase = str(event.data.get("phase", ""))
        if event.action == "hook_started":
            seen = phases.setdefault(phase, _Phase(event.ts))
            seen.commands += 1
            seen.running = str(event.data.get("command", ""))
        elif event.action == "hook_finished" and phase in phases:
            _finished(phases[phase], event)
    return [
        _unit(name, phases[name], log_dir, execution_finished=execution_finished)
        for name in PHASES
        if name in phases
    ]


def _finished(seen: _Phase, event: Event) -> None:
    code = event.data.get("exit_code")
    seen.ended = event.ts
    seen.exit_code = code if isinstance(code, int) else None
    if not event.data.get("ok") and seen.failure is None:
        reason = event.data.get("reason")
        if not isinstance(code, int):
            how = f"could not start: {reason}" if reason else "failed"  # never ran
        else:
            how = str(reason or f"exited with code {code}")
        seen.failure = f"`{seen.running}` {how}"
    seen.running = None


def _unit(name: str, seen: _Phase, log_dir: str, *, execution_finished: bool) -> UnitStatus:
    state = UnitState.SUCCEEDED
    reason = None
    if seen.failure is not None:
        state, reason = UnitState.FAILED, seen.failure
    elif seen.running is not None:
        state = UnitState.CANCELLED if execution_finished else UnitState.RUNNING
        reason = f"`{seen.running}` was cut short" if execution_finished else None
    ended = None if seen.running is not None and seen.failure is None else seen.ended
    return UnitStatus(
        name=f"_{name}",
        state=state,
        kind="hook",
        attempts=seen.commands,
        started_at=timestamp(seen.started),
        ended_at=timestamp(ended),
        duration_seconds=seconds_between(timestamp(seen.started), timestamp(ended)),
        exit_code=seen.exit_code,
        reason=reason,
        log_path=str(Path(log_dir) / f"_{name}.log"),
    )
