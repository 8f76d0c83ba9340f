"""The registry of this user's supervisors (shipyard.supervisors) and a run folder's watch
(issue 11, item 5): the pure decisions as tables, the registry's files in a temp folder."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
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
    ("links", "gone"),
    [
        (2, False),  # there (or renamed, or moved with its working folder)
        (7, False),  # with subfolders
        (0, True),  # removed
    ],
)
def test_a_run_folder_is_gone_once_removed_not_when_moved(links: int, gone: bool) -> None:
    assert folder_gone(links) is gone


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


class _Stops:
    """What the watch asks of the executor (the one call it makes), kept to look at."""

    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.asked = asyncio.Event()

    def request_stop(self, reason: str = "", *, force: bool = False) -> None:
        self.reasons.append(reason)
        self.asked.set()

    def stop_gracefully(self, reason: str, *, grace: float) -> None:
        raise AssertionError("the watch stops as down does, not gracefully")


def test_the_watch_stops_a_run_whose_folder_is_removed_not_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard import supervisor
    from shipyard.workspace import RunDir

    monkeypatch.setattr(supervisor, "FOLDER_CHECK_INTERVAL", 0.01)
    root = tmp_path / "work" / ".shipyard" / "runs" / "exec_x"
    root.mkdir(parents=True)
    stops = _Stops()

    async def scenario() -> None:
        with supervisor._watching(RunDir(root), stops):
            (tmp_path / "work").rename(tmp_path / "moved")  # moved: it runs on
            await asyncio.sleep(0.3)  # thirty looks at the folder
            assert stops.reasons == [], "a moved run folder was taken for deleted"
            shutil.rmtree(tmp_path / "moved")
            await asyncio.wait_for(stops.asked.wait(), 30)
        assert len(stops.reasons) == 1 and "was deleted" in stops.reasons[0]

    asyncio.run(scenario())
