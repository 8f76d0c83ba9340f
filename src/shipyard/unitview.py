"""What a unit's record may claim about its process: a health verdict and a pid hold only while
that process runs.

A probe's last verdict (``healthy``) and the pid of the process it was about outlive the process
in the store: a fleet whose supervisor was killed kept showing ``healthy`` services and their
pids in ``status`` and ``ps`` although nothing ran any more. The store writes and every view go
through these pure functions instead, and the progress an execution shows counts with them.
"""

from __future__ import annotations

from shipyard.models import UnitState

#: The health of a service that is not running: no probe speaks for it.
UNKNOWN = "unknown"
#: The health of a service that was stopped (by a user, ``down``, or its fleet ending).
DOWN = "down"


def process_runs(state: UnitState, *, execution_finished: bool) -> bool:
    """Can the unit have a live process? Only while its record says ``running`` and its
    execution has not ended (an ended execution's supervisor has stopped, or lost, everything)."""
    return state == UnitState.RUNNING and not execution_finished


def shown_health(
    kind: str, state: UnitState, health: str | None, *, execution_finished: bool = False
) -> str | None:
    """The health a service's record shows: the probe's verdict while it runs, ``down`` once it
    was stopped, ``unknown`` otherwise (never started, crashed, waiting to restart, given up,
    lost with its supervisor). Steps have no health."""
    if kind != "service":
        return health
    if process_runs(state, execution_finished=execution_finished):
        return health or "starting"
    return DOWN if state == UnitState.STOPPED else UNKNOWN


def shown_pid(state: UnitState, pid: int | None, *, execution_finished: bool = False) -> int | None:
    """The pid a record shows: the unit's process while it runs, and none otherwise — a
    stopped service's number names a process that is gone and may be anyone's by now (the
    ``up`` summary and ``ps --json`` showed stopped services with their old pids)."""
    return pid if process_runs(state, execution_finished=execution_finished) else None


#: Step states that count as done in an execution's progress: it succeeded, or needs no run.
DONE_STEP_STATES = (UnitState.SUCCEEDED, UnitState.DISABLED)


def counts_as_done(
    kind: str, state: UnitState, health: str | None, *, execution_finished: bool = False
) -> bool:
    """Does the unit count as done in its execution's progress? A step that succeeded (or is
    disabled) — not one that was cancelled, skipped or lost; a service that is healthy now, so
    a fleet shows healthy/total (cancelled runs showed "3/3 units (100%)", a healthy fleet
    "0/5"). ``health`` is the recorded verdict; :func:`shown_health` decides if it holds."""
    if kind != "service":
        return state in DONE_STEP_STATES
    shown = shown_health(kind, state, health, execution_finished=execution_finished)
    return shown == "healthy"
