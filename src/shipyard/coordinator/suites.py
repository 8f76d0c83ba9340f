"""Task suites on PostgreSQL (issue 14 §1): create, read, list, cancel, close, and the sweep
that closes idle suites and completes drained ones.

The decisions are :mod:`shipyard.coordinator.suitestate`'s; this module reads the facts, asks
it, and writes the answer in one transaction with the suite's row locked (a user's action) or
with a conditional UPDATE that re-checks the facts (the sweep). The counters are kept by the
trigger of revision ``0004_suites``, in the same transaction as each task change.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.coordinator import managerqueries, queries, suitequeries
from shipyard.coordinator.decisions import uuid_problem
from shipyard.coordinator.suitestate import IDLE_CLOSE, SuiteFacts, after, settled
from shipyard.coordinator.tasks import Connected
from shipyard.errors import BadRequest, Conflict, NotFound

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import DictRow


@dataclass(frozen=True)
class Suite:
    id: int
    uuid: str
    name: str | None
    description: str | None
    group_id: int
    creator_id: int
    tags: list[str]
    labels: dict[str, Any]
    priority: int
    worker_schedule: dict[str, Any]
    env_preparation: dict[str, Any] | None
    env_cleanup: dict[str, Any] | None
    state: str
    reason: str | None
    total: int
    pending: int
    running: int
    done: int
    failed: int
    cancelled: int
    created_at: datetime
    updated_at: datetime
    last_task_at: datetime | None
    closed_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True)
class NewSuite:
    """A suite to create (its fields already validated by the route's model)."""

    group_id: int
    creator_id: int
    name: str | None = None
    description: str | None = None
    tags: Sequence[str] = ()
    labels: dict[str, Any] | None = None
    priority: int = 0
    worker_schedule: dict[str, Any] | None = None
    env_preparation: dict[str, Any] | None = None
    env_cleanup: dict[str, Any] | None = None


@dataclass(frozen=True)
class Joined:
    """What a task joining a suite takes from it."""

    id: int
    group_id: int
    tags: list[str]
    priority: int


@dataclass(frozen=True)
class Swept:
    closed: list[int]
    completed: list[int]


class SuiteStore(Connected):
    """Suites over one connection, used by one thread at a time (as TaskQueue)."""

    def create(self, new: NewSuite) -> str:
        from psycopg.types.json import Jsonb

        values = {
            "name": new.name,
            "description": new.description,
            "group_id": new.group_id,
            "creator_id": new.creator_id,
            "tags": sorted(set(new.tags)),
            "labels": Jsonb(new.labels or {}),
            "priority": new.priority,
            "worker_schedule": Jsonb(new.worker_schedule or {}),
            "env_preparation": Jsonb(new.env_preparation) if new.env_preparation else None,
            "env_cleanup": Jsonb(new.env_cleanup) if new.env_cleanup else None,
        }
        with self._transaction() as cursor:
            cursor.execute(suitequeries.CREATE, values)
            row = cursor.fetchone()
        assert row is not None
        return str(row["uuid"])

    def get(self, uuid: str) -> Suite:
        with self._transaction() as cursor:
            cursor.execute(suitequeries.GET, {"uuid": _checked(uuid)})
            row = cursor.fetchone()
        if row is None:
            raise _no_suite(uuid)
        return Suite(**row)

    def list(
        self,
        groups: Sequence[int],
        *,
        state: str | None = None,
        tags: Sequence[str] = (),
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[Suite]]:
        chosen = {"groups": list(groups), "state": state, "tags": list(tags)}
        with self._transaction() as cursor:
            cursor.execute(suitequeries.COUNT, chosen)
            counted = cursor.fetchone()
            cursor.execute(suitequeries.LIST, {**chosen, "limit": limit, "offset": offset})
            rows = cursor.fetchall()
        return int(counted["n"]) if counted else 0, [Suite(**row) for row in rows]

    def joined(self, uuid: str) -> Joined:
        """The suite a task joins (its state is checked again by the trigger as it inserts)."""
        with self._transaction() as cursor:
            cursor.execute(suitequeries.JOIN, {"uuid": _checked(uuid)})
            row = cursor.fetchone()
        if row is None:
            raise _no_suite(uuid)
        refused = after("submit", SuiteFacts(row["state"])).refused
        if refused:
            raise Conflict(f"suite {uuid}: {refused}", hint="create a new suite for new tasks")
        return Joined(int(row["id"]), int(row["group_id"]), list(row["tags"]), row["priority"])

    def cancel(self, uuid: str, *, running: bool, reason: str | None) -> tuple[int, Suite]:
        """Cancel the suite and its queued tasks (its running ones too with ``running``), in one
        transaction: how many tasks were cancelled, and the suite after."""
        states = ["queued", "running"] if running else ["queued"]
        message = f"suite cancelled{': ' + reason if reason else ''}"
        with self._transaction() as cursor:
            suite = self._locked(cursor, uuid)
            state = after("cancel", _facts(suite)).state
            cursor.execute(suitequeries.SET_STATE,
                           {"id": suite.id, "reason": reason, "state": state})  # fmt: skip
            cursor.execute(suitequeries.CANCEL_TASKS,
                           {"id": suite.id, "states": states, "message": message})  # fmt: skip
            counted = cursor.fetchone()
            cursor.execute(queries.NOTIFY_ENDED)
            # Its managers are told (cancel_suite), at commit: managerchannel's LISTEN.
            cursor.execute(managerqueries.NOTIFY_CANCEL, {"id": suite.id, "running": running})
        return int(counted["n"]) if counted else 0, self.get(uuid)

    def close_suite(self, uuid: str) -> Suite:
        """A user's close (Open → Closed), and Complete at once when nothing is left to run."""
        with self._transaction() as cursor:
            suite = self._locked(cursor, uuid)
            step = after("close", _facts(suite))
            if step.refused:
                raise Conflict(f"suite {uuid}: {step.refused}", hint="see `shipyard suite status`")
            if step.state != suite.state:
                cursor.execute(suitequeries.SET_STATE,
                               {"id": suite.id, "state": step.state, "reason": None})  # fmt: skip
            final = settled(SuiteFacts(step.state, 0.0, suite.pending + suite.running))
            if final != step.state:
                cursor.execute(suitequeries.SET_STATE,
                               {"id": suite.id, "state": final, "reason": None})  # fmt: skip
        return self.get(uuid)

    def sweep(self, idle_close: float = IDLE_CLOSE) -> Swept:
        """Close the suites idle for ``idle_close`` seconds, complete the drained closed ones."""
        with self._transaction() as cursor:
            cursor.execute(suitequeries.LIVE)
            live = cursor.fetchall()
        to_close: list[int] = []
        to_complete: list[int] = []
        for row in live:
            facts = SuiteFacts(
                row["state"], float(row["idle"]), int(row["unfinished"]), int(row["total"])
            )
            target = settled(facts, idle_close)
            if facts.state == "open" and target != "open":
                to_close.append(int(row["id"]))
            if target == "complete":
                to_complete.append(int(row["id"]))
        closed: list[int] = []
        completed: list[int] = []
        with self._transaction() as cursor:
            if to_close:
                cursor.execute(suitequeries.CLOSE_IDLE, {"ids": to_close, "idle": idle_close})
                closed = [int(row["id"]) for row in cursor.fetchall()]
            if to_complete:
                cursor.execute(suitequeries.COMPLETE_DRAINED, {"ids": to_complete})
                completed = [int(row["id"]) for row in cursor.fetchall()]
        return Swept(closed, completed)

    def recount(self, uuid: str) -> dict[str, int]:
        """The suite's tasks counted by state (the counters' check)."""
        suite = self.get(uuid)
        with self._transaction() as cursor:
            cursor.execute(suitequeries.RECOUNT, {"id": suite.id})
            return {row["state"]: int(row["n"]) for row in cursor.fetchall()}

    @staticmethod
    def _locked(cursor: psycopg.Cursor[DictRow], uuid: str) -> Suite:
        cursor.execute(suitequeries.LOCK, {"uuid": _checked(uuid)})
        row = cursor.fetchone()
        if row is None:
            raise _no_suite(uuid)
        return Suite(**row)


def _facts(suite: Suite) -> SuiteFacts:
    return SuiteFacts(suite.state, 0.0, suite.pending + suite.running)  # type: ignore[arg-type]


def _checked(uuid: str) -> str:
    if uuid_problem(uuid) is not None:
        raise BadRequest(f"{uuid[:40]!r} is not a suite id (a uuid)",
                         hint="`shipyard suite list` shows your suites' ids")  # fmt: skip
    return str(uuidlib.UUID(uuid))


def _no_suite(uuid: str) -> NotFound:
    return NotFound(f"no suite {uuid}", hint="`shipyard suite list` shows the suites you can see")
