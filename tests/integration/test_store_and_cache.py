"""The SQLite store and the plan cache, on real files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.errors import StoreCorrupt, StoreError
from shipyard.models import ExecutionState, UnitState
from shipyard.plan.cache import PlanCache
from shipyard.store.migrations import SCHEMA_VERSION
from shipyard.store.sqlite import SQLiteStore
from shipyard.workspace import Workspace
from tests.conftest import SpecWriter


def test_schema_is_versioned_and_wal(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    store.close()
    db = sqlite3.connect(tmp_path / "state.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    SQLiteStore(tmp_path / "state.db").close()  # reopening migrates nothing and fails nothing


def test_a_newer_schema_is_refused_with_a_hint(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer Shipyard") as error:
        SQLiteStore(tmp_path / "state.db")
    assert error.value.hint and "upgrade" in error.value.hint


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_text("not a database at all, just text" * 100)
    with pytest.raises(StoreCorrupt, match=r"state\.db is damaged"):
        SQLiteStore(tmp_path / "state.db")


def test_home_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("")
    with pytest.raises(StoreError, match="is a file"):
        SQLiteStore(tmp_path / "home" / "state.db")


def test_plan_cache_hits_misses_and_survives_corruption(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec("name: c\nparameters: {n: 1}\nsteps:\n  a: {run: [echo, '{{ n }}']}\n")
    first = ops.plan(spec)
    cache_dir = Workspace(tmp_path / ".shipyard").plan_cache
    entries = list(cache_dir.glob("*.json"))
    assert len(entries) == 1
    assert ops.plan(spec) == first  # served from the cache, identical
    assert ops.plan(spec, {"n": "2"}).step("a").command.argv == ["echo", "2"]  # a new key
    assert len(list(cache_dir.glob("*.json"))) == 2
    spec.write_text("name: c\nparameters: {n: 1}\nsteps:\n  a: {run: [echo, changed]}\n")
    assert ops.plan(spec).step("a").command.argv == ["echo", "changed"]  # the text is the key
    for entry in cache_dir.glob("*.json"):
        entry.write_text("{broken")
    assert ops.plan(spec).step("a").command.argv == ["echo", "changed"]  # rebuilt, not trusted


def test_cache_entries_are_pruned(tmp_path: Path, ops: Operations, write_spec: SpecWriter) -> None:
    from shipyard.plan import cache as cache_module

    spec = write_spec("name: p\nparameters: {n: 1}\nsteps:\n  a: {run: [true]}\n")
    plan = ops.plan(spec)
    folder = tmp_path / "cache"
    store = PlanCache(folder)
    for index in range(cache_module.KEEP + 5):
        store.put(f"key{index:03d}", plan)
    remaining = list(folder.glob("*.json"))
    assert len(remaining) == cache_module.KEEP
    assert store.get(remaining[0].stem) == plan


def test_a_locked_store_loses_no_event(tmp_path: Path) -> None:
    from shipyard.engine.recorder import Recorder

    store = SQLiteStore(tmp_path / "state.db")
    store.insert_execution(
        execution_id="exec_x",
        name="x",
        mode="normal",
        spec_path=None,
        spec_digest="d",
        spec_text="",
        parameters={},
        run_dir=str(tmp_path),
        created_at=0.0,
        units=[("a", "step", None)],
    )
    recorder = Recorder(store, "exec_x", tmp_path / "events.jsonl")
    recorder.event("unit_started", "a", attempt=1)
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    store._db.execute("PRAGMA busy_timeout = 0")
    with pytest.raises(StoreError, match="stayed locked by another process"):
        recorder.flush()
    recorder.event("unit_finished", "a", state="succeeded")
    other.execute("ROLLBACK")
    other.close()
    recorder.flush()
    assert [event.action for _, event in store.events("exec_x")] == [
        "unit_started",
        "unit_finished",
    ]
    assert len((tmp_path / "events.jsonl").read_text().splitlines()) == 2


def test_a_lost_execution_keeps_no_health_or_pid_of_its_running_services(tmp_path: Path) -> None:
    """What the store itself holds once a supervisor is lost, not only what is shown: a probe's
    'healthy' and a pid outlived the processes (issue 10 §4)."""
    store = SQLiteStore(tmp_path / "state.db")
    store.insert_execution(
        execution_id="exec_lost",
        name="fleet",
        mode="up",
        spec_path=None,
        spec_digest="d",
        spec_text="",
        parameters={},
        run_dir=str(tmp_path),
        created_at=1.0,
        units=[("web", "service", None), ("db", "service", None), ("prep", "step", None)],
    )
    store.update_unit("exec_lost", "web", state=UnitState.RUNNING, pid=101)
    store.update_service("exec_lost", "web", port=8100, url=None, health="healthy", restarts=0)
    store.update_unit("exec_lost", "db", state=UnitState.STOPPED, pid=102)
    store.update_service("exec_lost", "db", port=8101, url=None, health="down", restarts=0)
    store.update_unit("exec_lost", "prep", state=UnitState.SUCCEEDED, pid=103)
    store.update_execution("exec_lost", state=ExecutionState.RUNNING)
    store.mark_lost("exec_lost", reason="its process died", at=2.0)
    rows = {
        row[0]: row[1:]
        for row in sqlite3.connect(tmp_path / "state.db").execute(
            "SELECT name, state, health, pid FROM units"
        )
    }
    store.close()
    assert rows == {
        "web": ("cancelled", "unknown", None),
        "db": ("stopped", "down", 102),
        "prep": ("succeeded", None, 103),
    }
