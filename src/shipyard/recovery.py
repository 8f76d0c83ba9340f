"""What the run folders know when the store does not: recovering records from ``runs/``.

Every execution's folder holds ``plan.json`` (its units), ``spec.yaml`` and ``events.jsonl``,
the engine's journal, written before the store and independently of it (see
:mod:`shipyard.engine.recorder`). Two things are rebuilt from them:

- an outcome the store missed: the disk was full (or the database read-only) when the execution
  ended, so the store still says ``running`` while its process is gone. ``status`` and ``list``
  replay the journal instead of calling such an execution ``lost`` (:func:`recover`);
- the whole store, when ``state.db`` is damaged, empty or missing while ``runs/`` holds runs: the
  file is moved aside (never deleted) and every run folder becomes a record again
  (:func:`open_store`, ``shipyard store rebuild``).

:func:`replay` — the journal to unit states, attempts and the execution's end — is pure.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipyard.engine import attemptlog, metrics
from shipyard.engine.attemptlog import OUTCOME_UNKNOWN, Noted
from shipyard.errors import StoreCorrupt, from_os_error
from shipyard.jsonlines import read_json_lines
from shipyard.models import (
    Artifact,
    Attempt,
    Event,
    ExecutionState,
    GateApproval,
    ResourceUsage,
    UnitState,
    timestamp,
)
from shipyard.store.base import Store
from shipyard.store.faults import looks_like_sqlite, quick_check
from shipyard.store.sqlite import SQLiteStore
from shipyard.wording import counted
from shipyard.workspace import RunDir, Workspace

#: What a rebuilt record cannot have: the journal does not carry it.
NOT_REBUILT = "measured CPU and memory, services' ports and health"
#: Bytes read at a time when an artifacts folder is hashed again (memory stays this).
HASH_CHUNK = 1 << 20


@dataclass
class UnitOutcome:
    """A unit as the journal left it (None: the journal does not say)."""

    state: UnitState
    attempts: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    pid: int | None = None
    cache_key: str | None = None  # only a kept step's (``unit_reused``): see :func:`_keys_back`


@dataclass
class Replayed:
    """What an execution's journal says happened."""

    units: dict[str, UnitOutcome] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    started_at: float | None = None
    ended_at: float | None = None
    state: ExecutionState | None = None  # None: the journal never saw the end
    reason: str | None = None
    events: int = 0
    #: Per step, the files its outputs left (its latest ``artifacts_recorded`` events).
    artifacts: dict[str, list[Artifact]] = field(default_factory=dict)
    #: Per step, when they were recorded.
    artifacts_at: dict[str, float] = field(default_factory=dict)
    #: Gates passed by a person (``gate_approved``), per step (a later one replaces).
    approvals: dict[str, GateApproval] = field(default_factory=dict)


# -- the journal, replayed (pure) -------------------------------------------------------------


def _unit(replayed: Replayed, name: str, state: UnitState) -> UnitOutcome:
    outcome = replayed.units.setdefault(name, UnitOutcome(state=state))
    outcome.state = state
    return outcome


def _started(replayed: Replayed, line: dict[str, Any]) -> None:
    unit = _unit(replayed, line["unit"], UnitState.RUNNING)
    unit.attempts = int(line.get("attempt") or (unit.attempts or 0) + 1)
    unit.pid = line.get("pid")
    # A kept step run again (``resume --force``): its old key is not this attempt's.
    unit.exit_code = unit.reason = unit.ended_at = unit.cache_key = None
    if unit.started_at is None:
        unit.started_at = line["ts"]


def _finished(replayed: Replayed, line: dict[str, Any]) -> None:
    state = UnitState(line["state"])
    retrying = bool(line.get("retrying"))
    unit = _unit(replayed, line["unit"], UnitState.RETRYING if retrying else state)
    unit.exit_code = line.get("exit_code")
    unit.reason = line.get("reason")
    if not retrying:
        unit.ended_at = line["ts"]
    duration = line.get("duration")
    began = line["ts"] - duration if isinstance(duration, int | float) else None
    replayed.attempts.append(
        Attempt(
            unit=line["unit"],
            number=int(line.get("attempt") or unit.attempts or 1),
            state=state,
            started_at=timestamp(began),
            ended_at=timestamp(line["ts"]),
            exit_code=unit.exit_code,
            signal=line.get("signal"),
            reason=unit.reason,
            pid=unit.pid,
        )
    )


def _ended_as(state: UnitState) -> Callable[[Replayed, dict[str, Any]], None]:
    def apply(replayed: Replayed, line: dict[str, Any]) -> None:
        unit = _unit(replayed, line["unit"], state)
        if line.get("reason") is not None:
            unit.reason = line["reason"]
        if state.finished and state != UnitState.SKIPPED:
            unit.ended_at = line["ts"]

    return apply


def _service_started(replayed: Replayed, line: dict[str, Any]) -> None:
    unit = _unit(replayed, line["unit"], UnitState.RUNNING)
    unit.pid = line.get("pid")
    unit.attempts = (unit.attempts or 0) + 1
    if unit.started_at is None:
        unit.started_at = line["ts"]


def _execution_started(replayed: Replayed, line: dict[str, Any]) -> None:
    replayed.started_at = replayed.started_at or line["ts"]


def _execution_finished(replayed: Replayed, line: dict[str, Any]) -> None:
    replayed.state = ExecutionState(line["state"])
    replayed.ended_at = line["ts"]
    replayed.reason = line.get("reason")


def _reused(replayed: Replayed, line: dict[str, Any]) -> None:
    """A step kept from an earlier run (``run --resume-from``, a checkpoint restore): its
    reason and cache key as the store was given them."""
    unit = _unit(replayed, line["unit"], UnitState.SUCCEEDED)
    unit.reason = line.get("reason") or f"reused from {line.get('from')}"
    unit.cache_key = line.get("cache_key")


def _artifacts_recorded(replayed: Replayed, line: dict[str, Any]) -> None:
    """Part 1 starts the step's list afresh (a later attempt replaces an earlier one's files,
    as the store's ``save_artifacts`` does); the other parts add to it."""
    name = line["unit"]
    files = [
        Artifact(name, str(path), int(size), str(digest)) for path, size, digest in line["files"]
    ]
    if int(line.get("part") or 1) == 1 or name not in replayed.artifacts:
        replayed.artifacts[name] = []
    replayed.artifacts[name].extend(files)
    replayed.artifacts_at[name] = line["ts"]


def _gate_approved(replayed: Replayed, line: dict[str, Any]) -> None:
    """The gated step succeeded by approval, with the reason ``gate approve`` gives it."""
    who, why = str(line["by"]), str(line["reason"])
    gates = line.get("gates")
    _unit(replayed, line["unit"], UnitState.SUCCEEDED).reason = approval_note(who, why)
    replayed.approvals[line["unit"]] = GateApproval(
        unit=line["unit"],
        approved_by=who,
        reason=why,
        at=datetime.fromtimestamp(line["ts"], UTC),
        gates=[str(gate) for gate in gates] if isinstance(gates, list) else [],
    )


def approval_note(who: str, why: str) -> str:
    """An approved step's reason (what ``shipyard gate approve`` writes in the store)."""
    return f"gate approved by {who}: {why}"


_UNIT_EVENTS: dict[str, Callable[[Replayed, dict[str, Any]], None]] = {
    "unit_started": _started,
    "unit_finished": _finished,
    "unit_retrying": _ended_as(UnitState.RETRYING),
    "unit_skipped": _ended_as(UnitState.SKIPPED),
    "unit_retry_cancelled": _ended_as(UnitState.CANCELLED),
    "unit_reused": _reused,
    "artifacts_recorded": _artifacts_recorded,
    "gate_approved": _gate_approved,
    "service_started": _service_started,
    "service_failed": _ended_as(UnitState.FAILED),
    "service_stopped": _ended_as(UnitState.STOPPED),
}
_EXECUTION_EVENTS: dict[str, Callable[[Replayed, dict[str, Any]], None]] = {
    "execution_started": _execution_started,
    "execution_finished": _execution_finished,
}


def replay(lines: Iterable[dict[str, Any]]) -> Replayed:
    """Fold journal lines (oldest first) into the units' last states and the execution's end.
    Lines of unknown actions, or missing what they need, are passed over."""
    replayed = Replayed()
    for line in lines:
        action, unit = line.get("action"), line.get("unit")
        handler = (_UNIT_EVENTS if isinstance(unit, str) else _EXECUTION_EVENTS).get(str(action))
        if handler is None or not isinstance(line.get("ts"), int | float):
            continue
        with contextlib.suppress(KeyError, ValueError, TypeError):
            handler(replayed, line)
            replayed.events += 1
    return replayed


# -- reading a run folder ---------------------------------------------------------------------


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """events.jsonl line by line (bounded memory); a line the disk cut short is passed over."""
    return read_json_lines(path, dict)


def as_event(execution_id: str, line: dict[str, Any]) -> Event:
    data = {key: value for key, value in line.items() if key not in ("ts", "action", "unit")}
    return Event(line["ts"], execution_id, str(line["action"]), line.get("unit"), data)


# -- putting it in the store ------------------------------------------------------------------


def _apply(store: Store, execution_id: str, replayed: Replayed) -> None:
    """Write what the journal knows over the store's record (in the caller's transaction)."""
    for name, unit in replayed.units.items():
        store.update_unit(
            execution_id,
            name,
            state=unit.state,
            attempts=unit.attempts,
            started_at=unit.started_at,
            ended_at=unit.ended_at,
            exit_code=unit.exit_code,
            reason=unit.reason,
            pid=unit.pid,
            cache_key=unit.cache_key,
        )
    known = {(attempt.unit, attempt.number) for attempt in store.attempts(execution_id)}
    for attempt in replayed.attempts:
        if (attempt.unit, attempt.number) not in known:  # never overwrite measured resources
            store.save_attempt(execution_id, attempt)
    for name, files in replayed.artifacts.items():
        store.save_artifacts(
            execution_id, name, files, recorded_at=replayed.artifacts_at.get(name, time.time())
        )
    for approval in replayed.approvals.values():
        store.save_gate_approval(execution_id, approval)
    if replayed.state is not None:
        store.update_execution(
            execution_id,
            state=replayed.state,
            started_at=replayed.started_at,
            ended_at=replayed.ended_at,
            reason=replayed.reason,
        )


def _append_missing_events(store: Store, execution_id: str, journal: Path) -> None:
    """The journal's events newer than the store's newest, in batches (bounded memory)."""
    after = store.last_event_ts(execution_id)
    batch: list[Event] = []
    for line in read_journal(journal):
        ts, action = line.get("ts"), line.get("action")
        if not isinstance(ts, int | float) or not isinstance(action, str):
            continue
        if after is None or ts > after:
            batch.append(as_event(execution_id, line))
        if len(batch) >= 500:
            store.append_events(batch)
            batch = []
    if batch:
        store.append_events(batch)


def recover(store: Store, run_dir: RunDir, execution_id: str) -> bool:
    """An active record whose process is gone: bring it up to date from its journal. True
    when the journal saw the execution end (it is then finished in the store, not lost)."""
    replayed = replay(read_journal(run_dir.events))
    if not replayed.events:
        return False
    with store.transaction():
        _apply(store, execution_id, replayed)
        _append_missing_events(store, execution_id, run_dir.events)
        metrics_back(store, run_dir, execution_id, set(store.attempt_counts(execution_id)))
        if replayed.state is not None:
            store.append_events(
                [
                    Event(
                        time.time(),
                        execution_id,
                        "record_recovered",
                        None,
                        {"from": str(run_dir.events), "state": replayed.state.value},
                    )
                ]
            )
    return replayed.state is not None


# -- the attempt journal, after a supervisor died ---------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitFix:
    """What the store's unit row becomes from the attempt journal."""

    state: UnitState
    attempts: int
    ended_at: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    cache_key: str | None = None


def unit_fix(
    noted: Noted, state: UnitState, attempts: int, *, keyed: bool = True
) -> UnitFix | None:
    """How the journal's latest attempt of a unit corrects the store's row (in ``state``, with
    ``attempts`` committed; ``keyed``: the row has its cache key), or None when the store
    already knows as much (pure).

    The journal is written before the store, so an attempt it has that the store has not heard
    of (a higher number), or one the store still calls running, is newer news. An attempt of an
    earlier session (number not above the store's, unit back to pending by ``resume``) is not.
    A success the store has without its cache key (put there from events.jsonl, which does not
    carry keys) takes the journal's key, else ``resume`` would run it again.
    """
    ending = noted.ending
    if noted.number < attempts:
        return None
    if noted.number == attempts and state not in (UnitState.RUNNING, UnitState.RETRYING):
        keyless_success = (
            state == UnitState.SUCCEEDED
            and not keyed
            and ending is not None
            and ending.state == UnitState.SUCCEEDED
            and ending.cache_key is not None
        )
        if not keyless_success:
            return None
    if ending is None:  # began, never seen to end: running until the execution is marked lost
        return UnitFix(UnitState.RUNNING, noted.number)
    if ending.retrying:
        return UnitFix(UnitState.RETRYING, noted.number, None, ending.exit_code, ending.reason)
    return UnitFix(
        ending.state,
        noted.number,
        ending.ended_at,
        ending.exit_code,
        ending.reason,
        ending.cache_key if ending.state == UnitState.SUCCEEDED else None,
    )


def attempt_row(noted: Noted, before: Attempt | None) -> Attempt | None:
    """The attempts row the journal gives (pure): None when the store's row is final already.
    A row the store holds only as a provisional sample (state running) keeps its resources."""
    if before is not None and before.state != UnitState.RUNNING:
        return None
    ending = noted.ending
    resources = before.resources if before is not None else ResourceUsage()
    if ending is None:
        return Attempt(
            unit=noted.unit,
            number=noted.number,
            state=UnitState.CANCELLED,
            started_at=timestamp(noted.began) or (before.started_at if before else None),
            ended_at=None,
            reason=OUTCOME_UNKNOWN,
            pid=before.pid if before else None,
            resources=resources,
        )
    return Attempt(
        unit=noted.unit,
        number=noted.number,
        state=ending.state,
        started_at=timestamp(ending.started_at),
        ended_at=timestamp(ending.ended_at),
        exit_code=ending.exit_code,
        signal=ending.signal,
        reason=ending.reason,
        pid=ending.pid,
        resources=resources,
    )


def settle_attempts(store: Store, run_dir: RunDir, execution_id: str) -> None:
    """An execution whose supervisor died: every attempt its journal noted gets its row (with
    its outcome, or as of unknown outcome), each unit the journal knows more about is corrected
    (a success observed keeps its cache key, so ``resume`` does not run it again), and no
    attempt row is left ``running``. Done before the execution is marked lost."""
    noted = attemptlog.fold(attemptlog.read(run_dir.attempts))
    status = store.get_execution(execution_id)
    if status is None:
        return
    rows = {(row.unit, row.number): row for row in store.attempts(execution_id)}
    units = {unit.name: unit for unit in status.units}
    keyed = store.cache_keys(execution_id)
    with store.transaction():
        for key, row in rows.items():
            if key not in noted and row.state == UnitState.RUNNING:
                noted[key] = Noted(row.unit, row.number, None)  # sampled, never seen to end
        for key, entry in noted.items():
            attempt = attempt_row(entry, rows.get(key))
            if attempt is not None:
                key_of = entry.ending.cache_key if entry.ending else None
                store.save_attempt(execution_id, attempt, key_of)
                if entry.ending is not None:  # its figures were queued with the end record
                    _reread_metrics(store, run_dir, execution_id, key, entry.ending.ended_at)
        for name, entry in attemptlog.latest(noted).items():
            unit = units.get(name)
            if unit is None:
                continue
            fix = unit_fix(entry, unit.state, unit.attempts, keyed=name in keyed)
            if fix is None:
                continue
            store.update_unit(
                execution_id,
                name,
                state=fix.state,
                attempts=fix.attempts,
                started_at=entry.began if unit.started_at is None else None,
                ended_at=fix.ended_at,
                exit_code=fix.exit_code,
                reason=fix.reason,
                cache_key=fix.cache_key,
            )


def _reread_metrics(
    store: Store, run_dir: RunDir, execution_id: str, attempt: tuple[str, int], at: float | None
) -> None:
    """The figures one attempt left in ``metrics/`` into the store (replacing any it has), as
    of ``at`` (default: when the file was last written)."""
    unit, number = attempt
    path = run_dir.metrics / metrics.file_name(unit, number)
    reading = metrics.read(str(path), unit, number)
    if reading is None or not reading.metrics:
        return
    if at is None:
        try:
            at = path.stat().st_mtime
        except OSError:
            at = time.time()
    store.save_metrics(execution_id, reading.metrics, recorded_at=at)


def metrics_back(store: Store, run_dir: RunDir, execution_id: str, units: set[str]) -> None:
    """The figures of every metrics file of ``run_dir`` (of one of ``units``) that the store
    has none of: what the end records it missed (or a rebuilt store) would have held."""
    try:
        names = sorted(entry.name for entry in os.scandir(run_dir.metrics))
    except OSError:
        return
    have = {(metric.unit, metric.attempt) for metric in store.metrics(execution_id)}
    for name in names:
        attempt = metrics.parse_name(name)
        if attempt is not None and attempt[0] in units and attempt not in have:
            _reread_metrics(store, run_dir, execution_id, attempt, None)


# -- rebuilding the whole store ---------------------------------------------------------------


@dataclass
class RebuildReport:
    """What a rebuild did: the old file's fate, the executions back, the folders that could
    not be used, and what no rebuilt record has."""

    path: str
    why: str
    moved_to: str | None
    rebuilt: list[str] = field(default_factory=list)
    finished: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    not_rebuilt: str = NOT_REBUILT
    #: The registry's models put back from models/journal.jsonl.
    models: list[str] = field(default_factory=list)

    def text(self) -> str:
        moved = f"; it was moved aside to {self.moved_to}" if self.moved_to else ""
        unfinished = len(self.rebuilt) - self.finished
        rebuilt = counted(len(self.rebuilt), "execution")
        lines = [
            f"the state database {self.path} {self.why}{moved}.",
            f"rebuilt {rebuilt} from the run folders (runs/): units, "
            f"states, exit codes, attempts, events, artifacts (sizes, SHA-256) and approved "
            f"gates from each events.jsonl, cache keys from attempts.log, the figures steps "
            f"reported from metrics/"
            + (
                f"; {unfinished} whose end was never journaled are marked lost"
                if unfinished
                else ""
            ),
            f"model registry: {counted(len(self.models), 'model')} with their versions, stages and "
            f"stage changes from models/journal.jsonl"
            + (f" ({', '.join(self.models)})" if self.models else ""),
            f"not rebuilt (not in the run folders): {self.not_rebuilt}.",
        ]
        lines += [f"could not rebuild {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)


def _units_of(plan: dict[str, Any], run_dir: RunDir) -> list[tuple[str, str, str | None]]:
    steps: list[tuple[str, str, str | None]] = [
        (s["name"], "step", str(run_dir.log_for(s["name"]))) for s in plan["steps"]
    ]
    services = [
        (s["name"], "service", str(run_dir.log_for(s["name"]))) for s in plan.get("services", [])
    ]
    return steps + services


def _created_at(execution_id: str, run_dir: RunDir) -> float:
    """From the id (``exec_<name>_<yyyymmdd_hhmmss>_<hex>``), else the plan file's time."""
    with contextlib.suppress(ValueError, IndexError):
        stamp = "_".join(execution_id.rsplit("_", 3)[1:3])
        return datetime.strptime(stamp, "%Y%m%d_%H%M%S").replace(tzinfo=UTC).timestamp()
    return (run_dir.root / "plan.json").stat().st_mtime


def rebuild_one(store: SQLiteStore, workspace: Workspace, execution_id: str) -> bool:
    """One run folder as a record again. True if its journal saw it end. Raises OSError,
    ValueError or KeyError when its plan.json is missing or unreadable."""
    run_dir = workspace.run_dir(execution_id)
    plan = json.loads((run_dir.root / "plan.json").read_text(encoding="utf-8"))
    try:
        spec_text = (run_dir.root / "spec.yaml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        spec_text = ""
    replayed = replay(read_journal(run_dir.events))
    with store.transaction():
        store.insert_execution(
            execution_id=execution_id,
            name=plan["name"],
            mode=plan.get("mode", "normal"),
            spec_path=plan.get("spec_path"),
            spec_digest=plan.get("spec_digest", ""),
            spec_text=spec_text,
            parameters=dict(plan.get("parameters", {})),
            run_dir=str(run_dir.root),
            created_at=_created_at(execution_id, run_dir),
            units=_units_of(plan, run_dir),
            pipeline=_pipeline_of(run_dir),
        )
        for step in plan["steps"]:
            if not step.get("enabled", True):
                store.update_unit(
                    execution_id, step["name"], state=UnitState.DISABLED, reason="enabled: false"
                )
        _apply(store, execution_id, replayed)
        _append_missing_events(store, execution_id, run_dir.events)
        metrics_back(store, run_dir, execution_id, {step["name"] for step in plan["steps"]})
        _artifacts_rehashed(store, run_dir, execution_id, replayed, plan)
        _keys_back(store, run_dir, execution_id, replayed)
        if replayed.state is None:
            store.mark_lost(
                execution_id,
                reason=f"rebuilt from {run_dir.root}: its end was never journaled "
                f"(shipyard resume {execution_id} runs what did not finish)",
                at=replayed.ended_at or time.time(),
            )
    return replayed.state is not None


def _keys_back(store: Store, run_dir: RunDir, execution_id: str, replayed: Replayed) -> None:
    """The cache key of each step that succeeded (or was gated, then approved), from the
    attempt journal (``attempts.log``, which events.jsonl leaves it out of): without it
    ``resume`` would run the step again — and an approved step would be gated again."""
    latest = attemptlog.latest(attemptlog.fold(attemptlog.read(run_dir.attempts)))
    for name, unit in replayed.units.items():
        entry = latest.get(name)
        ending = entry.ending if entry is not None else None
        if unit.state != UnitState.SUCCEEDED or ending is None or ending.cache_key is None:
            continue
        if unit.attempts is not None and entry is not None and entry.number != unit.attempts:
            continue  # not the attempt the step's state comes from
        approved = ending.state == UnitState.GATED and name in replayed.approvals
        if ending.state == UnitState.SUCCEEDED or approved:
            store.update_unit(
                execution_id, name, state=UnitState.SUCCEEDED, cache_key=ending.cache_key
            )


def _artifacts_rehashed(
    store: Store, run_dir: RunDir, execution_id: str, replayed: Replayed, plan: dict[str, Any]
) -> None:
    """The records of a step's artifacts that no ``artifacts_recorded`` event gives: its
    folder's files, hashed again, for a step that succeeded (or was gated: its outputs were
    copied before its gates were judged). Only then: such a step's files were carried into a
    resumed run (``run --resume-from``, a checkpoint restore), or it ran under a Shipyard from
    before the event. Elsewhere the event's digests are kept, being what the dependants were
    handed, where the folder's bytes now might not be."""
    for step in plan["steps"]:
        name = step["name"]
        unit = replayed.units.get(name)
        if name in replayed.artifacts:
            continue
        # Not a step the journal saw fail: a copy cut short leaves a folder the store never
        # recorded. A kept step (``unit_reused``: its files were carried, not recorded by an
        # event) is succeeded; one it never mentions was kept by an older Shipyard.
        if unit is not None and unit.state not in (UnitState.SUCCEEDED, UnitState.GATED):
            continue
        folder = run_dir.artifacts / name
        try:
            files, newest = _hashed(folder, name)
        except OSError:
            continue  # no folder (no outputs declared), or unreadable: nothing to record
        if files:
            store.save_artifacts(execution_id, name, files, recorded_at=newest)


def _hashed(folder: Path, unit: str) -> tuple[list[Artifact], float]:
    """Every file under ``folder`` (path order), its size and SHA-256, read a chunk at a time;
    and the newest file's time. Raises OSError."""
    import hashlib

    found: list[Artifact] = []
    newest = 0.0
    if not folder.is_dir():
        raise FileNotFoundError(folder)
    for root, folders, names in os.walk(folder):
        folders.sort()
        for name in sorted(names):
            path = Path(root) / name
            if not path.is_file():
                continue
            hasher = hashlib.sha256()
            with path.open("rb") as handle:
                while chunk := handle.read(HASH_CHUNK):
                    hasher.update(chunk)
            stat = path.stat()
            newest = max(newest, stat.st_mtime)
            relative = path.relative_to(folder).as_posix()
            found.append(Artifact(unit, relative, stat.st_size, hasher.hexdigest()))
    return sorted(found, key=lambda artifact: artifact.path), newest


def _pipeline_of(run_dir: RunDir) -> str | None:
    """The registered pipeline the execution ran as: its run folder's ``pipeline`` file
    (``shipyard.operations.plans.PIPELINE_FILE``, written when it was prepared)."""
    try:
        name = (run_dir.root / "pipeline").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name or None


def run_folders(workspace: Workspace) -> list[str]:
    runs = workspace.home / "runs"
    try:
        return sorted(entry.name for entry in os.scandir(runs) if entry.is_dir())
    except FileNotFoundError:
        return []


def rebuild(store: SQLiteStore, workspace: Workspace, report: RebuildReport) -> RebuildReport:
    """Every run folder without a record becomes one (oldest first)."""
    for execution_id in run_folders(workspace):
        if store.execution_state(execution_id) is not None:
            continue
        try:
            finished = rebuild_one(store, workspace, execution_id)
        except (OSError, ValueError, KeyError, TypeError) as error:
            report.skipped[execution_id] = f"its plan.json is missing or unreadable ({error})"
            continue
        report.rebuilt.append(execution_id)
        report.finished += finished
    _pipelines_back(store, workspace)
    report.models = _models_back(store)
    return report


def _models_back(store: SQLiteStore) -> list[str]:
    """The model registry's records, from its journal (:mod:`shipyard.modeljournal`); its files
    are under models/ already. A model the store has is kept as it is. The names put back."""
    from shipyard import modeljournal

    restored: list[str] = []
    with store.transaction():
        for name, model in sorted(
            modeljournal.fold(modeljournal.read(store.model_journal)).items()
        ):
            versions = [model.versions[number] for number in sorted(model.versions)]
            if store.model_restore(model.row, versions, model.events):
                restored.append(name)
    return restored


def _pipelines_back(store: SQLiteStore, workspace: Workspace) -> None:
    """The registered pipelines, from their copies beside the store (issue 12 §1)."""
    from shipyard.registry import read_copies

    with store.transaction():
        for pipeline in read_copies(workspace.home):
            store.pipeline_put(pipeline, replace=False)  # one already there is kept


def set_aside(path: Path, label: str = "corrupt") -> Path:
    """Move the database (and its -wal and -shm) to ``state.db.<label>-<time>``: never deleted,
    and never replayed into the new file by SQLite."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.{label}-{stamp}")
    count = 1
    while target.exists():  # two in one second: never over an earlier one
        count += 1
        target = path.with_name(f"{path.name}.{label}-{stamp}-{count}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            try:
                source.rename(f"{target}{suffix}")
            except OSError as error:
                raise from_os_error(error, "move aside", source) from None
    return target


# -- opening the store, noticing damage -------------------------------------------------------


def diagnose(path: Path) -> str | None:
    """Why ``path`` is not a usable database (header, then SQLite's quick_check), or None."""
    if not looks_like_sqlite(path):
        return "is not an SQLite database (its first bytes are not SQLite's header)"
    problem = quick_check(path)
    return f"is damaged (quick_check: {problem})" if problem else None


def _empty_with_runs(workspace: Workspace) -> str | None:
    """ "is empty (0 bytes)" / "is missing" while runs/ holds run folders, else None."""
    path = workspace.state_db
    try:
        empty = path.stat().st_size == 0
        why = "is empty (0 bytes)"
    except FileNotFoundError:
        empty, why = True, "is missing"
    if not empty or not run_folders(workspace):
        return None
    return why


def _rebuilt(workspace: Workspace, why: str, notify: Callable[[str], None]) -> SQLiteStore:
    path = workspace.state_db
    moved = set_aside(path) if path.exists() else None
    store = SQLiteStore(path)
    report = rebuild(store, workspace, RebuildReport(str(path), why, str(moved) if moved else None))
    notify(report.text())
    return store


def open_store(workspace: Workspace, notify: Callable[[str], None]) -> SQLiteStore:
    """The store of ``workspace``. A database that is damaged, empty or missing while runs/
    holds runs is never silently started afresh: it is moved aside, the records are rebuilt
    from the run folders, and ``notify`` is told what was rebuilt and what was lost. The checks
    cost one stat on a healthy home; quick_check runs only when opening failed."""
    why = _empty_with_runs(workspace)
    if why is not None:
        return _rebuilt(workspace, why, notify)
    try:
        return SQLiteStore(workspace.state_db)
    except StoreCorrupt:
        why = diagnose(workspace.state_db)
        if why is None:
            raise  # not confirmed: left alone, the error says what to do
        return _rebuilt(workspace, why, notify)


# -- the explicit commands --------------------------------------------------------------------


@dataclass
class StoreCheck:
    path: str
    healthy: bool
    problem: str | None
    run_folders: int
    without_record: list[str]


def check(workspace: Workspace) -> StoreCheck:
    """`shipyard store check`: header, quick_check, and run folders the store has no record
    of. Reads only."""
    path = workspace.state_db
    folders = run_folders(workspace)
    problem = _empty_with_runs(workspace) or (diagnose(path) if path.exists() else None)
    missing = folders
    if problem is None and path.exists():
        store = SQLiteStore(path)
        try:
            missing = [e for e in folders if store.execution_state(e) is None]
        finally:
            store.close()
    return StoreCheck(
        path=str(path),
        healthy=problem is None and not missing,
        problem=problem,
        run_folders=len(folders),
        without_record=missing,
    )


def rebuild_store(workspace: Workspace) -> RebuildReport:
    """`shipyard store rebuild`: the current database is moved aside (kept), and a new one is
    built from every run folder."""
    path = workspace.state_db
    moved = set_aside(path, "before-rebuild") if path.exists() else None
    try:
        store = SQLiteStore(path)
        try:
            return rebuild(
                store,
                workspace,
                RebuildReport(str(path), "was rebuilt on request", str(moved) if moved else None),
            )
        finally:
            store.close()
    except BaseException:
        # A rebuild that did not finish (a full disk, Ctrl-C) must not leave a half-built
        # database in place of the one it set aside: that one is put back.
        if moved is not None:
            _put_back(moved, path)
        raise


def _put_back(moved: Path, path: Path) -> None:
    """Undo :func:`set_aside`: the new database files go, the set-aside ones return."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{moved}{suffix}")
        if source.exists():
            source.rename(f"{path}{suffix}")
