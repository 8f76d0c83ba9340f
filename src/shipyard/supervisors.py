"""This user's live supervisors on this machine, found without knowing where they run.

Every process that drives an execution (a detached supervisor, or a foreground `run`/`up`)
writes one small file into a per-user registry while it runs — its pid and the kernel's start
time of that pid, the execution, its home and run folder, its control socket — and removes it
at its end. ``shipyard ps --all`` lists the entries whose process still runs, so a fleet
started in another folder, or one whose folder was deleted with its control socket, is found.

The registry is a folder of this user only (0700, owned by us, refused otherwise):
``$SHIPYARD_SUPERVISORS_DIR``, else ``$XDG_RUNTIME_DIR/shipyard/supervisors`` (the login's
runtime folder, emptied at logout like the processes it lists), else
``$XDG_STATE_HOME/shipyard/supervisors`` (``~/.local/state/…``). Processes of other users are
never looked at. An entry whose process is gone (killed with SIGKILL, the machine rebooted) or
whose pid now belongs to another process (its start time differs) is stale, and dropped when
the registry is read.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from shipyard.errors import ShipyardError

__all__ = ["SupervisorEntry", "is_stale", "live", "register", "registry_dir", "unregister"]


@dataclass(frozen=True, slots=True)
class SupervisorEntry:
    """One live supervisor. ``folder_exists``: whether its run folder is still there (a
    supervisor whose folder was deleted stops its execution on its own, within seconds)."""

    pid: int
    execution_id: str
    home: str
    run_dir: str
    control: str
    started_at: float
    start_ticks: int  # /proc/<pid>/stat's start time: a recycled pid is another process
    folder_exists: bool = True


def registry_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where this user's supervisors are registered (see the module's docstring)."""
    env = os.environ if env is None else env
    chosen = env.get("SHIPYARD_SUPERVISORS_DIR")
    if chosen:
        return Path(chosen)
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_absolute() and _ours(Path(runtime)):
        return Path(runtime) / "shipyard" / "supervisors"
    state = env.get("XDG_STATE_HOME")
    base = Path(state) if state and Path(state).is_absolute() else Path.home() / ".local/state"
    return base / "shipyard" / "supervisors"


def _ours(path: Path) -> bool:
    try:
        info = path.stat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()


def private_dir(
    path: Path,
    what: str = "the supervisor registry",
    variable: str = "SHIPYARD_SUPERVISORS_DIR",
) -> Path:
    """``path`` made (0700) if missing; refused unless it is a folder of ours no one else may
    write into (an entry found there steers `ps --all`, a lock planted among the port claims
    keeps our fleets off a port: nobody else may put one there). ``what`` and ``variable``
    name the folder and what chooses it in the error."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise ShipyardError(
            f"{what} {path} is not a folder of this user",
            hint=f"remove it, or point ${variable} at a folder of yours",
        )
    if info.st_mode & 0o022:
        raise ShipyardError(
            f"{what} {path} may be written by other users (mode {stat.S_IMODE(info.st_mode):04o})",
            hint=f"chmod 700 {path}",
        )
    return path


def start_ticks(pid: int) -> int | None:
    """The start time of process ``pid`` (clock ticks after boot), or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: count after it.
    fields = raw[raw.rindex(b")") + 2 :].split()
    return int(fields[19])  # field 22 of the whole line


def is_stale(recorded_ticks: int, current_ticks: int | None) -> bool:
    """An entry is stale when its process is gone, or its pid is another process's now."""
    return current_ticks is None or current_ticks != recorded_ticks


def register(
    execution_id: str, home: Path, run_dir: Path, control: Path, *, directory: Path | None = None
) -> Path | None:
    """Write this process's entry for ``execution_id``; its path, or None when the registry
    cannot be used (the run goes on without it: this must never stop a run)."""
    pid = os.getpid()
    ticks = start_ticks(pid)
    if ticks is None:
        return None
    entry = SupervisorEntry(
        pid, execution_id, str(home), str(run_dir), str(control), time.time(), ticks
    )
    try:
        folder = private_dir(directory or registry_dir())
        path = folder / f"{pid}-{execution_id}.json"
        partial = path.with_suffix(".part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(entry), handle)
        partial.replace(path)  # a reader sees the whole entry or none
    except (OSError, ShipyardError):
        return None
    return path


def unregister(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()


def live(directory: Path | None = None) -> list[SupervisorEntry]:
    """Every registered supervisor whose process still runs, oldest first; stale entries (and
    unreadable ones) are removed."""
    folder = directory or registry_dir()
    if not folder.exists():
        return []  # nothing ever registered: a read creates nothing
    private_dir(folder)
    found = []
    for path in sorted(folder.glob("*.json")):
        entry = _read(path)
        if entry is None or is_stale(entry.start_ticks, start_ticks(entry.pid)):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        exists = Path(entry.run_dir).is_dir()
        found.append(_with_folder(entry, exists))
    return sorted(found, key=lambda entry: entry.started_at)


def _read(path: Path) -> SupervisorEntry | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return SupervisorEntry(
            pid=int(data["pid"]),
            execution_id=str(data["execution_id"]),
            home=str(data["home"]),
            run_dir=str(data["run_dir"]),
            control=str(data["control"]),
            started_at=float(data["started_at"]),
            start_ticks=int(data["start_ticks"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _with_folder(entry: SupervisorEntry, exists: bool) -> SupervisorEntry:
    from dataclasses import replace

    return replace(entry, folder_exists=exists)
