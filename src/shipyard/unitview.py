"""What a unit's record may claim about its process: a health verdict and a pid hold only while
that process runs.

A probe's last verdict (``healthy``) and the pid of the process it was about outlive the process
in the store: a fleet whose supervisor was killed kept showing ``healthy`` services and their
pids in ``status`` and ``ps`` although nothing ran any more. The store writes and every view go
through these two pure functions instead.
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
    """The pid a record shows: the unit's process while it runs; a stopped service keeps the pid
    of the process that was stopped (its group was seen empty before it was marked stopped, so
    the number names a process known dead, which scripts check); any other unit that is not
    running shows none, since the number may belong to anyone by now."""
    if process_runs(state, execution_finished=execution_finished) or state == UnitState.STOPPED:
        return pid
    return None
