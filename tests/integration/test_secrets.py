"""Secrets and file modes (issue 8, item 3), on real files, real processes and real SQLite.

What is promised: everything Shipyard writes under its home is the user's alone (folders 0700,
files 0600) while the units keep the user's umask; a parameter declared ``secret: true`` never
reaches the disk, a display or an argv — only the environment of the units.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.local import LocalOperations
from shipyard.models import ExecutionState, ExecutionStatus
from shipyard.workspace import Workspace
from tests.conftest import SpecWriter

NOBODY = 65534


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder every user can enter (pytest's own tmp folders are root's alone, which would
    hide the very exposure the tests look for)."""
    folder = Path(tempfile.mkdtemp(prefix="shipyard-shared-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def modes_open_to_others(home: Path) -> list[str]:
    """Every folder and file under ``home`` that group or others may use, as 'mode path'.
    The content of artifacts/ is the steps' own output (copies keep their mode); it lies
    behind owner-only folders all the same."""
    found = []
    for root, folders, files in os.walk(home):
        where = Path(root)
        if where.name == "artifacts":
            folders[:] = []
            continue
        for name in [*folders, *files]:
            mode = (where / name).lstat().st_mode
            if stat.S_ISSOCK(mode) or stat.S_ISLNK(mode):
                continue
            if mode & 0o077:
                found.append(f"{stat.S_IMODE(mode):04o} {(where / name).relative_to(home)}")
    if home.stat().st_mode & 0o077:
        found.append(f"{stat.S_IMODE(home.stat().st_mode):04o} (the home itself)")
    return sorted(found)


def read_as_nobody(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/cat", str(path)],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        check=False,
        timeout=30,
    )


def finished(ops: LocalOperations, execution_id: str) -> ExecutionStatus:
    """The execution once it has ended (a detached one ends in its own time)."""
    deadline = time.monotonic() + 60
    status = ops.status(execution_id)
    while not status.state.finished and time.monotonic() < deadline:
        time.sleep(0.05)
        status = ops.status(execution_id)
    return status


FILE_SPEC = """
name: modes
parameters:
  greeting: hello
steps:
  write:
    run: ["sh", "-c", "umask > umask.txt; echo '{{ greeting }}' > out.txt; echo done"]
    outputs: [out.txt]
  after:
    run: "echo {{ greeting }}"
    needs: [write]
"""


@pytest.mark.parametrize("user_umask", [0o000, 0o022, 0o027])
def test_home_is_owner_only_and_steps_keep_the_users_umask(
    tmp_path: Path, write_spec: SpecWriter, user_umask: int
) -> None:
    spec = write_spec(FILE_SPEC)
    home = tmp_path / "home"
    with umask(user_umask):
        ops = LocalOperations(Workspace(home))
        try:
            status = ops.run(spec)
            ops.plan(spec, {"greeting": "again"})  # a second cache entry
            while_open = modes_open_to_others(home)
            present = [name for name in ("state.db-wal", "state.db-shm") if (home / name).exists()]
        finally:
            ops.close()
        assert os.umask(user_umask) == user_umask, "Shipyard changed the process umask"
    assert status.state == ExecutionState.SUCCEEDED
    assert while_open == []
    assert present == ["state.db-wal", "state.db-shm"]  # checked while they exist
    run_dir = Path(status.run_dir)
    assert list((home / "cache" / "plans").glob("*.json"))
    for name in ("plan.json", "spec.yaml", "events.jsonl", "logs/write.log", "spawns.log"):
        assert (run_dir / name).exists(), name
    assert modes_open_to_others(home) == []
    # The step's own files: the user's umask, untouched by Shipyard's care for its home.
    assert (tmp_path / "umask.txt").read_text().strip() == f"{user_umask:04o}"
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o666 & ~user_umask


def test_a_detached_run_writes_owner_only_files_too(
    tmp_path: Path, write_spec: SpecWriter, ops: LocalOperations
) -> None:
    spec = write_spec(FILE_SPEC)
    status = finished(ops, ops.run(spec, detach=True).id)
    assert status.state == ExecutionState.SUCCEEDED
    assert (Path(status.run_dir) / "supervisor.log").exists()
    assert modes_open_to_others(ops.workspace.home) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_another_user_cannot_read_the_state_the_plans_or_the_logs(
    shared: Path, write_spec: SpecWriter
) -> None:
    spec = shared / "spec.yaml"
    spec.write_text(FILE_SPEC.replace("hello", "sensitive-value-41"), encoding="utf-8")
    spec.chmod(0o644)
    (shared / "work").mkdir(mode=0o777)
    home = shared / "home"
    ops = LocalOperations(Workspace(home))
    try:
        status = ops.run(spec)
    finally:
        ops.close()
    assert status.state == ExecutionState.SUCCEEDED
    run_dir = Path(status.run_dir)
    targets = [
        home / "state.db",
        home / "state.db-wal",
        run_dir / "plan.json",
        run_dir / "spec.yaml",
        run_dir / "events.jsonl",
        run_dir / "logs" / "after.log",
        *(home / "cache" / "plans").glob("*.json"),
    ]
    assert read_as_nobody(spec).returncode == 0  # the reader works where it may read
    for target in targets:
        attempt = read_as_nobody(target)
        assert attempt.returncode != 0, f"another user read {target}: {attempt.stdout[:80]!r}"
        assert "Permission denied" in attempt.stderr
        assert "sensitive-value-41" not in attempt.stdout


def test_an_open_home_is_closed_once_and_said_so(
    tmp_path: Path, write_spec: SpecWriter, capfd: pytest.CaptureFixture[str]
) -> None:
    """A home made by an older Shipyard (0755, state.db 0644) is tightened at the first
    command, with one note on stderr; the next command finds it closed and says nothing."""
    spec = write_spec(FILE_SPEC)
    home = tmp_path / "old-home"
    with umask(0o022):
        home.mkdir()
        for folder in ("runs", "cache", "trash"):
            (home / folder).mkdir()
        (home / "state.db").touch()
    ops = LocalOperations(Workspace(home))
    try:
        ops.list_executions()
        first = capfd.readouterr().err
        ops.close()
        ops.run(spec)
        second = capfd.readouterr().err
    finally:
        ops.close()
    assert "was open to other users (mode 0755)" in first
    assert "now owner-only" in first
    assert "open to other users" not in second
    assert modes_open_to_others(home) == []
