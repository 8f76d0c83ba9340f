"""LocalOperations as a composition root: a store and a clock given to it are the ones used
(real SQLite, real runs), and a store given by the caller stays the caller's."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from shipyard.engine.runners.local import LocalRunner
from shipyard.local import LocalOperations
from shipyard.models import ExecutionState
from shipyard.store.sqlite import SQLiteStore
from shipyard.workspace import Workspace
from tests.conftest import SpecWriter

#: A year back: a wall clock no run could have read by chance.
YEAR = 365 * 24 * 3600.0


class YearAgo:
    def now(self) -> float:
        return time.time() - YEAR

    def monotonic(self) -> float:
        return time.monotonic()


def test_a_given_store_and_clock_are_the_ones_used(tmp_path: Path, write_spec: SpecWriter) -> None:
    workspace = Workspace(tmp_path / "home")
    workspace.home.mkdir(mode=0o700)
    store = SQLiteStore(tmp_path / "elsewhere.db")  # not the workspace's state.db
    ops = LocalOperations(workspace, store=store, clock=YearAgo(), runners={"local": LocalRunner})
    spec = write_spec("name: given\nsteps:\n  a: {run: [echo, hi]}\n")
    try:
        status = ops.run(spec)
        assert status.state == ExecutionState.SUCCEEDED
        assert store.get_execution(status.id) is not None  # recorded in the given store
        assert not workspace.state_db.exists()  # and in no other
        # The execution's record and id carry the given clock's time.
        a_year_ago = datetime.now(UTC).timestamp() - YEAR
        assert abs(status.created_at.timestamp() - a_year_ago) < 600
        assert datetime.fromtimestamp(a_year_ago, UTC).strftime("%Y%m%d") in status.id
        assert set(ops.runners) == {"local"}
        ops.close()  # the caller's store stays open
        assert store.get_execution(status.id) is not None
    finally:
        store.close()


def test_a_detached_run_with_a_given_store(tmp_path: Path, write_spec: SpecWriter) -> None:
    """A store of the caller's is never closed for a fork: the supervisor is a fresh
    interpreter, and the store is still usable afterwards. (A supervisor records in the
    workspace's state.db, which is why this store is that one.)"""
    workspace = Workspace(tmp_path / "home")
    workspace.home.mkdir(mode=0o700)
    store = SQLiteStore(workspace.state_db)
    ops = LocalOperations(workspace, store=store)
    spec = write_spec("name: bg\nsteps:\n  a: {run: [sh, -c, 'sleep 1; echo done']}\n")
    try:
        status = ops.run(spec, detach=True)
        pid, _ = store.supervisor(status.id)
        assert pid is not None
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"shipyard.supervisor" in cmdline, cmdline  # a fresh interpreter, not a fork
        deadline = time.monotonic() + 30
        while not ops.status(status.id).state.finished:
            assert time.monotonic() < deadline, "the detached run did not finish in 30 s"
            time.sleep(0.05)
        assert ops.status(status.id).state == ExecutionState.SUCCEEDED
        assert [line.text for line in ops.logs(status.id, "a")] == ["done"]
    finally:
        store.close()


def test_a_sweep_in_a_given_store_is_found_there(tmp_path: Path, write_spec: SpecWriter) -> None:
    """Reads ask whether there is state before opening the workspace's store (so a folder
    without state gets none created); a store handed in is state, for sweeps as for the rest."""
    from shipyard.sweep import SweepSettings

    workspace = Workspace(tmp_path / "home")
    workspace.home.mkdir(mode=0o700)
    store = SQLiteStore(workspace.state_db)  # where a point's supervisor records (above)
    ops = LocalOperations(workspace, store=store, runners={"local": LocalRunner})
    spec = write_spec(
        "name: swept\nparameters: {n: {type: int, default: 1}, m: {type: int, default: 1}}\n"
        "steps:\n  a: {run: [echo, '{{ n }}']}\n"
    )
    try:
        done = ops.sweep(spec, SweepSettings(matrix={"n": [1], "m": [1]}))
        ops.close()
        elsewhere = Workspace(tmp_path / "empty")  # no state of its own: the store is given
        elsewhere.home.mkdir(mode=0o700)
        reader = LocalOperations(elsewhere, store=store)
        assert reader.sweep_status(done.id).id == done.id
        assert reader.sweep_status().id == done.id  # the latest, with no id given
        reader.close()
        assert not elsewhere.state_db.exists()
    finally:
        store.close()


def test_a_detached_run_with_another_store_is_refused_at_once(
    tmp_path: Path, write_spec: SpecWriter
) -> None:
    """Its supervisor records in the workspace's state.db, which the given store is not: it
    waited 15 s, then said the supervisor "did not start". Now refused, nothing left behind."""
    import pytest

    from shipyard.errors import ShipyardError

    workspace = Workspace(tmp_path / "home")
    workspace.home.mkdir(mode=0o700)
    store = SQLiteStore(tmp_path / "elsewhere.db")
    ops = LocalOperations(workspace, store=store)
    spec = write_spec("name: bg\nsteps:\n  a: {run: [echo, hi]}\n")
    try:
        with pytest.raises(ShipyardError, match="records in the workspace's state database") as err:
            ops.run(spec, detach=True)
        assert "SQLiteStore(workspace.state_db)" in (err.value.hint or "")
        assert store.list_executions() == []  # nothing recorded
        runs = workspace.home / "runs"
        assert not runs.exists() or list(runs.iterdir()) == []  # no run folder left
        assert ops.run(spec).state == ExecutionState.SUCCEEDED  # in this process it runs
        ops.close()
    finally:
        store.close()
