"""The coordinator's decisions about node managers (issue 14 §2), pure: no I/O, so tables of
cases test them.

Matching. A manager may serve a suite when the suite is of the manager's group (a manager
token belongs to one group, issued there by a member with Write: that is the group's Write on
the manager), and the manager's tags hold all of the suite's. An explicit assignment
overrides the tags: a suite with any ``user_specified`` manager goes to those managers only.
A suite the manager gave up (or whose preparation failed there) is not offered to it again.
Among the suites it may serve that have queued tasks, it takes the highest priority, then the
oldest. :data:`~shipyard.coordinator.managerqueries.NEXT_SUITE` says the same in SQL (where
the choice is made, over every suite at once); :func:`serves` and :func:`chosen` are its
reference, and the table tests pin both to the same cases.

Offline. A manager silent (no ``heartbeat``) for ``[coordinator] manager_offline`` seconds
(default :data:`~shipyard.coordinator.managerprotocol.OFFLINE_AFTER`) is marked offline by
the server's sweep, loses its suite, and its tasks go back to the queue at once (not at their
leases' end). A heartbeat from it later makes it live again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from shipyard.coordinator.managerprotocol import HEARTBEAT_EVERY, OFFLINE_AFTER

#: What ``suite_manager_events`` records.
EVENT_KINDS: tuple[str, ...] = ("env_preparation", "env_cleanup", "gave_up", "released")
#: How a manager came to be a suite's: by its tags (``refresh``), or named by a user.
SELECTIONS: tuple[str, ...] = ("tag_matched", "user_specified")
#: Suite states whose queued tasks a manager may take.
LIVE_SUITES: frozenset[str] = frozenset({"open", "closed"})
#: How often the server's sweep looks for silent managers (seconds; ``[coordinator]
#: manager_sweep``), at most: a quarter of ``manager_offline`` when that is shorter.
SWEEP_EVERY = 10.0
#: A manager's states in which it may be offered a suite.
TAKES_WORK: frozenset[str] = frozenset({"idle"})


@dataclass(frozen=True)
class ManagerFacts:
    id: str
    group_id: int
    tags: frozenset[str]


@dataclass(frozen=True)
class SuiteFacts:
    id: int
    group_id: int
    tags: frozenset[str]
    state: str
    priority: int
    created_at: datetime
    pending: int
    #: The managers a user named for it (empty: any manager whose tags match).
    assigned: frozenset[str] = frozenset()
    #: The managers that gave it up (or whose preparation of it failed).
    given_up: frozenset[str] = frozenset()


def refusal(manager: ManagerFacts, suite: SuiteFacts) -> str | None:
    """Why ``manager`` may not serve ``suite`` (explicit assignment aside), or None."""
    if manager.group_id != suite.group_id:
        return "the manager is of another group than the suite"
    if manager.id in suite.given_up:
        return "the manager gave this suite up (or failed its env_preparation)"
    missing = sorted(suite.tags - manager.tags)
    if missing:
        return f"the manager lacks the suite's tags: {', '.join(missing)}"
    return None


def serves(manager: ManagerFacts, suite: SuiteFacts) -> bool:
    """Whether ``manager`` may take ``suite``'s tasks (queued or not)."""
    if manager.group_id != suite.group_id or manager.id in suite.given_up:
        return False
    if suite.assigned:
        return manager.id in suite.assigned
    return suite.tags <= manager.tags


def chosen(manager: ManagerFacts, suites: Iterable[SuiteFacts]) -> SuiteFacts | None:
    """The suite ``manager`` takes next: among those it serves with queued tasks that take
    them (open or closed), the highest priority, then the oldest (then the first made)."""
    eligible = [
        suite
        for suite in suites
        if suite.state in LIVE_SUITES and suite.pending > 0 and serves(manager, suite)
    ]
    if not eligible:
        return None
    return min(eligible, key=lambda suite: (-suite.priority, suite.created_at, suite.id))


def assignment_refusal(manager: ManagerFacts | None, suite: SuiteFacts) -> str | None:
    """Why a user may not name ``manager`` for ``suite`` (None: no such manager), or None.
    Tags are not asked: naming a manager is how a user overrides them."""
    if manager is None:
        return "no manager has this id"
    if manager.group_id != suite.group_id:
        return "the manager is of another group than the suite"
    return None


@dataclass(frozen=True)
class Refreshed:
    """``POST /suites/{uuid}/managers/refresh``: the tag-matched rows to add and to drop."""

    added: list[str]
    removed: list[str]


def refreshed(
    suite: SuiteFacts, managers: Sequence[ManagerFacts], tag_matched: Iterable[str]
) -> Refreshed:
    """The suite's tag-matched managers made what the managers' tags say now: those that
    match and are not listed are added, those listed that no longer match are removed. The
    user's own rows are kept as they are (the route leaves them)."""
    now = {
        m.id
        for m in managers
        if m.group_id == suite.group_id and suite.tags <= m.tags and m.id not in suite.given_up
    }
    before = set(tag_matched)
    return Refreshed(sorted(now - before - suite.assigned), sorted(before - now))


def is_offline(silent: float, offline_after: float = OFFLINE_AFTER) -> bool:
    """Whether a manager silent for ``silent`` seconds is offline."""
    return silent >= offline_after


def sweep_every(offline_after: float, setting: float | None = None) -> float:
    """How often to look for silent managers: the setting when given, else a quarter of the
    offline threshold (so a manager is marked within 1.25 of it), at most
    :data:`SWEEP_EVERY`, at least 0.05 s."""
    if setting is not None:
        return setting
    return max(0.05, min(SWEEP_EVERY, offline_after / 4))


def heartbeat_every(offline_after: float) -> float:
    """The heartbeat pace the coordinator asks of its managers (``Registered.heartbeat``):
    :data:`~shipyard.coordinator.managerprotocol.HEARTBEAT_EVERY`, or a quarter of the offline
    threshold when that is shorter (a test's short threshold must not mark a manager that
    heartbeats as told offline)."""
    return min(HEARTBEAT_EVERY, offline_after / 4)


def next_state_after_heartbeat(current: str, told: str) -> str:
    """A heartbeat's state is the manager's word, but for ``gone`` (it left, or was shut
    down: a late heartbeat does not bring it back; it registers again). An offline manager
    that heartbeats is live again, in the state it tells."""
    if current == "gone":
        return "gone"
    return told
