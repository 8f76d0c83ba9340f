"""The coordinator's task queue on PostgreSQL (issue 13 §3): submit, query, edit, cancel, fetch
with a lease, heartbeat, report, recover, and wait for work with LISTEN/NOTIFY.

Synchronous psycopg 3, one connection per :class:`TaskQueue`, used by one thread at a time:
FastAPI runs plain ``def`` handlers in its thread pool, workers and the bench are threads or
processes, and a blocking ``notifies(timeout=…)`` is the simplest correct wait. Async would
save a thread per long-polling fetcher; ``asyncio.to_thread`` over this class gives that to an
async caller without a second implementation to keep right.

Delivery is at least once: a task whose lease runs out runs again (its attempt recorded as
lost), and every report carries the attempt number it was fetched with, so a worker that lost
its lease cannot overwrite what the next attempt reports (a fencing token).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.coordinator import queries
from shipyard.coordinator.decisions import (
    MAX_LIMIT,
    TASK_STATES,
    WORKER_STATES,
    TaskFilter,
    TaskSpec,
    can_cancel,
    can_edit,
    checked_uuid,
    local_path_problem,
    page,
    repeated_keys,
    report_problem,
    spec_problem,
    strings_problem,
    tail,
    uuid_problem,
    where_clause,
)
from shipyard.coordinator.migrate import libpq_url
from shipyard.errors import BadRequest, Conflict, DatabaseUnavailable, NotFound

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import DictRow

#: How long a fetched task is a worker's before it must heartbeat (seconds).
LEASE = 30.0
#: The longest output tail a task keeps (characters; the full log stays with the worker).
OUTPUT_TAIL = 64 * 1024
#: How often a fetch first recovers expired leases (seconds): a lease lasts LEASE, so a second
#: more before its task is queued again costs little, and a fetch is one transaction, not two.
RECOVER_EVERY = 1.0
#: How often a waiting fetcher looks again with no notification (the safety net, seconds).
POLL = 5.0
#: The most rows one SUBMIT statement carries; a larger batch is several, in one transaction.
#: One statement for 10,000 tasks built 10,000 row dicts and a 2.5 MB JSON text at once (a
#: 23.5 MB peak for the request), and libpq keeps its send buffer at the largest query it
#: sent (4 MB) for the connection's life, in each pooled connection: the served coordinator
#: ended 188 MB after 100,000 tasks (docs/performance.md, "What holds the coordinator's
#: memory"). A statement of 1,000 costs one round trip more for each 1,000 tasks.
SUBMIT_CHUNK = 1000


# --- records -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submitted:
    index: int
    uuid: str


@dataclass(frozen=True)
class Refused:
    index: int
    reason: str
    #: The task already queued under the refused task's key (a submit sent again): 409.
    existing: str | None = None


@dataclass(frozen=True)
class SubmitReport:
    """A batch's outcome, task by task (``index`` is its place in the batch)."""

    accepted: list[Submitted] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


@dataclass(frozen=True)
class Claimed:
    """A task a worker fetched: what to run, and the attempt number to report with."""

    uuid: str
    attempt: int
    command: list[str]
    env: dict[str, str]
    local_path: str | None
    timeout: float | None
    priority: int
    lease_expires: datetime


@dataclass(frozen=True)
class Report:
    """How an attempt ended, as its worker tells it."""

    uuid: str
    attempt: int
    exit_status: int
    output: str | None = None
    result: Any = None


@dataclass(frozen=True)
class ReportOutcome:
    """Each taken report's next task state, and each refused one's error (by uuid)."""

    states: dict[str, str] = field(default_factory=dict)
    refused: dict[str, NotFound | Conflict] = field(default_factory=dict)


@dataclass(frozen=True)
class Attempt:
    number: int
    worker_id: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str
    exit_status: int | None


@dataclass(frozen=True)
class Task:
    uuid: str
    group_id: int
    creator_id: int
    state: str
    priority: int
    tags: list[str]
    labels: dict[str, Any]
    command: list[str]
    env: dict[str, str]
    local_path: str | None
    timeout: float | None
    max_attempts: int
    attempts: int
    watch_upstream: str | None
    watch_state: str | None
    lease_owner: str | None
    lease_expires: datetime | None
    heartbeat_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    exit_status: int | None
    output_tail: str | None
    result: Any
    message: str | None
    key: str | None = None
    #: The suite it joined (issue 14); None: a lone task.
    suite_uuid: str | None = None


@dataclass(frozen=True)
class CancelReport:
    cancelled: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Counts:
    tasks: dict[str, int]
    workers: dict[str, int]


@dataclass(frozen=True)
class Artifact:
    name: str
    size: int
    path: str
    created_at: datetime


# --- the queue ---------------------------------------------------------------------------------


class Connected:
    """One autocommit psycopg connection (rows as dicts), used by one thread at a time, with
    driver errors translated: what the queue and the suite and manager stores are built on."""

    def __init__(self, url: str) -> None:
        import psycopg
        from psycopg.rows import dict_row

        self.url = libpq_url(url)
        with _translated(self.url):
            self._db: psycopg.Connection[DictRow] = psycopg.connect(
                self.url, autocommit=True, row_factory=dict_row
            )

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor[DictRow]]:
        with _translated(self.url), self._db.transaction(), self._db.cursor() as cursor:
            yield cursor


class TaskQueue(Connected):
    """The queue over one connection. ``close()`` (or ``with``) when done."""

    def __init__(self, url: str, *, lease: float = LEASE) -> None:
        super().__init__(url)
        self.lease = lease
        self._recovered_at = -RECOVER_EVERY

    def __enter__(self) -> TaskQueue:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _statement(self) -> Iterator[psycopg.Cursor[DictRow]]:
        """For one statement, or reads that need not agree: no BEGIN … COMMIT around them."""
        with _translated(self.url), self._db.cursor() as cursor:
            yield cursor

    # --- submitting ---

    def submit(self, specs: Sequence[TaskSpec]) -> SubmitReport:
        """Queue the valid tasks of a batch in one statement; refuse the others, saying why."""
        refused = [Refused(i, p) for i, spec in enumerate(specs) if (p := spec_problem(spec))]
        bad = {entry.index for entry in refused}
        for index, first in repeated_keys(specs).items():
            if index not in bad:
                bad.add(index)
                refused.append(Refused(index, f"key {specs[index].key!r} is given to the task "
                                              f"at index {first} of this batch too"))  # fmt: skip
        accepted: list[Submitted] = []
        with self._transaction() as cursor:
            upstreams = self._upstreams(cursor, [s for i, s in enumerate(specs) if i not in bad])
            # SUBMIT_CHUNK rows a statement, in the batch's one transaction: the rows, their
            # JSON and what comes back are a chunk's at a time, not the batch's (see
            # SUBMIT_CHUNK), and the ids still follow the batch's order, chunk after chunk.
            good = [index for index in range(len(specs)) if index not in bad]
            for first in range(0, len(good), SUBMIT_CHUNK):
                rows: list[tuple[int, dict[str, Any]]] = []
                for index in good[first : first + SUBMIT_CHUNK]:
                    row, problem = _row(specs[index], upstreams)
                    if problem:
                        refused.append(Refused(index, problem))
                    else:
                        rows.append((index, {**row, "n": index}))
                if not rows:
                    continue
                cursor.execute(queries.SUBMIT, {"rows": json.dumps([row for _, row in rows])})
                made = sorted(cursor.fetchall(), key=lambda m: int(m["id"]))
                chunk, taken = _paired(rows, made)
                accepted += chunk
                refused += self._already_there(cursor, taken)
            if accepted:
                cursor.execute(queries.NOTIFY)
        return SubmitReport(accepted, sorted(refused, key=lambda entry: entry.index))

    @staticmethod
    def _already_there(
        cursor: psycopg.Cursor[DictRow], taken: list[tuple[int, dict[str, Any]]]
    ) -> list[Refused]:
        """Rows whose key a task of their group holds: refused, naming that task."""
        if not taken:
            return []
        cursor.execute(queries.KEYED, {"groups": [row["group_id"] for _, row in taken],
                                       "keys": [row["key"] for _, row in taken]})  # fmt: skip
        found = {(m["group_id"], m["key"]): m["uuid"] for m in cursor.fetchall()}
        return [
            Refused(index, f"a task with key {row['key']!r} already exists in its group: "
                    f"{found.get((row['group_id'], row['key']))}",
                    existing=found.get((row["group_id"], row["key"])))
            for index, row in taken
        ]  # fmt: skip

    def submit_one(self, spec: TaskSpec) -> str:
        """One task's uuid, or BadRequest saying why it was refused (Conflict when a task of
        its group already has its key)."""
        report = self.submit([spec])
        if report.refused:
            first = report.refused[0]
            if first.existing is not None:
                raise Conflict(first.reason, hint="that task is the one this submit asked for")
            raise BadRequest(first.reason, hint="fix that field and submit again")
        return report.accepted[0].uuid

    @staticmethod
    def _upstreams(
        cursor: psycopg.Cursor[DictRow], specs: Sequence[TaskSpec]
    ) -> dict[str, tuple[int, int]]:
        wanted = sorted({checked_uuid(s.watch.upstream) for s in specs if s.watch})
        if not wanted:
            return {}
        cursor.execute(queries.UPSTREAMS, {"uuids": wanted})
        return {row["uuid"]: (row["id"], row["group_id"]) for row in cursor.fetchall()}

    # --- reading ---

    def get(self, uuid: str) -> Task:
        with self._statement() as cursor:
            cursor.execute(queries.GET, {"uuid": checked_uuid(uuid)})
            row = cursor.fetchone()
        if row is None:
            raise _not_found(uuid)
        return Task(**row)

    def attempts(self, uuid: str) -> list[Attempt]:
        self.get(uuid)
        with self._statement() as cursor:
            cursor.execute(queries.ATTEMPTS, {"uuid": checked_uuid(uuid)})
            return [Attempt(**row) for row in cursor.fetchall()]

    def query(self, chosen: TaskFilter, *, limit: int = 50, offset: int = 0) -> list[Task]:
        """The matching tasks, newest first, one page of them."""
        where, params = where_clause(chosen)
        limit, offset = page(limit, offset)
        sql = (
            f"SELECT {queries.TASK_COLUMNS} FROM tasks t WHERE {where} "  # noqa: S608 (fixed text)
            "ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s"
        )
        with self._statement() as cursor:
            cursor.execute(sql.encode(), {**params, "limit": limit, "offset": offset})
            return [Task(**row) for row in cursor.fetchall()]

    def count(self, chosen: TaskFilter) -> int:
        where, params = where_clause(chosen)
        with self._statement() as cursor:
            cursor.execute(f"SELECT count(*) AS n FROM tasks t WHERE {where}".encode(), params)  # noqa: S608
            row = cursor.fetchone()
        return int(row["n"]) if row else 0

    # --- changing before it runs ---

    def edit(self, uuid: str, **changes: Any) -> Task:
        """Change fields of a task that has not started (Conflict, 409, once it has)."""
        unknown = sorted(set(changes) - set(queries.EDITABLE))
        if unknown:
            raise BadRequest(
                f"{unknown[0]} cannot be edited",
                hint=f"editable fields: {', '.join(queries.EDITABLE)}",
            )
        current = self.get(uuid)
        if not changes:
            return current
        merged = TaskSpec(**{**_spec_fields(current), **changes})
        problem = spec_problem(merged)
        if problem:
            raise BadRequest(problem, hint="fix that field and edit again")
        assignments = ", ".join(f"{name} = %({name})s" for name in changes)
        params = {name: _bindable(name, value) for name, value in changes.items()}
        with self._transaction() as cursor:
            cursor.execute(
                queries.EDIT.format(assignments=assignments).encode(),
                {**params, "uuid": current.uuid},
            )
            done = cursor.fetchone()
        if done is None:
            raise self._not_editable(uuid)
        return self.get(uuid)

    def _not_editable(self, uuid: str) -> Conflict:
        now = self.get(uuid)
        assert not can_edit(now.state, now.started_at is not None)
        return Conflict(
            f"task {uuid} has {'started' if now.started_at else now.state}; only a task that "
            "has not started can be edited",
            hint="submit a new task with the changes (and cancel this one if it is queued)",
        )

    def cancel(self, uuid: str) -> None:
        report = self.cancel_many([uuid])
        if report.refused:
            reason = report.refused[checked_uuid(uuid)]
            if "no task" in reason:
                raise _not_found(uuid)
            raise Conflict(f"task {uuid} {reason}", hint="only queued tasks can be cancelled")

    def cancel_many(self, uuids: Sequence[str], *, by: str = "a user") -> CancelReport:
        """Cancel each queued task of the list; say for each other why not."""
        wanted = [checked_uuid(uuid) for uuid in uuids]
        done = self._cancel(TaskFilter(uuids=wanted), by)
        refused: dict[str, str] = {}
        for uuid in wanted:
            if uuid not in done:
                refused[uuid] = self._why_not_cancelled(uuid)
        return CancelReport(done, refused)

    def cancel_where(self, chosen: TaskFilter, *, by: str = "a user") -> list[str]:
        """Cancel every queued task the filter matches; their uuids. An empty filter is
        refused: it would cancel every queued task of every group."""
        if where_clause(chosen)[0] == "TRUE":
            raise BadRequest(
                "a cancel by filter needs at least one condition",
                hint="name a group, tags, labels, states, creators… (or list the tasks)",
            )
        return self._cancel(chosen, by)

    def _cancel(self, chosen: TaskFilter, by: str) -> list[str]:
        where, params = where_clause(chosen)
        with self._transaction() as cursor:
            cursor.execute(
                queries.CANCEL.format(where=where).encode(),
                {**params, "message": f"cancelled by {by}"},
            )
            rows = cursor.fetchall()
            if rows:
                cursor.execute(queries.NOTIFY_ENDED)
            self._after_ends(cursor, [row["id"] for row in rows])
        return [row["uuid"] for row in rows]

    def _why_not_cancelled(self, uuid: str) -> str:
        with self._transaction() as cursor:
            cursor.execute(queries.STATE_OF, {"uuid": uuid})
            row = cursor.fetchone()
        if row is None:
            return "no task has this id"
        assert not can_cancel(row["state"])
        return f"is {row['state']}"

    # --- workers ---

    def register_worker(
        self, group_id: int, tags: Sequence[str] = (), *, worker_id: str | None = None
    ) -> str:
        """A worker's id: it fetches tasks of ``group_id`` whose tags it has all of. Give
        ``worker_id`` (its token's principal id) to register under that id, or again."""
        problem = strings_problem("tags", list(tags)) or (
            uuid_problem(worker_id, "worker id") if worker_id is not None else None
        )
        if problem:
            raise BadRequest(problem, hint="tags are non-empty strings; a worker id is a uuid")
        with self._transaction() as cursor:
            cursor.execute(
                queries.REGISTER, {"id": worker_id, "group": group_id, "tags": list(tags)}
            )
            row = cursor.fetchone()
        assert row is not None
        return str(row["id"])

    def leave(self, worker: str) -> list[str]:
        """The worker is gone: its running tasks go back to the queue now (attempts lost)."""
        worker = checked_uuid(worker, "worker id")
        with self._transaction() as cursor:
            cursor.execute(queries.LEAVE, {"worker": worker})
            if cursor.fetchone() is None:
                raise NotFound(f"no worker {worker}", hint="a worker registers first")
        return self.recover(release=worker)

    def fetch(self, worker: str, limit: int = 1, *, suite: int | None = None) -> list[Claimed]:
        """Claim up to ``limit`` tasks for ``worker`` (leases recovered first); with ``suite``
        (a suite's id), only that suite's tasks (a node manager's fetch)."""
        worker = checked_uuid(worker, "worker id")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"limit {limit!r} is outside 1..{MAX_LIMIT}", hint="fetch fewer")
        if time.monotonic() - self._recovered_at >= RECOVER_EVERY:
            self.recover()
        # One statement (claim and attempt rows together): in autocommit it is atomic on its
        # own, and BEGIN and COMMIT would cost two more round trips per fetch.
        with self._statement() as cursor:
            cursor.execute(
                queries.FETCH if suite is None else queries.FETCH_SUITE,
                {"worker": worker, "limit": limit, "lease": self.lease, "suite": suite},
            )
            rows = cursor.fetchall()
            if not rows:
                self._check_worker(cursor, worker)
        return [
            Claimed(
                uuid=row["uuid"],
                attempt=row["attempts"],
                command=row["command"],
                env=row["env"],
                local_path=row["local_path"],
                timeout=row["timeout"],
                priority=row["priority"],
                lease_expires=row["lease_expires"],
            )
            for row in rows
        ]

    @staticmethod
    def _check_worker(cursor: psycopg.Cursor[DictRow], worker: str) -> None:
        cursor.execute(queries.WORKER_EXISTS, {"worker": worker})
        row = cursor.fetchone()
        if row is None:
            raise NotFound(f"no worker {worker}", hint="register the worker first")
        if row["state"] != "active":
            raise Conflict(f"worker {worker} is {row['state']}", hint="register again")

    def fetch_wait(
        self, worker: str, listener: Listener, *, limit: int = 1, wait: float = 30.0
    ) -> list[Claimed]:
        """Like :meth:`fetch`, but wait up to ``wait`` seconds for work: woken by a
        notification on submit, looking again every :data:`POLL` seconds in case one was lost.
        The listener listens before the first look, so a submit in between is not missed."""
        deadline = time.monotonic() + wait
        while True:
            claimed = self.fetch(worker, limit)
            left = deadline - time.monotonic()
            if claimed or left <= 0:
                return claimed
            listener.wait(min(left, POLL))

    def heartbeat(self, worker: str, holding: Collection[str] | None = None) -> list[str]:
        """Extend the leases of the tasks the worker holds; the uuids it still holds (a task
        missing from the list was recovered from it and must be abandoned).

        ``holding``: the tasks the worker knows it has (claimed, running, or awaiting their
        report); only those are extended, so a task whose fetch answer was lost on the way runs
        out of lease and is recovered. None extends all of the worker's running tasks (a
        caller that runs one task at a time, in-process, cannot lose a fetch answer)."""
        worker = checked_uuid(worker, "worker id")
        listed = None if holding is None else [checked_uuid(uuid) for uuid in holding]
        with self._transaction() as cursor:
            cursor.execute(queries.HEARTBEAT_WORKER, {"worker": worker})
            if cursor.fetchone() is None:
                raise NotFound(f"no worker {worker}", hint="register the worker first")
            cursor.execute(
                queries.HEARTBEAT_TASKS, {"worker": worker, "lease": self.lease, "holding": listed}
            )
            return sorted(row["uuid"] for row in cursor.fetchall())

    def report(
        self,
        worker: str,
        uuid: str,
        attempt: int,
        *,
        exit_status: int,
        output: str | None = None,
        result: Any = None,
    ) -> str:
        """The end of attempt ``attempt``: the task's next state (queued again while attempts
        remain after a failure). Conflict (409) when the lease is no longer this attempt's."""
        outcome = self.report_many(worker, [Report(uuid, attempt, exit_status, output, result)])
        if outcome.refused:
            raise next(iter(outcome.refused.values()))
        return outcome.states[checked_uuid(uuid)]

    def report_many(self, worker: str, reports: Sequence[Report]) -> ReportOutcome:
        """Several attempts' ends in one transaction (a worker that claimed a batch). Each
        report is taken or refused on its own: Conflict when its lease is gone, NotFound."""
        worker = checked_uuid(worker, "worker id")
        rows = [_report_row(report) for report in reports]
        with self._transaction() as cursor:
            cursor.execute(queries.REPORT, {"worker": worker, "rows": json.dumps(rows)})
            moved = cursor.fetchall()
            states = {row["uuid"]: str(row["state"]) for row in moved}
            if any(row["state"] == "queued" for row in moved):
                cursor.execute(queries.NOTIFY)
            if any(row["state"] != "queued" for row in moved):
                cursor.execute(queries.NOTIFY_ENDED)  # results awaited with wait look again
            self._after_ends(cursor, [row["id"] for row in moved if row["watched"]])
            refused: dict[str, NotFound | Conflict] = {}
            for row in rows:
                if row["uuid"] in states:
                    continue
                # A report sent again (its answer lost to a coordinator that died) finds its
                # attempt ended as it says: answered as the first was, not refused.
                cursor.execute(queries.REPLAYED, {**row, "worker": worker})
                again = cursor.fetchone()
                if again is not None:
                    states[row["uuid"]] = str(again["state"])
                else:
                    refused[row["uuid"]] = self._not_held(cursor, row["uuid"], row["attempt"])
        return ReportOutcome(states, refused)

    @staticmethod
    def _not_held(cursor: psycopg.Cursor[DictRow], uuid: str, attempt: int) -> NotFound | Conflict:
        cursor.execute(queries.STATE_OF, {"uuid": uuid})
        row = cursor.fetchone()
        if row is None:
            return _not_found(uuid)
        return Conflict(
            f"task {uuid}'s attempt {attempt} no longer holds its lease (the task is "
            f"{row['state']}, at attempt {row['attempts']})",
            hint="the lease ran out and the task was recovered; drop this attempt's result",
        )

    def recover(self, release: str | None = None) -> list[str]:
        """Tasks whose lease ran out (or held by ``release``) back to the queue, or given up
        when out of attempts; the states they went to, by task id."""
        self._recovered_at = time.monotonic()
        with self._transaction() as cursor:
            cursor.execute(queries.RECOVER, {"release": release})
            moved = cursor.fetchall()
            if moved:
                cursor.execute(queries.NOTIFY)
                if "failed" in (row["state"] for row in moved):
                    cursor.execute(queries.NOTIFY_ENDED)
                self._after_ends(cursor, [row["id"] for row in moved if row["state"] == "failed"])
        return [row["state"] for row in moved]

    def release(self, worker: str, uuid: str, attempt: int, reason: str) -> str:
        """Give back a task without a result (its managed worker crashed): attempt
        ``attempt`` ends lost, the task is queued again while attempts remain (failed
        otherwise); its next state. Fenced by the attempt as a report is: Conflict (409) when
        that attempt no longer holds the lease; a release sent again is answered as the first."""
        worker = checked_uuid(worker, "worker id")
        uuid = checked_uuid(uuid)
        with self._transaction() as cursor:
            moved = self._release(cursor, worker, reason, uuid=uuid, attempt=attempt)
            if moved:
                return moved[0]
            cursor.execute(queries.RELEASED, {"uuid": uuid, "attempt": attempt, "worker": worker})
            again = cursor.fetchone()
            if again is not None:
                return str(again["state"])
            raise self._not_held(cursor, uuid, attempt)

    def release_all(self, worker: str, reason: str, *, suite: int | None = None) -> list[str]:
        """Give back every task ``worker`` holds (of ``suite`` only, when given); their next
        states."""
        worker = checked_uuid(worker, "worker id")
        with self._transaction() as cursor:
            return self._release(cursor, worker, reason, suite=suite)

    def _release(
        self,
        cursor: psycopg.Cursor[DictRow],
        worker: str,
        reason: str,
        *,
        uuid: str | None = None,
        attempt: int | None = None,
        suite: int | None = None,
    ) -> list[str]:
        cursor.execute(queries.RELEASE, {"worker": worker, "uuid": uuid, "attempt": attempt,
                                         "suite": suite, "reason": reason})  # fmt: skip
        moved = cursor.fetchall()
        if moved:
            cursor.execute(queries.NOTIFY)
            if "failed" in (row["state"] for row in moved):
                cursor.execute(queries.NOTIFY_ENDED)
            self._after_ends(cursor, [row["id"] for row in moved if row["state"] == "failed"])
        return [str(row["state"]) for row in moved]

    def _after_ends(self, cursor: psycopg.Cursor[DictRow], ended: list[int]) -> None:
        """Tasks that ended may unblock watchers (notify) or make them impossible (cancel
        those, and so on down the chain)."""
        while ended:
            cursor.execute(queries.WATCHED, {"ids": ended})
            if cursor.fetchone() is None:
                return
            cursor.execute(queries.NOTIFY)
            cursor.execute(queries.CANCEL_UNREACHABLE, {"ended": ended})
            ended = [row["id"] for row in cursor.fetchall()]

    # --- figures ---

    def counts(self) -> Counts:
        """Tasks and workers by state, every state present (0 when none): for /metrics."""
        with self._transaction() as cursor:
            cursor.execute(queries.TASK_STATES_COUNT)
            tasks = {row["state"]: int(row["n"]) for row in cursor.fetchall()}
            cursor.execute(queries.WORKER_STATES_COUNT)
            workers = {row["state"]: int(row["n"]) for row in cursor.fetchall()}
        return Counts(
            tasks={state: tasks.get(state, 0) for state in TASK_STATES},
            workers={state: workers.get(state, 0) for state in WORKER_STATES},
        )

    # --- artifacts ---

    def add_artifact(self, uuid: str, name: str, size: int, path: str) -> None:
        """Record a file the task produced, stored at ``path`` under the storage folder."""
        for value in (name, path):
            problem = local_path_problem(value)
            if problem:
                raise BadRequest(problem.replace("local_path", "artifact"), hint="a plain name")
        with self._transaction() as cursor:
            cursor.execute(
                queries.ADD_ARTIFACT, {"uuid": checked_uuid(uuid), "name": name, "size": size,
                                       "path": path}
            )  # fmt: skip
            if cursor.fetchone() is None:
                raise _not_found(uuid)

    def artifacts(self, uuid: str) -> list[Artifact]:
        self.get(uuid)
        with self._transaction() as cursor:
            cursor.execute(queries.ARTIFACTS, {"uuid": checked_uuid(uuid)})
            return [Artifact(**row) for row in cursor.fetchall()]


class Listener:
    """A connection of its own that LISTENs for "there is work" (never the work itself: a
    notification is a hint; the queue is always queried again), or on ``channel``
    :data:`~shipyard.coordinator.queries.ENDED_CHANNEL` for "tasks ended"."""

    def __init__(self, url: str, channel: str = queries.CHANNEL) -> None:
        import psycopg

        self.url = libpq_url(url)
        with _translated(self.url):
            self._db = psycopg.connect(self.url, autocommit=True)
            self._db.execute(f"LISTEN {channel}")

    def wait(self, timeout: float) -> bool:
        """Whether a notification came within ``timeout`` seconds (all pending ones taken)."""
        with _translated(self.url):
            got = any(True for _ in self._db.notifies(timeout=timeout, stop_after=1))
            # Drain what else arrived: one look at the queue answers them all.
            while any(True for _ in self._db.notifies(timeout=0, stop_after=1)):
                pass
        return got

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# --- helpers -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _translated(url: str) -> Iterator[None]:
    import psycopg

    try:
        yield
    except psycopg.OperationalError as error:
        raise DatabaseUnavailable(
            f"the coordinator's database at {url.rsplit('@', 1)[-1]} does not answer: "
            f"{_first_line(error)}",
            hint="check that PostgreSQL runs there and `shipyard db upgrade` was run",
        ) from None
    except psycopg.errors.UndefinedTable as error:
        raise DatabaseUnavailable(
            f"the coordinator's database has no task tables: {_first_line(error)}",
            hint="run `shipyard db upgrade --db URL` first",
        ) from None
    except psycopg.errors.CheckViolation as error:
        if error.diag.constraint_name != "suite_takes_tasks":
            raise _refused(error) from None
        # The suite turned complete or was cancelled between the route's check and the insert
        # (revision 0004_suites' trigger): the same 409 the route gives.
        raise Conflict(_first_line(error), hint="create a new suite for new tasks") from None
    except (psycopg.DataError, psycopg.IntegrityError) as error:
        raise _refused(error) from None


def _refused(error: Exception) -> BadRequest:
    # The last line of defence: values the checks above let through but PostgreSQL
    # refuses are the request's fault (400), said as PostgreSQL says it, never a 500.
    return BadRequest(
        f"the database refused a value: {_first_line(error)}",
        hint="check the request's values",
    )


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or ["no detail"])[0]


def _not_found(uuid: str) -> NotFound:
    return NotFound(f"no task {uuid}", hint="task ids are the uuids submit returned")


def _report_row(report: Report) -> dict[str, Any]:
    problem = report_problem(report.exit_status, report.result) or (
        None
        if isinstance(report.attempt, int) and not isinstance(report.attempt, bool)
        else "attempt must be a whole number"
    )
    if problem:
        raise BadRequest(problem, hint="report a whole exit status and a JSON result")
    return {
        "uuid": checked_uuid(report.uuid),
        "attempt": report.attempt,
        "exit_status": report.exit_status,
        "output_tail": tail(report.output, OUTPUT_TAIL),
        "result": report.result,
    }


def _row(spec: TaskSpec, upstreams: dict[str, tuple[int, int]]) -> tuple[dict[str, Any], str]:
    """The JSON row SUBMIT inserts, or why not (an upstream unknown or of another group)."""
    watch_task = None
    if spec.watch:
        found = upstreams.get(checked_uuid(spec.watch.upstream))
        if found is None or found[1] != spec.group_id:
            return {}, f"watch upstream {spec.watch.upstream} is no task of group {spec.group_id}"
        watch_task = found[0]
    # By hand, not dataclasses.asdict: its deep copy took 0.24 s for 10,000 specs, where the
    # whole 10,000-task submit takes 0.37 s without it (bench/task_queue.py).
    row = {
        "group_id": spec.group_id,
        "creator_id": spec.creator_id,
        "priority": spec.priority,
        "tags": spec.tags,
        "labels": spec.labels,
        "command": spec.command,
        "env": spec.env,
        "local_path": spec.local_path,
        "timeout": spec.timeout,
        "max_attempts": spec.max_attempts,
        "watch_task": watch_task,
        "watch_state": spec.watch.state if spec.watch else None,
        "key": spec.key,
        "suite_id": spec.suite_id,
    }
    return row, ""


def _paired(
    rows: list[tuple[int, dict[str, Any]]], made: list[dict[str, Any]]
) -> tuple[list[Submitted], list[tuple[int, dict[str, Any]]]]:
    """The batch's rows paired with the tasks SUBMIT made (in id order, which is the rows'
    order), and the rows it skipped: their (group, key) is not among what came back."""
    inserted = {(m["group_id"], m["key"]) for m in made if m["key"] is not None}
    tasks = iter(made)
    accepted: list[Submitted] = []
    taken: list[tuple[int, dict[str, Any]]] = []
    for index, row in rows:
        if row["key"] is not None and (row["group_id"], row["key"]) not in inserted:
            taken.append((index, row))
        else:
            accepted.append(Submitted(index, next(tasks)["uuid"]))
    return accepted, taken


def _spec_fields(task: Task) -> dict[str, Any]:
    return {
        "command": task.command,
        "group_id": task.group_id,
        "creator_id": task.creator_id,
        "tags": task.tags,
        "labels": task.labels,
        "env": task.env,
        "priority": task.priority,
        "timeout": task.timeout,
        "max_attempts": task.max_attempts,
        "local_path": task.local_path,
    }


def _bindable(name: str, value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value) if name in ("labels", "env") else value
