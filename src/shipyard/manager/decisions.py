"""A node manager's decisions (issue 14 §2), pure: no I/O, no clock; tested with tables
(tests/unit/test_manager_decisions.py). The process (:mod:`shipyard.manager.node`) performs them.

- :func:`cpu_plan`: which CPUs each managed worker is bound to (round-robin, exclusive, shared).
- :func:`classify_exit` / :func:`crash_reason` / :func:`gives_up`: what a managed worker's end
  means, and when a suite is given up on this machine.
- :func:`next_state`: the manager's state machine (idle → preparing → executing → cleanup → idle).
- :func:`fetch_limit`: when the prefetch buffer is refilled, and by how many.
- :func:`reconnect_delay`: the wait before the next try at the coordinator's socket.
- :func:`heartbeat_interval` / :func:`hold_interval`: how often it heartbeats and holds.
- :func:`suite_finished`: whether this manager is through with its suite, and why.
"""

from __future__ import annotations

import signal
from collections.abc import Collection, Sequence
from enum import Enum
from typing import Literal

from shipyard.coordinator.managerprotocol import (
    CRASHES_TO_GIVE_UP,
    MAX_BATCH,
    RECONNECT_CAP,
    RECONNECT_FIRST,
)
from shipyard.coordinator.resilience import backoff_delay, heartbeat_every
from shipyard.errors import ShipyardError


class ManagerError(ShipyardError):
    """The manager cannot do what it was asked on this machine (its message says why)."""


# --- CPU binding ---------------------------------------------------------------------------


def cpu_plan(
    count: int, strategy: str | None, cores: Sequence[int], available: Collection[int]
) -> list[frozenset[int] | None]:
    """Each of ``count`` workers' CPUs (None: not bound). ``strategy`` None: no binding;
    ``cores`` empty: every CPU ``available`` to this process.

    - round-robin: worker i gets ``cores[i % len(cores)]``;
    - exclusive: ``len(cores) // count`` each, in order, the last one the remainder too;
    - shared: every worker all the cores.
    """
    if strategy is None:
        return [None] * count
    listed = list(cores) if cores else sorted(available)
    missing = sorted(set(listed) - set(available))
    if missing:
        raise ManagerError(
            f"the suite binds workers to CPU {', '.join(map(str, missing))}, which this "
            f"machine does not offer (it has {_ranges(sorted(available))})",
            hint="list cores this machine has in worker_schedule.cpu_binding.cores, or none "
            "for every CPU",
        )
    if strategy == "round-robin":
        return [frozenset({listed[i % len(listed)]}) for i in range(count)]
    if strategy == "shared":
        return [frozenset(listed)] * count
    if strategy == "exclusive":
        per = len(listed) // count
        if per == 0:
            raise ManagerError(
                f"exclusive binding of {count} workers needs at least {count} cores; "
                f"{len(listed)} listed",
                hint="list more cores, fewer workers, or use round-robin or shared",
            )
        plan: list[frozenset[int] | None] = [
            frozenset(listed[i * per : (i + 1) * per]) for i in range(count)
        ]
        plan[-1] = frozenset(listed[(count - 1) * per :])
        return plan
    raise ManagerError(f"unknown CPU binding strategy {strategy!r}",
                       hint="round-robin, exclusive or shared")  # fmt: skip


def _ranges(cpus: list[int]) -> str:
    """0-3,6: how CPU lists read in Linux' own files."""
    parts: list[str] = []
    for cpu in cpus:
        if parts and parts[-1].split("-")[-1] == str(cpu - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{cpu}"
        else:
            parts.append(str(cpu))
    return ",".join(parts) or "none"


# --- a managed worker's end ----------------------------------------------------------------


class Exit(Enum):
    INTENDED = "intended"  # exit 0, SIGTERM, SIGINT: asked for; never counted
    HARDWARE = "hardware"  # SIGSEGV, SIGILL, SIGBUS, SIGFPE: the machine or the code's memory
    CRASH = "crash"  # SIGKILL (the OOM killer), SIGABRT, another signal, a non-zero exit


_HARDWARE = frozenset({signal.SIGSEGV, signal.SIGILL, signal.SIGBUS, signal.SIGFPE})
_INTENDED = frozenset({signal.SIGTERM, signal.SIGINT})


def classify_exit(returncode: int) -> Exit:
    """A managed worker's end from its Popen returncode (-N: killed by signal N)."""
    if returncode == 0:
        return Exit.INTENDED
    if returncode < 0:
        number = -returncode
        if number in _INTENDED:
            return Exit.INTENDED
        return Exit.HARDWARE if number in _HARDWARE else Exit.CRASH
    return Exit.CRASH


def crash_reason(worker: int, returncode: int) -> str:
    """The release reason the coordinator records for the task the worker held."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"managed worker {worker} was killed by {name}"
    return f"managed worker {worker} exited with status {returncode}"


def counts(returncode: int) -> int:
    """What this end counts toward giving the suite up: one crash, whatever kind (the issue's
    rule: three crashes in a suite; Mitosis' per-task 2-strike rule for hardware signals
    counted failures of one task across retries, which a suite-wide count already bounds)."""
    return 0 if classify_exit(returncode) is Exit.INTENDED else 1


def gives_up(crashes: int, most: int = CRASHES_TO_GIVE_UP) -> bool:
    return crashes >= most


# --- the manager's states ------------------------------------------------------------------

State = Literal["idle", "preparing", "executing", "cleanup"]
Event = Literal["taken", "prepared", "prep_failed", "drained", "cancelled", "gave_up",
                "shutdown", "cleaned"]  # fmt: skip

_TRANSITIONS: dict[tuple[State, Event], State] = {
    ("idle", "taken"): "preparing",
    ("preparing", "prepared"): "executing",
    # A failed preparation still runs cleanup: it may have half set up the suite's folder.
    ("preparing", "prep_failed"): "cleanup",
    ("preparing", "cancelled"): "cleanup",
    ("preparing", "shutdown"): "cleanup",
    ("executing", "drained"): "cleanup",
    ("executing", "cancelled"): "cleanup",
    ("executing", "gave_up"): "cleanup",
    ("executing", "shutdown"): "cleanup",
    ("cleanup", "cleaned"): "idle",
}


def next_state(state: State, event: Event) -> State:
    """The state after ``event``; a ManagerError for a transition the design does not have
    (offline is the coordinator's to set, never the manager's)."""
    try:
        return _TRANSITIONS[(state, event)]
    except KeyError:
        raise ManagerError(f"a manager in state {state} cannot take {event!r}") from None


# --- prefetch ------------------------------------------------------------------------------


def fetch_limit(buffered: int, prefetch: int, *, queued: int | None, recheck: bool) -> int:
    """How many tasks to claim now (0: none). The buffer is refilled to ``prefetch`` once it
    falls to half of it; not while the suite was last seen with nothing ``queued`` (None:
    not known), unless a ``recheck`` is due (a heartbeat, or a suite_available push)."""
    if buffered * 2 > prefetch:
        return 0
    if queued == 0 and not recheck:
        return 0
    return max(0, min(prefetch - buffered, MAX_BATCH))


# --- reconnecting --------------------------------------------------------------------------


def reconnect_delay(failures: int, draw: float) -> float:
    """The wait before reconnect try ``failures + 1``: 1 → 2 → 4 … → 60 s (jittered by
    ``draw`` into the upper half of each step, as every backoff here)."""
    return backoff_delay(failures, draw, base=RECONNECT_FIRST, cap=RECONNECT_CAP)


# --- heartbeats and holds -----------------------------------------------------------------


def heartbeat_interval(asked: float, expected: float | None) -> float:
    """Seconds between heartbeats: ``--heartbeat``, never slower than the coordinator
    ``expected`` at registration (a short ``manager_offline`` would mark it offline)."""
    return min(asked, expected) if expected else asked


def hold_interval(lease: float) -> float:
    """Seconds between holds: a third of the lease (two may be lost before it runs out)."""
    return heartbeat_every(lease)


# --- the end of a suite here ---------------------------------------------------------------


Finished = Literal["drained", "cancelled"]


def suite_finished(state: str, queued: int, held_here: int) -> Finished | None:
    """Whether this manager is through with its suite: cancelled; or closed/complete with
    nothing queued and nothing held here (an open suite may still get tasks: wait)."""
    if state == "cancelled":
        return "cancelled"
    if state in ("closed", "complete") and queued == 0 and held_here == 0:
        return "drained"
    return None
