"""The registry of this user's supervisors (shipyard.supervisors) and a run folder's watch
(issue 11, item 5): the pure decisions as tables, the registry's files in a temp folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard import supervisors
from shipyard.errors import ShipyardError
from shipyard.supervisor import folder_gone


@pytest.mark.parametrize(
    ("recorded", "current", "stale"),
    [
        (100, 100, False),  # the same process
        (100, None, True),  # gone
        (100, 250, True),  # the pid is another process's now
    ],
)
def test_an_entry_is_stale_when_its_process_is_not_the_one_recorded(
    recorded: int, current: int | None, stale: bool
) -> None:
    assert supervisors.is_stale(recorded, current) is stale


@pytest.mark.parametrize(
    ("before", "now", "gone"),
    [
        ((1, 10), (1, 10), False),
        ((1, 10), None, True),  # deleted
        ((1, 10), (1, 11), True),  # deleted, and another folder made in its place
        ((1, 10), (2, 10), True),
    ],
)
def test_a_run_folder_is_gone_when_missing_or_replaced(
    before: tuple[int, int], now: tuple[int, int] | None, gone: bool
) -> None:
    assert folder_gone(before, now) is gone


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SHIPYARD_SUPERVISORS_DIR": "/x/reg"}, "/x/reg"),
        ({"XDG_RUNTIME_DIR": "{tmp}"}, "{tmp}/shipyard/supervisors"),
        ({"XDG_RUNTIME_DIR": "relative", "XDG_STATE_HOME": "/s"}, "/s/shipyard/supervisors"),
        ({"XDG_RUNTIME_DIR": "/nonexistent/run"}, "~/.local/state/shipyard/supervisors"),
    ],
)
def test_the_registry_is_the_users_own_folder(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    filled = {key: value.format(tmp=tmp_path) for key, value in env.items()}
    want = Path(expected.format(tmp=tmp_path)).expanduser()
    assert supervisors.registry_dir(filled) == want


def test_register_then_live_then_gone(tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    run_dir = tmp_path / "home" / "runs" / "exec_x"
    run_dir.mkdir(parents=True)
    path = supervisors.register(
        "exec_x", tmp_path / "home", run_dir, run_dir / "c.sock", directory=registry
    )
    assert path is not None and path.stat().st_mode & 0o777 == 0o600
    assert registry.stat().st_mode & 0o777 == 0o700
    (entry,) = supervisors.live(registry)
    assert (entry.pid, entry.execution_id, entry.folder_exists) == (os.getpid(), "exec_x", True)
    run_dir.rmdir()
    assert supervisors.live(registry)[0].folder_exists is False
    supervisors.unregister(path)
    assert supervisors.live(registry) == []


def test_stale_and_unreadable_entries_are_dropped(tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    registry.mkdir(mode=0o700)
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = int(done.stdout)  # a process that has ended
    mine = supervisors.start_ticks(os.getpid())
    assert mine is not None
    entries = {
        "dead": {"pid": dead, "start_ticks": 1},
        "recycled": {"pid": os.getpid(), "start_ticks": mine + 1},  # our pid, another start
    }
    for name, fields in entries.items():
        data = {
            "execution_id": name,
            "home": "/h",
            "run_dir": "/h/r",
            "control": "/h/c",
            "started_at": 0.0,
            **fields,
        }
        (registry / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")
    (registry / "garbled.json").write_text("{not json", encoding="utf-8")
    assert supervisors.live(registry) == []
    assert list(registry.iterdir()) == [], "stale entries were kept"


def test_listing_creates_no_registry(tmp_path: Path) -> None:
    assert supervisors.live(tmp_path / "reg") == []
    assert not (tmp_path / "reg").exists()


def test_a_registry_others_may_write_to_is_refused(tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    registry.mkdir()
    registry.chmod(0o777)
    with pytest.raises(ShipyardError, match="may be written by other users") as err:
        supervisors.live(registry)
    assert err.value.hint == f"chmod 700 {registry}"
