"""Node managers on PostgreSQL (issue 14 §2): register, heartbeat, the next suite, a suite's
end on a manager, hook and give-up events, the offline sweep, assignments, and the reads of
the routes and /metrics.

A manager is also a row of ``workers`` (the same id, group and tags), written in the same
transaction as its ``managers`` row: the task queue's fetch, heartbeat (hold), report, release
and recover hold its leases as they hold an independent worker's. The decisions are
:mod:`shipyard.coordinator.managerdecisions`' (the matching rule in SQL in
:mod:`shipyard.coordinator.managerqueries`).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.coordinator import managerqueries as mq
from shipyard.coordinator import queries, suitequeries
from shipyard.coordinator.decisions import strings_problem, uuid_problem
from shipyard.coordinator.managerdecisions import (
    ManagerFacts,
    Refreshed,
    SuiteFacts,
    assignment_refusal,
    refreshed,
)
from shipyard.coordinator.managerprotocol import MANAGER_STATES
from shipyard.coordinator.suites import Suite
from shipyard.coordinator.tasks import Connected
from shipyard.errors import BadRequest, Conflict, NotFound

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import DictRow

_SUITE_BY_ID = f"SELECT {suitequeries.SUITE_COLUMNS} FROM suites s WHERE s.id = %(id)s"  # noqa: S608


@dataclass(frozen=True)
class Manager:
    id: str
    group_id: int
    hostname: str
    tags: list[str]
    labels: dict[str, Any]
    cpus: int
    state: str
    suite_uuid: str | None
    metrics: dict[str, Any]
    shutdown: str | None
    created_at: datetime
    last_heartbeat: datetime
    connected_at: datetime | None


@dataclass(frozen=True)
class Event:
    kind: str
    ok: bool
    exit_status: int | None
    seconds: float | None
    output: str
    created_at: datetime
    suite_uuid: str


@dataclass(frozen=True)
class Beat:
    """What a heartbeat found: the state before it, the shutdown asked, the manager's suite."""

    was: str
    shutdown: str | None
    suite_id: int | None


@dataclass(frozen=True)
class SuiteManager:
    id: str
    hostname: str
    state: str
    selection: str | None
    serving: bool


@dataclass(frozen=True)
class Assignment:
    """``POST /suites/{uuid}/managers``: the managers named, and why each other was not."""

    added: list[str]
    refused: dict[str, str]


class ManagerStore(Connected):
    """Managers over one connection, used by one thread at a time (as TaskQueue)."""

    # --- the manager's own requests ---

    def register(
        self,
        manager: str,
        group_id: int,
        *,
        tags: Sequence[str] = (),
        labels: dict[str, Any] | None = None,
        hostname: str = "",
        cpus: int = 1,
    ) -> str:
        from psycopg.types.json import Jsonb

        manager = _checked(manager)
        problem = strings_problem("tags", list(tags))
        if problem:
            raise BadRequest(problem, hint="tags are non-empty strings")
        tags = sorted(set(tags))
        with self._transaction() as cursor:
            cursor.execute(mq.REGISTER, {"id": manager, "group": group_id, "tags": tags,
                                         "labels": Jsonb(labels or {}), "hostname": hostname,
                                         "cpus": cpus})  # fmt: skip
            cursor.execute(queries.REGISTER, {"id": manager, "group": group_id, "tags": tags})
        return manager

    def get(self, manager: str) -> Manager:
        with self._transaction() as cursor:
            cursor.execute(mq.GET, {"id": _checked(manager)})
            row = cursor.fetchone()
        if row is None:
            raise _no_manager(manager)
        return Manager(**row)

    def heartbeat(self, manager: str, state: str, metrics: dict[str, Any]) -> Beat:
        from psycopg.types.json import Jsonb

        manager = _checked(manager)
        with self._transaction() as cursor:
            cursor.execute(mq.HEARTBEAT, {"id": manager, "state": state, "metrics": Jsonb(metrics)})
            row = cursor.fetchone()
            if row is None:
                raise _not_registered(manager)
            if row["was"] == "offline":  # live again: its worker row fetches again
                cursor.execute(mq.WORKER_ACTIVE, {"id": manager})
        return Beat(str(row["was"]), row["shutdown"], row["suite_id"])

    def next_suite(self, manager: str) -> int | None:
        """The manager's suite: the one it has, else the one it takes now (None: nothing)."""
        manager = _checked(manager)
        with self._transaction() as cursor:
            cursor.execute(mq.MANAGER_SUITE, {"id": manager})
            row = cursor.fetchone()
            if row is None:
                raise _not_registered(manager)
            if row["state"] in ("offline", "gone"):
                raise Conflict(f"manager {manager} is {row['state']}",
                               hint="heartbeat (or register) first")  # fmt: skip
            if row["suite_id"] is not None:
                return int(row["suite_id"])
            cursor.execute(mq.NEXT_SUITE, {"id": manager})
            picked = cursor.fetchone()
        return int(picked["id"]) if picked else None

    def suite(self, suite_id: int) -> Suite:
        with self._transaction() as cursor:
            cursor.execute(_SUITE_BY_ID, {"id": suite_id})
            row = cursor.fetchone()
        if row is None:
            raise NotFound(f"no suite {suite_id}")
        return Suite(**row)

    def fetch_suite(self, manager: str, uuid: str) -> int:
        """The id of suite ``uuid``, if it is ``manager``'s now (409 otherwise)."""
        with self._transaction() as cursor:
            cursor.execute(mq.FETCH_SUITE, {"id": _checked(manager), "uuid": _suite_uuid(uuid)})
            row = cursor.fetchone()
        if row is None:
            raise NotFound(f"no suite {uuid}", hint="fetch the suite next_suite gave")
        if not row["mine"]:
            raise Conflict(f"suite {uuid} is not manager {manager}'s suite",
                           hint="ask next_suite for the suite to serve")  # fmt: skip
        return int(row["id"])

    def suite_id(self, uuid: str) -> int:
        with self._transaction() as cursor:
            cursor.execute(mq.SUITE_ID, {"uuid": _suite_uuid(uuid)})
            row = cursor.fetchone()
        if row is None:
            raise NotFound(f"no suite {uuid}", hint="`shipyard suite list` shows the suites")
        return int(row["id"])

    def suite_done(self, manager: str, uuid: str) -> bool:
        """The manager is through with suite ``uuid``: idle and unassigned (False: it did not
        have that suite; nothing changed)."""
        with self._transaction() as cursor:
            cursor.execute(mq.SUITE_DONE, {"id": _checked(manager), "uuid": _suite_uuid(uuid)})
            return cursor.fetchone() is not None

    def event(
        self,
        manager: str,
        suite_id: int,
        kind: str,
        *,
        ok: bool,
        exit_status: int | None = None,
        seconds: float | None = None,
        output: str = "",
    ) -> None:
        with self._transaction() as cursor:
            cursor.execute(mq.EVENT, {"id": _checked(manager), "suite": suite_id, "kind": kind,
                                      "ok": ok, "exit_status": exit_status, "seconds": seconds,
                                      "output": output})  # fmt: skip

    def released(self, manager: str, uuid: str, reason: str) -> None:
        with self._transaction() as cursor:
            cursor.execute(mq.RELEASED_EVENT, {"id": _checked(manager), "uuid": uuid,
                                               "output": reason})  # fmt: skip

    def events(self, manager: str, limit: int = 20) -> list[Event]:
        with self._transaction() as cursor:
            cursor.execute(mq.EVENTS, {"id": _checked(manager), "limit": limit})
            return [Event(**row) for row in cursor.fetchall()]

    def connected(self, manager: str) -> None:
        with self._transaction() as cursor:
            cursor.execute(mq.CONNECTED, {"id": _checked(manager)})

    def disconnected(self, manager: str) -> bool:
        """Its socket closed; whether it has left for good (it had been asked to shut down:
        gone; the caller gives its tasks back)."""
        with self._transaction() as cursor:
            cursor.execute(mq.DISCONNECTED, {"id": _checked(manager)})
            row = cursor.fetchone()
        return bool(row and row["gone"])

    # --- the server's ---

    def sweep_offline(self, after: float) -> list[str]:
        """Managers silent for ``after`` seconds: offline, their suite cleared (their tasks
        are the caller's to recover). Their ids."""
        with self._transaction() as cursor:
            cursor.execute(mq.OFFLINE, {"after": after})
            return [str(row["id"]) for row in cursor.fetchall()]

    def ask_shutdown(self, manager: str, force: bool) -> None:
        """Record the shutdown (every HeartbeatAck carries it) and push it."""
        import json

        manager = _checked(manager)
        push = {"type": "shutdown", "graceful": not force}
        with self._transaction() as cursor:
            cursor.execute(mq.SHUTDOWN, {"id": manager, "shutdown": "force" if force else
                                         "graceful"})  # fmt: skip
            if cursor.fetchone() is None:
                raise _no_manager(manager)
            cursor.execute(mq.NOTIFY, {"payload": json.dumps({"manager": manager, "push": push})})

    def notify(self, manager: str, push: dict[str, Any]) -> None:
        import json

        with self._transaction() as cursor:
            cursor.execute(mq.NOTIFY, {"payload": json.dumps({"manager": manager, "push": push})})

    def available_to(self, uuid: str, managers: Sequence[str]) -> list[tuple[str, int]]:
        """Which of ``managers`` (idle, without a suite) may serve suite ``uuid`` now that it
        has queued tasks; with the suite's priority."""
        if not managers:
            return []
        with self._transaction() as cursor:
            cursor.execute(mq.AVAILABLE_TO, {"uuid": uuid, "ids": list(managers)})
            return [(str(row["id"]), int(row["priority"])) for row in cursor.fetchall()]

    # --- the users' reads and assignments ---

    def matching(
        self,
        groups: Sequence[int],
        *,
        state: str | None = None,
        tags: Sequence[str] = (),
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[Manager]]:
        if state is not None and state not in MANAGER_STATES:
            raise BadRequest(f"state {state!r} is none of {', '.join(MANAGER_STATES)}",
                             hint="give one of those or leave state out")  # fmt: skip
        chosen = {"groups": list(groups), "state": state, "tags": list(tags)}
        with self._transaction() as cursor:
            cursor.execute(mq.COUNT, chosen)
            counted = cursor.fetchone()
            cursor.execute(mq.LIST, {**chosen, "limit": limit, "offset": offset})
            rows = cursor.fetchall()
        return int(counted["n"]) if counted else 0, [Manager(**row) for row in rows]

    def of_suite(self, suite_id: int) -> list[SuiteManager]:
        with self._transaction() as cursor:
            cursor.execute(mq.OF_SUITE, {"suite": suite_id})
            return [SuiteManager(**row) for row in cursor.fetchall()]

    def refresh(self, suite: Suite) -> tuple[Refreshed, int]:
        """The suite's tag-matched managers made what the tags say now (the user's kept):
        what was added and removed, and how many managers it has after."""
        with self._transaction() as cursor:
            facts = self._facts(cursor, suite)
            cursor.execute(mq.GROUP_MANAGERS, {"group": suite.group_id})
            managers = [_manager_facts(row) for row in cursor.fetchall()]
            cursor.execute(mq.ASSIGNMENTS, {"suite": suite.id})
            rows = cursor.fetchall()
            matched = [row["id"] for row in rows if row["selection"] == "tag_matched"]
            change = refreshed(facts, managers, matched)
            if change.added:
                cursor.execute(mq.ASSIGN, {"suite": suite.id, "ids": change.added,
                                           "selection": "tag_matched"})  # fmt: skip
            if change.removed:
                cursor.execute(mq.UNASSIGN, {"suite": suite.id, "ids": change.removed,
                                             "selection": "tag_matched"})  # fmt: skip
            cursor.execute(mq.ASSIGNMENTS, {"suite": suite.id})
            total = len(cursor.fetchall())
        return change, total

    def assign(self, suite: Suite, managers: Sequence[str]) -> Assignment:
        """Name managers for the suite (``user_specified``): each of its group is added, each
        other refused with its reason. The named ones are told the suite is available."""
        import json

        wanted = {}
        refused: dict[str, str] = {}
        for given in managers:
            if uuid_problem(given) is None:
                wanted[str(uuidlib.UUID(given))] = given
            else:
                refused[given] = "not a manager id (a uuid)"
        with self._transaction() as cursor:
            facts = self._facts(cursor, suite)
            cursor.execute(mq.MANAGERS_BY_ID, {"ids": sorted(wanted)})
            found = {row["id"]: _manager_facts(row) for row in cursor.fetchall()}
            added = []
            for manager in sorted(wanted):
                reason = assignment_refusal(found.get(manager), facts)
                if reason is None:
                    added.append(manager)
                else:
                    refused[manager] = reason
            if added:
                cursor.execute(mq.ASSIGN, {"suite": suite.id, "ids": added,
                                           "selection": "user_specified"})  # fmt: skip
                cursor.execute(mq.NOTIFY, {"payload": json.dumps({"recheck": suite.uuid})})
        return Assignment(added, refused)

    def unassign(self, suite: Suite, managers: Sequence[str]) -> list[str]:
        ids = [str(uuidlib.UUID(m)) for m in managers if uuid_problem(m) is None]
        with self._transaction() as cursor:
            cursor.execute(mq.UNASSIGN, {"suite": suite.id, "ids": ids, "selection": None})
            return sorted(str(row["id"]) for row in cursor.fetchall())

    @staticmethod
    def _facts(cursor: psycopg.Cursor[DictRow], suite: Suite) -> SuiteFacts:
        cursor.execute(mq.ASSIGNMENTS, {"suite": suite.id})
        assigned = frozenset(r["id"] for r in cursor.fetchall()
                             if r["selection"] == "user_specified")  # fmt: skip
        cursor.execute(mq.GIVEN_UP, {"suite": suite.id})
        given_up = frozenset(r["id"] for r in cursor.fetchall())
        return SuiteFacts(
            id=suite.id, group_id=suite.group_id, tags=frozenset(suite.tags), state=suite.state,
            priority=suite.priority, created_at=suite.created_at, pending=suite.pending,
            assigned=assigned, given_up=given_up,
        )  # fmt: skip

    # --- figures ---

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Suites and managers by state (for /metrics)."""
        with self._transaction() as cursor:
            cursor.execute(mq.SUITE_STATES_COUNT)
            suites = {row["state"]: int(row["n"]) for row in cursor.fetchall()}
            cursor.execute(mq.MANAGER_STATES_COUNT)
            managers = {row["state"]: int(row["n"]) for row in cursor.fetchall()}
        return suites, managers


def _manager_facts(row: dict[str, Any]) -> ManagerFacts:
    return ManagerFacts(str(row["id"]), int(row["group_id"]), frozenset(row["tags"]))


def _checked(manager: str) -> str:
    if uuid_problem(manager, "manager id") is not None:
        raise BadRequest(f"{manager[:40]!r} is not a manager id (a uuid)",
                         hint="`shipyard managers list` shows the managers' ids")  # fmt: skip
    return str(uuidlib.UUID(manager))


def _suite_uuid(uuid: str) -> str:
    if uuid_problem(uuid) is not None:
        raise BadRequest(f"{uuid[:40]!r} is not a suite id (a uuid)",
                         hint="`shipyard suite list` shows the suites' ids")  # fmt: skip
    return str(uuidlib.UUID(uuid))


def _no_manager(manager: str) -> NotFound:
    return NotFound(f"no manager {manager}", hint="`shipyard managers list` shows the managers")


def _not_registered(manager: str) -> NotFound:
    return NotFound(f"manager {manager} is not registered",
                    hint="register first: POST /api/v1/managers")  # fmt: skip
