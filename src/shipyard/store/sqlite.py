"""The embedded store: one SQLite file in WAL mode. All SQL of the local store lives here."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError, StoreError, from_os_error
from shipyard.models import (
    Alert,
    Artifact,
    Attempt,
    Event,
    ExecutionState,
    ExecutionStatus,
    ExecutionSummary,
    GateApproval,
    Metric,
    Progress,
    ResourceUsage,
    UnitState,
    UnitStatus,
    seconds_between,
    timestamp,
)
from shipyard.registry import StoredPipeline
from shipyard.store.faults import Guarded, translate
from shipyard.store.migrations import MIGRATIONS, SCHEMA_VERSION
from shipyard.unitview import (
    DONE_STEP_STATES,
    DOWN,
    UNKNOWN,
    counts_as_done,
    shown_health,
    shown_pid,
)

if TYPE_CHECKING:
    from shipyard.analysis import HistoryEntry
    from shipyard.mlregistry import ModelEvent, ModelRow, ModelVersion, Stage
    from shipyard.templates import IndexRepo

_ACTIVE = ("pending", "running")
#: unitview.counts_as_done in SQL (a test holds the two to the same answers): a step that
#: succeeded or is disabled; a service healthy now, in an execution that has not ended.
_DONE_UNIT = (
    "((u.kind != 'service' AND u.state IN ("
    + ", ".join(f"'{state.value}'" for state in DONE_STEP_STATES)
    + ")) OR (u.kind = 'service' AND u.state = 'running' AND u.health = 'healthy'"
    " AND e.state IN ('pending', 'running')))"
)
#: What a unit's record says about how it ended; cleared when it runs again.
_ENDED_FIELDS = ("ended_at", "exit_code", "reason")


class SQLiteStore:
    """A :class:`shipyard.store.base.Store` over one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: The model registry's journal, in the registry's folder beside the database (see
        #: :mod:`shipyard.modeljournal`): what a rebuilt database takes the registry from.
        self.model_journal = path.parent / "models" / "journal.jsonl"
        if path.parent.exists() and not path.parent.is_dir():
            raise StoreError(
                f"{path.parent} is a file; Shipyard keeps its state in a folder there",
                hint="point SHIPYARD_HOME (or --home) at a folder",
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Created owner-only before SQLite sees it: its -wal and -shm files take the
            # database file's mode, and the umask (which steps inherit) stays as it is.
            # Only when it does not exist yet (O_EXCL): closing any descriptor of a file drops
            # every POSIX lock this process holds on it, so opening and closing an existing
            # state.db here while another connection of this process (the server's threads)
            # has it open let another process take it for unused and delete its WAL under us.
            try:
                os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
            except FileExistsError:
                _writable(path)  # said as opening it for writing would, without a descriptor
            # Autocommit mode: we open transactions ourselves, so a batch is one commit.
            raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except OSError as error:
            raise from_os_error(error, "open the state database", path) from None
        except sqlite3.Error as error:
            raise translate(error, path) from None
        raw.row_factory = sqlite3.Row
        # Every statement's error is translated there (disk full, read-only, damaged file).
        self._db = Guarded(raw, path)
        self._depth = 0
        try:
            self._configure()
            self._migrate()
        except ShipyardError:
            raw.close()
            raise

    # -- setup ------------------------------------------------------------------------------

    def _configure(self) -> None:
        self._db.execute("PRAGMA busy_timeout = 10000")
        self._db.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode: durable across a process crash, syncs only at checkpoints.
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA foreign_keys = ON")

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer Shipyard (schema {version}, "
                f"this one knows {SCHEMA_VERSION})",
                hint="upgrade Shipyard, or use another SHIPYARD_HOME",
            )
        for number in range(version, SCHEMA_VERSION):
            with self.transaction():
                # Read again under the write lock: another process opening the same new home
                # at the same time may have run this step meanwhile ("table already exists").
                if self._db.execute("PRAGMA user_version").fetchone()[0] > number:
                    continue
                for statement in _statements(MIGRATIONS[number]):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one commit. Nested uses join the outer transaction."""
        if self._depth == 0:
            self._db.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            try:
                self._db.execute("COMMIT")
            except ShipyardError:
                # A failed COMMIT (disk full) may leave the transaction open: end it, so the
                # caller can retry the whole batch later on a clean connection.
                if self._db.in_transaction:
                    with contextlib.suppress(ShipyardError):
                        self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self._db.close()

    # -- writes -----------------------------------------------------------------------------

    def insert_execution(
        self,
        *,
        execution_id: str,
        name: str,
        mode: str,
        spec_path: str | None,
        spec_digest: str,
        spec_text: str,
        parameters: dict[str, object],
        run_dir: str,
        created_at: float,
        units: Sequence[tuple[str, str, str | None]],
        pipeline: str | None = None,
    ) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO executions (id, name, state, mode, spec_path, spec_digest, spec_text,"
                " parameters, run_dir, created_at, pipeline)"
                " VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    execution_id,
                    name,
                    mode,
                    spec_path,
                    spec_digest,
                    spec_text,
                    json.dumps(parameters),
                    run_dir,
                    created_at,
                    pipeline,
                ),
            )
            self._db.executemany(
                "INSERT INTO units (execution_id, position, name, kind, state, log_path)"
                " VALUES (?, ?, ?, ?, 'pending', ?)",
                [
                    (execution_id, position, unit, kind, log)
                    for position, (unit, kind, log) in enumerate(units)
                ],
            )

    def update_execution(
        self,
        execution_id: str,
        *,
        state: ExecutionState | None = None,
        started_at: float | None = None,
        ended_at: float | None = None,
        reason: str | None = None,
        supervisor_pid: int | None = None,
        heartbeat_at: float | None = None,
    ) -> None:
        fields = {
            "state": state.value if state else None,
            "started_at": started_at,
            "ended_at": ended_at,
            "reason": reason,
            "supervisor_pid": supervisor_pid,
            "heartbeat_at": heartbeat_at,
        }
        self._update("executions", "id = ?", (execution_id,), fields)

    def update_service(
        self,
        execution_id: str,
        name: str,
        *,
        port: int | None,
        url: str | None,
        health: str,
        restarts: int,
    ) -> None:
        self._db.execute(
            "UPDATE units SET port = ?, url = ?, health = ?, restarts = ?"
            " WHERE execution_id = ? AND name = ?",
            (port, url, health, restarts, execution_id, name),
        )

    def update_probe(self, execution_id: str, name: str, *, ok: bool, detail: str) -> None:
        self._db.execute(
            "UPDATE units SET probe = ?, probe_ok = ? WHERE execution_id = ? AND name = ?",
            (detail, int(ok), execution_id, name),
        )

    def request_stop(self, execution_id: str, *, force: bool, grace: float, at: float) -> None:
        with self.transaction():
            self._db.execute(
                "UPDATE executions SET stop_requested_at = ?, stop_force = ?, stop_grace = ?"
                " WHERE id = ?",
                (at, int(force), grace, execution_id),
            )

    def stop_request(self, execution_id: str) -> tuple[bool, float] | None:
        """(force, grace) of a pending stop request, if any."""
        row = self._db.execute(
            "SELECT stop_requested_at, stop_force, stop_grace FROM executions WHERE id = ?",
            (execution_id,),
        ).fetchone()
        if row is None or row["stop_requested_at"] is None:
            return None
        return bool(row["stop_force"]), float(row["stop_grace"] or 0.0)

    def execution_state(self, execution_id: str) -> ExecutionState | None:
        row = self._db.execute(
            "SELECT state FROM executions WHERE id = ?", (execution_id,)
        ).fetchone()
        return ExecutionState(row["state"]) if row else None

    def supervisor(self, execution_id: str) -> tuple[int | None, float | None]:
        """(pid, last heartbeat) of the process running an execution."""
        row = self._db.execute(
            "SELECT supervisor_pid, heartbeat_at FROM executions WHERE id = ?", (execution_id,)
        ).fetchone()
        return (row["supervisor_pid"], row["heartbeat_at"]) if row else (None, None)

    def mark_lost(
        self, execution_id: str, *, reason: str, at: float, started: tuple[str, ...] = ()
    ) -> None:
        """The execution's supervisor is gone: it and its running units end here (``started``:
        units known to have started that the store may not have heard of yet)."""
        with self.transaction():
            self._db.executemany(
                "UPDATE units SET state = 'running' WHERE execution_id = ? AND name = ?"
                " AND state = 'pending'",
                [(execution_id, unit) for unit in started],
            )
            self._db.execute(
                "UPDATE executions SET state = 'lost', reason = ?, ended_at = ?"
                " WHERE id = ? AND state IN ('pending', 'running')",
                (reason, at, execution_id),
            )
            # Nothing runs any more: no pid of theirs holds, nor any probe's verdict
            # (the same rule as unitview.shown_health, kept in the store too).
            self._db.execute(
                "UPDATE units SET state = 'cancelled', ended_at = ?, reason = ?, pid = NULL"
                " WHERE execution_id = ? AND state IN ('running', 'retrying')",
                (at, reason, execution_id),
            )
            self._db.execute(
                "UPDATE units SET health = CASE state WHEN 'stopped' THEN ? ELSE ? END"
                " WHERE execution_id = ? AND kind = 'service'",
                (DOWN, UNKNOWN, execution_id),
            )

    def update_unit(
        self,
        execution_id: str,
        name: str,
        *,
        state: UnitState,
        attempts: int | None = None,
        started_at: float | None = None,
        ended_at: float | None = None,
        exit_code: int | None = None,
        reason: str | None = None,
        pid: int | None = None,
        cache_key: str | None = None,
    ) -> None:
        fields = {
            "state": state.value,
            "attempts": attempts,
            "started_at": started_at,
            "ended_at": ended_at,
            "exit_code": exit_code,
            "reason": reason,
            "pid": pid,
            "cache_key": cache_key,
        }
        # A running unit has not ended: the end, exit code and reason of an earlier attempt
        # (or run) are in its attempts, not its record (`ps` showed uptime -1ms, `ended_at`
        # before `started_at`, and "restarting in 0.17s" on a service healthy again).
        cleared = _ENDED_FIELDS if state == UnitState.RUNNING else ()
        self._update(
            "units", "execution_id = ? AND name = ?", (execution_id, name), fields, cleared
        )

    def _update(
        self,
        table: str,
        where: str,
        keys: tuple[Any, ...],
        fields: dict[str, Any],
        cleared: tuple[str, ...] = (),
    ) -> None:
        """UPDATE only the fields given (None = leave as is), and set the ``cleared`` ones not
        given to NULL. Table/column names are ours."""
        present = {column: value for column, value in fields.items() if value is not None}
        if not present:
            return
        nulls = [f"{column} = NULL" for column in cleared if column not in present]
        assignments = ", ".join([*(f"{column} = ?" for column in present), *nulls])
        self._db.execute(
            f"UPDATE {table} SET {assignments} WHERE {where}",  # noqa: S608 - fixed names
            (*present.values(), *keys),
        )

    def save_attempt(
        self, execution_id: str, attempt: Attempt, cache_key: str | None = None
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO attempts (execution_id, unit, number, state, started_at,"
            " ended_at, exit_code, signal, reason, pid, resources, cache_key)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                execution_id,
                attempt.unit,
                attempt.number,
                attempt.state.value,
                attempt.started_at.timestamp() if attempt.started_at else None,
                attempt.ended_at.timestamp() if attempt.ended_at else None,
                attempt.exit_code,
                attempt.signal,
                attempt.reason,
                attempt.pid,
                _resources_json(attempt.resources),
                cache_key,
            ),
        )

    def cache_keys(self, execution_id: str) -> dict[str, str]:
        """The cache key of every unit that succeeded in an execution."""
        rows = self._db.execute(
            "SELECT name, cache_key FROM units WHERE execution_id = ? AND state = 'succeeded'"
            " AND cache_key IS NOT NULL",
            (execution_id,),
        ).fetchall()
        return {row["name"]: row["cache_key"] for row in rows}

    def reopen(
        self, execution_id: str, *, keep: set[str], spec_text: str, spec_digest: str
    ) -> None:
        """Make a finished execution runnable again for ``resume``: units in ``keep`` stay as they
        are; every other unit goes back to pending (its attempts and their history are kept),
        with no start either: one skipped in the resumed run showed the first run's start and
        a time that grew for ever."""
        with self.transaction():
            self._db.execute(
                "UPDATE executions SET state = 'pending', ended_at = NULL, reason = NULL,"
                " supervisor_pid = NULL, heartbeat_at = NULL, stop_requested_at = NULL,"
                " stop_force = NULL, stop_grace = NULL, spec_text = ?, spec_digest = ?"
                " WHERE id = ?",
                (spec_text, spec_digest, execution_id),
            )
            rows = self._db.execute(
                "SELECT name FROM units WHERE execution_id = ?", (execution_id,)
            ).fetchall()
            self._db.executemany(
                "UPDATE units SET state = 'pending', started_at = NULL, ended_at = NULL,"
                " exit_code = NULL,"
                " reason = NULL, pid = NULL, cache_key = NULL"
                " WHERE execution_id = ? AND name = ?",
                [(execution_id, row["name"]) for row in rows if row["name"] not in keep],
            )

    _TABLES = (
        "executions",
        "units",
        "attempts",
        "events",
        "metrics",
        "artifacts",
        "gate_approvals",
    )

    def export_execution(self, execution_id: str) -> dict[str, list[dict[str, Any]]]:
        """Every row of an execution, table by table (to put back with import_execution)."""
        result: dict[str, list[dict[str, Any]]] = {}
        for table in self._TABLES:
            column = "id" if table == "executions" else "execution_id"
            rows = self._db.execute(
                f"SELECT * FROM {table} WHERE {column} = ?",  # noqa: S608 - fixed names
                (execution_id,),
            ).fetchall()
            result[table] = [dict(row) for row in rows]
        return result

    def import_execution(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        with self.transaction():
            for table in self._TABLES:
                for row in rows.get(table, []):
                    columns = ", ".join(row)
                    marks = ", ".join("?" for _ in row)
                    self._db.execute(
                        f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # noqa: S608
                        tuple(row.values()),
                    )

    def delete_execution(self, execution_id: str) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM executions WHERE id = ?", (execution_id,))

    def attempt_counts(self, execution_id: str) -> dict[str, int]:
        """Attempts made per unit: the highest number any record holds, so a resumed
        execution never numbers an attempt as one made before."""
        rows = self._db.execute(
            "SELECT name, MAX(attempts, COALESCE((SELECT MAX(number) FROM attempts a"
            " WHERE a.execution_id = u.execution_id AND a.unit = u.name), 0)) AS attempts"
            " FROM units u WHERE execution_id = ?",
            (execution_id,),
        ).fetchall()
        return {row["name"]: row["attempts"] for row in rows}

    def succeeded_units(self, execution_id: str) -> list[str]:
        # One column of one table: the engine's start read the whole status (every unit's
        # row, its last attempt's resources) for this, ~25 µs a unit.
        rows = self._db.execute(
            "SELECT name FROM units WHERE execution_id = ? AND state = 'succeeded'"
            " ORDER BY position",
            (execution_id,),
        ).fetchall()
        return [row["name"] for row in rows]

    def append_events(self, events: list[Event], encoded: list[str] | None = None) -> None:
        datas = encoded or [json.dumps(e.data, default=str) for e in events]
        self._db.executemany(
            "INSERT INTO events (execution_id, ts, action, unit, data) VALUES (?, ?, ?, ?, ?)",
            [
                (e.execution_id, e.ts, e.action, e.unit, data)
                for e, data in zip(events, datas, strict=True)
            ],
        )

    # -- reads ------------------------------------------------------------------------------

    def get_execution(self, execution_id: str) -> ExecutionStatus | None:
        row = self._db.execute("SELECT * FROM executions WHERE id = ?", (execution_id,)).fetchone()
        if row is None:
            return None
        unit_rows = self._db.execute(
            "SELECT * FROM units WHERE execution_id = ? ORDER BY position", (execution_id,)
        ).fetchall()
        last_resources = self._last_attempt_resources(execution_id)
        ended = ExecutionState(row["state"]).finished
        units = [
            UnitStatus(
                name=unit["name"],
                kind=unit["kind"],
                state=UnitState(unit["state"]),
                attempts=unit["attempts"],
                started_at=timestamp(unit["started_at"]),
                ended_at=timestamp(unit["ended_at"]),
                duration_seconds=_span(unit["started_at"], unit["ended_at"]),
                exit_code=unit["exit_code"],
                reason=unit["reason"],
                # Only what holds now: no verdict or pid of a process that has ended.
                pid=shown_pid(UnitState(unit["state"]), unit["pid"], execution_finished=ended),
                log_path=unit["log_path"],
                resources=last_resources.get(unit["name"], ResourceUsage()),
                port=unit["port"],
                url=unit["url"],
                health=shown_health(
                    unit["kind"], UnitState(unit["state"]), unit["health"], execution_finished=ended
                ),
                restarts=unit["restarts"],
                probe=unit["probe"],
                probe_ok=None if unit["probe_ok"] is None else bool(unit["probe_ok"]),
            )
            for unit in unit_rows
        ]
        # What succeeded, and services healthy now (unitview.counts_as_done): not what ended.
        done = sum(
            counts_as_done(
                row["kind"], UnitState(row["state"]), row["health"], execution_finished=ended
            )
            for row in unit_rows
        )
        failed = sum(1 for unit in units if unit.state in (UnitState.FAILED, UnitState.GATED))
        return ExecutionStatus(
            **_summary_fields(row),
            progress=Progress(done=done, total=len(units)),
            failed=failed,
            spec_path=row["spec_path"],
            parameters=json.loads(row["parameters"]),
            run_dir=row["run_dir"],
            reason=row["reason"],
            units=units,
            # Only while it runs: the PID of a process that has ended may be anyone's by now.
            supervisor_pid=None if ExecutionState(row["state"]).finished else row["supervisor_pid"],
            alerts=self.alerts(execution_id),
            metrics=self.metrics(execution_id),
            pipeline=row["pipeline"],
            approvals=self.gate_approvals(execution_id),
        )

    def _last_attempt_resources(self, execution_id: str) -> dict[str, ResourceUsage]:
        rows = self._db.execute(
            "SELECT unit, resources FROM attempts WHERE execution_id = ? ORDER BY number",
            (execution_id,),
        ).fetchall()
        return {row["unit"]: _resources(row["resources"]) for row in rows}

    def latest_execution_id(self, *, active_only: bool = False) -> str | None:
        query = "SELECT id FROM executions"
        if active_only:
            query += " WHERE state IN ('pending', 'running')"
        row = self._db.execute(query + " ORDER BY created_at DESC, rowid DESC LIMIT 1").fetchone()
        return str(row["id"]) if row else None

    def list_executions(
        self, *, active_only: bool = False, name: str | None = None, limit: int = 50
    ) -> list[ExecutionSummary]:
        clauses, args = [], []
        if active_only:
            clauses.append("e.state IN ('pending', 'running')")
        if name:
            # The spec's name, or a registered pipeline's (whose spec may be named otherwise:
            # `clean --pipeline NAME` and `list --name NAME` found none of its runs).
            clauses.append("(e.name = ? OR e.pipeline = ?)")
            args.append(name)
            args.append(name)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(
            "SELECT e.*,"  # noqa: S608 - clauses are ours; values are bound
            f" (SELECT COUNT(*) FROM units u WHERE u.execution_id = e.id AND {_DONE_UNIT}) AS done,"
            " (SELECT COUNT(*) FROM units u WHERE u.execution_id = e.id) AS total,"
            " (SELECT COUNT(*) FROM units u WHERE u.execution_id = e.id"
            "   AND u.state IN ('failed', 'gated')) AS failed"
            f" FROM executions e {where} ORDER BY e.created_at DESC, e.rowid DESC LIMIT ?",
            (*args, limit),
        ).fetchall()
        return [
            ExecutionSummary(
                **_summary_fields(row),
                progress=Progress(done=row["done"], total=row["total"]),
                failed=row["failed"],
            )
            for row in rows
        ]

    def attempts(self, execution_id: str, unit: str | None = None) -> list[Attempt]:
        query = "SELECT * FROM attempts WHERE execution_id = ?"
        args: tuple[str, ...] = (execution_id,)
        if unit is not None:
            query += " AND unit = ?"
            args = (execution_id, unit)
        rows = self._db.execute(query + " ORDER BY started_at, unit, number", args).fetchall()
        return [
            Attempt(
                unit=row["unit"],
                number=row["number"],
                state=UnitState(row["state"]),
                started_at=timestamp(row["started_at"]),
                ended_at=timestamp(row["ended_at"]),
                exit_code=row["exit_code"],
                signal=row["signal"],
                reason=row["reason"],
                pid=row["pid"],
                resources=_resources(row["resources"]),
            )
            for row in rows
        ]

    def events(self, execution_id: str, *, after_id: int = 0) -> list[tuple[int, Event]]:
        rows = self._db.execute(
            "SELECT * FROM events WHERE execution_id = ? AND id > ? ORDER BY id",
            (execution_id, after_id),
        ).fetchall()
        return [
            (
                row["id"],
                Event(
                    ts=row["ts"],
                    execution_id=row["execution_id"],
                    action=row["action"],
                    unit=row["unit"],
                    data=json.loads(row["data"]),
                ),
            )
            for row in rows
        ]

    def last_event_ts(self, execution_id: str) -> float | None:
        """When the newest recorded event of an execution happened (recovery appends only
        the events.jsonl lines after it)."""
        row = self._db.execute(
            "SELECT MAX(ts) AS ts FROM events WHERE execution_id = ?", (execution_id,)
        ).fetchone()
        return float(row["ts"]) if row["ts"] is not None else None

    def mean_durations(self, name: str, *, last: int = 5) -> dict[str, float]:
        rows = self._db.execute(
            "SELECT u.name AS unit, AVG(u.ended_at - u.started_at) AS mean"
            " FROM units u JOIN (SELECT id FROM executions WHERE name = ? AND state = 'succeeded'"
            "   ORDER BY created_at DESC LIMIT ?) recent ON recent.id = u.execution_id"
            " WHERE u.state = 'succeeded' AND u.started_at IS NOT NULL AND u.ended_at IS NOT NULL"
            " GROUP BY u.name",
            (name, last),
        ).fetchall()
        return {row["unit"]: float(row["mean"]) for row in rows}

    # -- monitor, analysis, history (issue 12 §4) ----------------------------------------------

    def alerts(self, execution_id: str) -> list[Alert]:
        # `action = 'alert'` matches the partial index events_alerts: status pays nothing for
        # the other events of a large execution.
        rows = self._db.execute(
            "SELECT ts, unit, data FROM events WHERE execution_id = ? AND action = 'alert'"
            " ORDER BY id",
            (execution_id,),
        ).fetchall()
        return [_alert(row) for row in rows]

    def hook_events(self, execution_id: str) -> list[Event]:
        # The same IN as the partial index events_hooks: the other events are not read.
        rows = self._db.execute(
            "SELECT ts, action, unit, data FROM events WHERE execution_id = ?"
            " AND action IN ('hook_started', 'hook_finished') ORDER BY id",
            (execution_id,),
        ).fetchall()
        return [
            Event(row["ts"], execution_id, row["action"], row["unit"], json.loads(row["data"]))
            for row in rows
        ]

    def step_durations(
        self, name: str, steps: Sequence[str], *, last: int = 20
    ) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for start in range(0, len(steps), 500):  # SQLite's bound on variables
            chunk = steps[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            # Each (execution, step) pair is a lookup in the attempts' primary key: the cost
            # follows the steps asked for, not the size of the earlier runs.
            rows = self._db.execute(
                "SELECT a.unit AS unit, a.ended_at - a.started_at AS seconds"  # noqa: S608
                " FROM (SELECT id, created_at FROM executions"
                "   WHERE name = ? AND state = 'succeeded' ORDER BY created_at DESC LIMIT ?) recent"
                f" JOIN attempts a ON a.execution_id = recent.id AND a.unit IN ({marks})"
                " WHERE a.state = 'succeeded' AND a.started_at IS NOT NULL"
                " AND a.ended_at IS NOT NULL ORDER BY recent.created_at",
                (name, last, *chunk),
            ).fetchall()
            for row in rows:
                found.setdefault(row["unit"], []).append(float(row["seconds"]))
        return found

    def execution_history(
        self,
        *,
        name: str | None = None,
        pipeline: str | None = None,
        limit: int = 100,
        succeeded_only: bool = False,
        before: float | None = None,
    ) -> list[HistoryEntry]:
        from shipyard.analysis import HistoryEntry

        clauses, args = _history_clauses(name, pipeline, succeeded_only, before)
        rows = self._db.execute(
            "SELECT id, state, created_at, started_at, ended_at, parameters"  # noqa: S608
            f" FROM executions WHERE {' AND '.join(clauses)}"
            " ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (*args, limit),
        ).fetchall()
        return [
            HistoryEntry(
                execution_id=row["id"],
                state=row["state"],
                created_at=timestamp(row["created_at"]) or datetime.now(UTC),
                duration_seconds=_span(row["started_at"], row["ended_at"]),
                parameters=json.loads(row["parameters"]),
            )
            for row in rows
        ]

    def unit_durations(self, execution_ids: Sequence[str]) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for start in range(0, len(execution_ids), 500):  # SQLite's bound on variables
            chunk = execution_ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = self._db.execute(
                "SELECT name, ended_at - started_at AS seconds FROM units"  # noqa: S608
                f" WHERE execution_id IN ({marks}) AND kind = 'step' AND state = 'succeeded'"
                " AND started_at IS NOT NULL AND ended_at IS NOT NULL",
                tuple(chunk),
            ).fetchall()
            for row in rows:
                found.setdefault(row["name"], []).append(float(row["seconds"]))
        return found

    # -- named pipelines (issue 12 §1) --------------------------------------------------------

    def pipeline_put(self, pipeline: StoredPipeline, *, replace: bool) -> bool:
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        self._db.execute(
            f"{verb} INTO pipelines (name, spec_name, spec_path, spec_text, spec_digest,"
            " defaults, added_at, updated_at, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                pipeline.name,
                pipeline.spec_name,
                pipeline.spec_path,
                pipeline.spec_text,
                pipeline.spec_digest,
                json.dumps(pipeline.defaults),
                pipeline.added_at,
                pipeline.updated_at,
                None if pipeline.summary is None else json.dumps(pipeline.summary),
            ),
        )
        return self._changed()

    def pipeline_get(self, name: str) -> StoredPipeline | None:
        row = self._db.execute("SELECT * FROM pipelines WHERE name = ?", (name,)).fetchone()
        return _stored_pipeline(row) if row else None

    def pipeline_list(self) -> list[StoredPipeline]:
        rows = self._db.execute("SELECT * FROM pipelines ORDER BY name").fetchall()
        return [_stored_pipeline(row) for row in rows]

    def pipeline_delete(self, name: str) -> bool:
        self._db.execute("DELETE FROM pipelines WHERE name = ?", (name,))
        return self._changed()

    def _changed(self) -> bool:
        """Whether the last statement wrote a row (``INSERT OR IGNORE`` may not)."""
        return bool(self._db.execute("SELECT changes()").fetchone()[0])

    def pipeline_latest_execution(self, name: str) -> str | None:
        row = self._db.execute(
            "SELECT id FROM executions WHERE pipeline = ?"
            " ORDER BY created_at DESC, rowid DESC LIMIT 1",
            (name,),
        ).fetchone()
        return str(row["id"]) if row else None

    # -- template index repositories (issue 12 §3) -------------------------------------------

    def index_repo_add(self, repo: IndexRepo, *, at: float) -> bool:
        self._db.execute(
            "INSERT OR IGNORE INTO index_repos (name, source, kind, path, revision, added_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (repo.name, repo.source, repo.kind, repo.path, repo.revision, at, at),
        )
        return bool(self._db.execute("SELECT changes()").fetchone()[0])

    def index_repo_get(self, name: str) -> IndexRepo | None:
        row = self._db.execute("SELECT * FROM index_repos WHERE name = ?", (name,)).fetchone()
        return _index_repo(row) if row else None

    def index_repo_list(self) -> list[IndexRepo]:
        rows = self._db.execute("SELECT * FROM index_repos ORDER BY name").fetchall()
        return [_index_repo(row) for row in rows]

    def index_repo_updated(self, name: str, *, revision: str | None, at: float) -> None:
        self._db.execute(
            "UPDATE index_repos SET revision = ?, updated_at = ? WHERE name = ?",
            (revision, at, name),
        )

    def index_repo_delete(self, name: str) -> bool:
        self._db.execute("DELETE FROM index_repos WHERE name = ?", (name,))
        return bool(self._db.execute("SELECT changes()").fetchone()[0])

    # -- metrics steps report (issue 12 §2, $SHIPYARD_METRICS) ----------------------------------

    def save_metrics(
        self, execution_id: str, metrics: Sequence[Metric], *, recorded_at: float
    ) -> None:
        if not metrics:
            return
        first = metrics[0]
        # Saved again (a store rebuilt, a journal replayed): the attempt's figures are replaced,
        # never doubled nor mixed with an older reading's.
        self._db.execute(
            "DELETE FROM metrics WHERE execution_id = ? AND unit = ? AND attempt = ?",
            (execution_id, first.unit, first.attempt),
        )
        self._db.executemany(
            "INSERT INTO metrics (execution_id, unit, attempt, seq, name, value, unit_label,"
            " recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (execution_id, m.unit, m.attempt, seq, m.name, m.value, m.unit_label, recorded_at)
                for seq, m in enumerate(metrics)
            ],
        )

    def metrics(self, execution_id: str, unit: str | None = None) -> list[Metric]:
        query = "SELECT unit, attempt, name, value, unit_label FROM metrics WHERE execution_id = ?"
        args: tuple[str, ...] = (execution_id,)
        if unit is not None:
            query += " AND unit = ?"
            args += (unit,)
        query += " ORDER BY recorded_at, unit, attempt, seq"
        return [
            Metric(row["unit"], row["attempt"], row["name"], row["value"], row["unit_label"])
            for row in self._db.execute(query, args).fetchall()
        ]

    # -- artifacts between steps and quality gates (issue 15 §1-2) -------------------------------

    def save_artifacts(
        self, execution_id: str, unit: str, artifacts: Sequence[Artifact], *, recorded_at: float
    ) -> None:
        # A later attempt's (or a resumed run's) files replace the earlier ones: what is listed
        # is what the folder was made to hold last.
        self._db.execute(
            "DELETE FROM artifacts WHERE execution_id = ? AND unit = ?", (execution_id, unit)
        )
        self._db.executemany(
            "INSERT OR REPLACE INTO artifacts (execution_id, unit, path, size, sha256,"
            " recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(execution_id, unit, a.path, a.size, a.sha256, recorded_at) for a in artifacts],
        )

    def artifacts(self, execution_id: str, unit: str | None = None) -> list[Artifact]:
        query = "SELECT unit, path, size, sha256 FROM artifacts WHERE execution_id = ?"
        args: tuple[str, ...] = (execution_id,)
        if unit is not None:
            query += " AND unit = ?"
            args += (unit,)
        positions = "(SELECT position FROM units u WHERE u.execution_id = artifacts.execution_id"
        query += f" ORDER BY {positions} AND u.name = artifacts.unit), path"
        return [
            Artifact(row["unit"], row["path"], row["size"], row["sha256"])
            for row in self._db.execute(query, args).fetchall()
        ]

    def approve_gate(
        self, execution_id: str, unit: str, approval: GateApproval, *, reason: str
    ) -> bool:
        with self.transaction():
            self._db.execute(
                "UPDATE units SET state = 'succeeded', reason = ?"
                " WHERE execution_id = ? AND name = ? AND state = 'gated'",
                (reason, execution_id, unit),
            )
            if not self._changed():
                return False
            self.save_gate_approval(execution_id, approval)
        return True

    def save_gate_approval(self, execution_id: str, approval: GateApproval) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO gate_approvals (execution_id, unit, approved_by, reason,"
            " approved_at, gates) VALUES (?, ?, ?, ?, ?, ?)",
            (
                execution_id,
                approval.unit,
                approval.approved_by,
                approval.reason,
                approval.at.timestamp(),
                json.dumps(approval.gates),
            ),
        )

    def gate_approvals(self, execution_id: str) -> list[GateApproval]:
        rows = self._db.execute(
            "SELECT * FROM gate_approvals WHERE execution_id = ? ORDER BY approved_at",
            (execution_id,),
        ).fetchall()
        return [
            GateApproval(
                unit=row["unit"],
                approved_by=row["approved_by"],
                reason=row["reason"],
                at=datetime.fromtimestamp(row["approved_at"], UTC),
                gates=json.loads(row["gates"]),
            )
            for row in rows
        ]

    # -- parameter sweeps (issue 12 §2) ----------------------------------------------------------

    def insert_sweep(self, sweep: dict[str, Any], points: Sequence[dict[str, Any]]) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO sweeps (id, name, spec_path, spec_text, settings, parameters, state,"
                " created_at, resumed_from, pipeline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sweep["id"],
                    sweep["name"],
                    sweep["spec_path"],
                    sweep["spec_text"],
                    json.dumps(sweep["settings"]),
                    json.dumps(sweep["parameters"]),
                    sweep["state"],
                    sweep["created_at"],
                    sweep.get("resumed_from"),
                    sweep.get("pipeline"),
                ),
            )
            self._db.executemany(
                "INSERT INTO sweep_points (sweep_id, point_hash, repeat, position, parameters,"
                " execution_id, state, reason, duration, metrics)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        sweep["id"],
                        point["point_hash"],
                        point["repeat"],
                        point["position"],
                        json.dumps(point["parameters"]),
                        point.get("execution_id"),
                        point["state"],
                        point.get("reason"),
                        point.get("duration"),
                        json.dumps(point.get("metrics") or {}),
                    )
                    for point in points
                ],
            )

    def sweep_row(self, sweep_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        if row is None:
            return None
        data = dict(row)
        data["settings"] = json.loads(data["settings"])
        data["parameters"] = json.loads(data["parameters"])
        return data

    def sweep_ids(self, *, limit: int = 50) -> list[str]:
        rows = self._db.execute(
            "SELECT id FROM sweeps ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)
        ).fetchall()
        return [row["id"] for row in rows]

    def sweep_point_rows(self, sweep_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT * FROM sweep_points WHERE sweep_id = ? ORDER BY position", (sweep_id,)
        ).fetchall()
        result = []
        for row in rows:
            data = dict(row)
            data["parameters"] = json.loads(data["parameters"])
            data["metrics"] = json.loads(data["metrics"])
            result.append(data)
        return result

    _POINT_COLUMNS = frozenset({"state", "execution_id", "reason", "started_at", "duration"})

    def update_sweep_point(
        self, sweep_id: str, point_hash: str, repeat: int, **changes: Any
    ) -> None:
        values = {key: value for key, value in changes.items() if key in self._POINT_COLUMNS}
        if "metrics" in changes:
            values["metrics"] = json.dumps(changes["metrics"])
        if len(values) != len(changes):
            raise ValueError(f"not sweep point columns: {sorted(set(changes) - set(values))}")
        # The column names come from the fixed set above, never from a caller's text.
        assignments = ", ".join(f"{name} = ?" for name in values)
        self._db.execute(
            f"UPDATE sweep_points SET {assignments}"  # noqa: S608 - names from a fixed set
            " WHERE sweep_id = ? AND point_hash = ? AND repeat = ?",
            (*values.values(), sweep_id, point_hash, repeat),
        )

    def end_sweep(self, sweep_id: str, state: str, *, reason: str | None, at: float) -> None:
        self._db.execute(
            "UPDATE sweeps SET state = ?, reason = ?, ended_at = ?"
            " WHERE id = ? AND state IN ('pending', 'running')",
            (state, reason, at, sweep_id),
        )

    def set_sweep_supervisor(self, sweep_id: str, pid: int, *, at: float) -> None:
        self._db.execute(
            "UPDATE sweeps SET supervisor_pid = ?, heartbeat_at = ?, state = 'running'"
            " WHERE id = ? AND state IN ('pending', 'running')",
            (pid, at, sweep_id),
        )

    def sweep_heartbeat(self, sweep_id: str, *, at: float) -> None:
        self._db.execute("UPDATE sweeps SET heartbeat_at = ? WHERE id = ?", (at, sweep_id))

    def request_sweep_stop(self, sweep_id: str, *, at: float) -> None:
        self._db.execute(
            "UPDATE sweeps SET stop_requested_at = ? WHERE id = ? AND stop_requested_at IS NULL",
            (at, sweep_id),
        )

    def sweep_stop_requested(self, sweep_id: str) -> bool:
        row = self._db.execute(
            "SELECT stop_requested_at FROM sweeps WHERE id = ?", (sweep_id,)
        ).fetchone()
        return row is not None and row["stop_requested_at"] is not None

    # -- pipeline metrics (issue 15 §3) -----------------------------------------------------------

    def execution_names(self) -> list[str]:
        rows = self._db.execute("SELECT DISTINCT name FROM executions ORDER BY name").fetchall()
        return [row["name"] for row in rows]

    def step_spans(self, execution_ids: Sequence[str]) -> list[tuple[str, str, float]]:
        found: list[tuple[str, str, float]] = []
        for start in range(0, len(execution_ids), 500):  # SQLite's bound on variables
            chunk = execution_ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = self._db.execute(
                "SELECT execution_id, name, ended_at - started_at AS seconds"  # noqa: S608
                f" FROM units WHERE execution_id IN ({marks}) AND kind = 'step'"
                " AND state = 'succeeded' AND started_at IS NOT NULL AND ended_at IS NOT NULL"
                " ORDER BY execution_id, position",
                tuple(chunk),
            ).fetchall()
            found.extend((row["execution_id"], row["name"], float(row["seconds"])) for row in rows)
        return found

    # -- the model registry (issue 15 §4) ---------------------------------------------------------

    def model_add_version(self, version: ModelVersion, event: ModelEvent) -> int:
        from shipyard import modeljournal  # here: most commands never touch the registry

        with self.transaction():
            at = version.registered_at.timestamp()
            self._db.execute(
                "INSERT OR IGNORE INTO models (name, created_at) VALUES (?, ?)",
                (version.model, at),
            )
            row = self._db.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model = ?",
                (version.model,),
            ).fetchone()
            number = int(row[0])
            self._db.execute(
                "INSERT INTO model_versions (model, version, digest, kind, size, files,"
                " source_path, execution_id, step, metrics, stage, registered_at, registered_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    version.model,
                    number,
                    version.digest,
                    version.kind,
                    version.size,
                    version.files,
                    version.source_path,
                    version.execution_id,
                    version.step,
                    json.dumps(version.metrics),
                    version.stage.value,
                    at,
                    version.registered_by,
                ),
            )
            ids = self._model_events([event], number)
            self._journal_model(
                {
                    "op": "register",
                    "model": version.model,
                    "version": modeljournal.version_line(version, number),
                    "events": [modeljournal.event_line(event, ids[0], number)],
                }
            )
        return number

    def _journal_model(self, line: dict[str, Any]) -> None:
        """The change in the registry's journal, fsynced, before this transaction commits
        (under its write lock: the journal's order is the commits' order). Why before, and
        what a line the commit then never followed becomes: :mod:`shipyard.modeljournal`."""
        from shipyard import modeljournal

        if not self.model_journal.exists() and self._models_before(line):
            # The store had models before the journal began: it begins with all of them (this
            # change included), else a rebuild would get a registry missing its older part.
            line = modeljournal.snapshot_line(
                [
                    (row, self.model_versions(row.name), self._model_events_with_ids(row.name))
                    for row in self.model_rows()
                ]
            )
        modeljournal.append(self.model_journal, line)

    def _models_before(self, line: dict[str, Any]) -> bool:
        """Whether the store has stage changes other than ``line``'s (this transaction's)."""
        ours = [int(event["id"]) for event in line.get("events", [])]
        row = self._db.execute("SELECT MIN(id) FROM model_events").fetchone()
        return row[0] is not None and (not ours or int(row[0]) < min(ours))

    def _model_events_with_ids(self, name: str) -> list[tuple[int, ModelEvent]]:
        ids = [
            int(row[0])
            for row in self._db.execute(
                "SELECT id FROM model_events WHERE model = ? ORDER BY id", (name,)
            ).fetchall()
        ]
        return list(zip(ids, self.model_events(name), strict=True))

    def _model_events(
        self,
        events: Sequence[ModelEvent],
        version: int | None = None,
        ids: Sequence[int] | None = None,
    ) -> list[int]:
        """Insert the events (with ``ids``: those ids, as a rebuild does); their ids."""
        given = list(ids) if ids is not None else [None] * len(events)
        return [
            int(
                self._db.execute(
                    "INSERT INTO model_events (id, model, version, action, from_stage, to_stage,"
                    " actor, at, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        event_id,
                        event.model,
                        version if version is not None else event.version,
                        event.action,
                        event.from_stage.value if event.from_stage else None,
                        event.to_stage.value,
                        event.actor,
                        event.at.timestamp(),
                        event.detail,
                    ),
                ).fetchone()[0]
            )
            for event, event_id in zip(events, given, strict=True)
        ]

    def model_row(self, name: str) -> ModelRow | None:
        row = self._db.execute("SELECT * FROM models WHERE name = ?", (name,)).fetchone()
        return _model_row(row) if row else None

    def model_rows(self) -> list[ModelRow]:
        rows = self._db.execute("SELECT * FROM models ORDER BY name").fetchall()
        return [_model_row(row) for row in rows]

    def model_versions(self, name: str) -> list[ModelVersion]:
        from shipyard.mlregistry import ModelVersion, Stage

        rows = self._db.execute(
            "SELECT * FROM model_versions WHERE model = ? ORDER BY version", (name,)
        ).fetchall()
        return [
            ModelVersion(
                model=row["model"],
                version=row["version"],
                digest=row["digest"],
                kind=row["kind"],
                size=row["size"],
                files=row["files"],
                stage=Stage(row["stage"]),
                registered_at=datetime.fromtimestamp(row["registered_at"], UTC),
                registered_by=row["registered_by"],
                source_path=row["source_path"],
                execution_id=row["execution_id"],
                step=row["step"],
                metrics=json.loads(row["metrics"]),
            )
            for row in rows
        ]

    def model_events(self, name: str) -> list[ModelEvent]:
        from shipyard.mlregistry import ModelEvent, Stage

        rows = self._db.execute(
            "SELECT * FROM model_events WHERE model = ? ORDER BY id", (name,)
        ).fetchall()
        return [
            ModelEvent(
                model=row["model"],
                version=row["version"],
                action=row["action"],
                from_stage=Stage(row["from_stage"]) if row["from_stage"] else None,
                to_stage=Stage(row["to_stage"]),
                actor=row["actor"],
                at=datetime.fromtimestamp(row["at"], UTC),
                detail=row["detail"],
            )
            for row in rows
        ]

    def model_set_stages(
        self,
        name: str,
        stages: dict[int, Stage],
        stack: Sequence[int],
        events: Sequence[ModelEvent],
    ) -> None:
        from shipyard import modeljournal

        with self.transaction():
            self._db.executemany(
                "UPDATE model_versions SET stage = ? WHERE model = ? AND version = ?",
                [(stage.value, name, version) for version, stage in stages.items()],
            )
            self._db.execute(
                "UPDATE models SET production_stack = ? WHERE name = ?",
                (json.dumps(list(stack)), name),
            )
            ids = self._model_events(events)
            self._journal_model(
                {
                    "op": "stages",
                    "model": name,
                    "stages": {str(version): stage.value for version, stage in stages.items()},
                    "stack": list(stack),
                    "events": [
                        modeljournal.event_line(event, event_id)
                        for event, event_id in zip(events, ids, strict=True)
                    ],
                }
            )

    def model_restore(
        self,
        row: ModelRow,
        versions: Sequence[ModelVersion],
        events: Sequence[tuple[int, ModelEvent]],
    ) -> bool:
        with self.transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO models (name, created_at, production_stack)"
                " VALUES (?, ?, ?)",
                (row.name, row.created_at.timestamp(), json.dumps(list(row.production_stack))),
            )
            if not self._changed():
                return False  # the store has this model: it is kept as it is
            self._db.executemany(
                "INSERT INTO model_versions (model, version, digest, kind, size, files,"
                " source_path, execution_id, step, metrics, stage, registered_at, registered_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        row.name,
                        version.version,
                        version.digest,
                        version.kind,
                        version.size,
                        version.files,
                        version.source_path,
                        version.execution_id,
                        version.step,
                        json.dumps(version.metrics),
                        version.stage.value,
                        version.registered_at.timestamp(),
                        version.registered_by,
                    )
                    for version in versions
                ],
            )
            self._model_events([event for _, event in events], ids=[i for i, _ in events])
        return True


def _model_row(row: sqlite3.Row) -> ModelRow:
    from shipyard.mlregistry import ModelRow

    return ModelRow(
        name=row["name"],
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
        production_stack=[int(number) for number in json.loads(row["production_stack"])],
    )


def _stored_pipeline(row: sqlite3.Row) -> StoredPipeline:
    return StoredPipeline(
        name=row["name"],
        spec_name=row["spec_name"],
        spec_path=row["spec_path"],
        spec_text=row["spec_text"],
        spec_digest=row["spec_digest"],
        defaults=json.loads(row["defaults"]),
        added_at=row["added_at"],
        updated_at=row["updated_at"],
        summary=json.loads(row["summary"]) if row["summary"] else None,
    )


def _alert(row: sqlite3.Row) -> Alert:
    data = json.loads(row["data"])
    return Alert(
        unit=row["unit"] or "",
        kind=str(data.get("kind", "")),
        message=str(data.get("message", "")),
        at=datetime.fromtimestamp(row["ts"], UTC),
        attempt=int(data.get("attempt", 0)),
    )


def _history_clauses(
    name: str | None, pipeline: str | None, succeeded_only: bool, before: float | None
) -> tuple[list[str], list[Any]]:
    """The WHERE terms of :meth:`SQLiteStore.execution_history` (fixed text; values bound)."""
    clauses: list[str] = []
    args: list[Any] = []
    if pipeline is not None:
        clauses.append("pipeline = ?")
        args.append(pipeline)
    if name is not None:
        clauses.append("name = ?")
        args.append(name)
    if succeeded_only:
        clauses.append("state = 'succeeded'")
    if before is not None:
        clauses.append("created_at < ?")
        args.append(before)
    return clauses or ["1 = 1"], args


def _summary_fields(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "state": ExecutionState(row["state"]),
        "mode": row["mode"],
        "created_at": timestamp(row["created_at"]),
        "started_at": timestamp(row["started_at"]),
        "ended_at": timestamp(row["ended_at"]),
        "duration_seconds": _span(row["started_at"], row["ended_at"]),
    }


def _span(start: float | None, end: float | None) -> float | None:
    return seconds_between(timestamp(start), timestamp(end))


def _resources_json(usage: ResourceUsage) -> str:
    fields = {name: getattr(usage, name) for name in ResourceUsage.__slots__}
    return json.dumps({name: value for name, value in fields.items() if value is not None})


def _resources(text: str) -> ResourceUsage:
    return ResourceUsage.from_dict(json.loads(text))


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


def _index_repo(row: sqlite3.Row) -> IndexRepo:
    from shipyard.templates import IndexRepo  # here: status never reads repositories

    return IndexRepo(
        name=row["name"],
        source=row["source"],
        kind=row["kind"],
        path=row["path"],
        added_at=timestamp(row["added_at"]),
        updated_at=timestamp(row["updated_at"]),
        revision=row["revision"],
    )


def _writable(path: Path) -> None:
    """Raise what ``os.open(path, O_RDWR)`` would for a file that cannot be written — a
    read-only file system, or no write permission — without opening it (see __init__)."""
    import errno

    if os.statvfs(path).f_flag & os.ST_RDONLY:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
    if not os.access(path, os.R_OK | os.W_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
