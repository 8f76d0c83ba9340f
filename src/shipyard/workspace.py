"""Where Shipyard keeps things on disk: the state database and one folder per execution.

$SHIPYARD_HOME (default ./.shipyard), owner-only: folders 0700, files 0600
  state.db
  runs/<execution-id>/
    spec.yaml        the spec as it was run
    plan.json        the resolved plan
    events.jsonl     the engine's structured event log
    spawns.log       every process started (pid, start time, unit), written at once
    attempts.log     every step attempt's start and end, written at once
    logs/<unit>.log  stdout and stderr of each unit
    metrics/<step>.<attempt>.jsonl  figures a step attempt reported ($SHIPYARD_METRICS)
    artifacts/       files steps declare as outputs
    tmp/             TMPDIR of every unit; removed at the end except in debug mode
    control.sock     the running supervisor's control socket (owner-only)
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

HOME_VARIABLE = "SHIPYARD_HOME"

#: Modes of everything Shipyard creates in its home: parameter values, logs and the state of
#: every run are the user's alone. Given explicitly at creation (never by changing the umask,
#: which the units inherit: their own files keep the user's umask).
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_TOP_FOLDERS = ("runs", "cache", "trash")
_DB_FILES = ("state.db", "state.db-wal", "state.db-shm")


def private_dir(path: Path) -> None:
    """``mkdir -p`` whose last folder is owner-only (its parents are created as usual)."""
    try:
        path.mkdir(mode=PRIVATE_DIR)
    except FileExistsError:
        return
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    # mkdir's mode passes through the umask, which only removes bits; an odd umask (0o277)
    # could leave it unusable, so the mode is set outright.
    path.chmod(PRIVATE_DIR)


def open_private(path: str | Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_APPEND) -> int:
    """``os.open`` creating the file owner-only (an existing file keeps its mode)."""
    return os.open(path, flags | os.O_CLOEXEC, PRIVATE_FILE)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, owner-only, whatever mode an earlier version of it had."""
    fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(fd, PRIVATE_FILE)
        handle.write(text)


def secure_home(home: Path) -> str | None:
    """Create the home owner-only, or tighten one that group or others can enter.

    A fresh home gets its top folders (runs/, cache/, trash/) owner-only at once. An existing
    one that is open to others (made by an older Shipyard, or by hand) is closed: the home, its
    top folders and the state database are set owner-only, and a note saying so is returned
    (once: the next call finds it closed). One stat when the home is already private.
    """
    try:
        info = home.stat()
    except FileNotFoundError:
        with contextlib.suppress(OSError):  # the store says why it cannot be created
            private_dir(home)
            for name in _TOP_FOLDERS:
                private_dir(home / name)
        return None
    mode = info.st_mode & 0o777
    if not stat.S_ISDIR(info.st_mode):
        return None
    if not mode & 0o077:
        # A home made by hand (or by an older Shipyard) may lack its top folders; made later
        # by a plain mkdir -p they would be open to others, against what docs/security.md says.
        with contextlib.suppress(OSError):
            for name in _TOP_FOLDERS:
                private_dir(home / name)
        return None
    try:
        home.chmod(PRIVATE_DIR)
        for name in _TOP_FOLDERS:
            private_dir(home / name)
            (home / name).chmod(PRIVATE_DIR)
        for name in _DB_FILES:
            with contextlib.suppress(FileNotFoundError):
                (home / name).chmod(PRIVATE_FILE)
    except OSError as error:
        return (
            f"{home} is open to other users (mode {mode:04o}) and could not be made "
            f"owner-only ({error.strerror}); it holds parameter values and logs: "
            f"chmod 700 {home}"
        )
    return (
        f"{home} was open to other users (mode {mode:04o}); it holds parameter values and "
        f"logs, so it is now owner-only ({PRIVATE_DIR:04o})"
    )


def is_shipyard_home(folder: Path) -> bool:
    """Whether ``folder`` holds a Shipyard home's state (its database and run folders); walks
    of declared folders leave such a folder out."""
    return (folder / "state.db").is_file() and (folder / "runs").is_dir()


def default_home() -> Path:
    configured = os.environ.get(HOME_VARIABLE)
    return Path(configured).expanduser().resolve() if configured else Path.cwd() / ".shipyard"


def confined_path(declared: str) -> str:
    """A user-given relative path made safe to use under a folder of ours (artifacts/<step>/,
    a checkpoint): any '..' becomes a plain '_up_' folder and a leading '/' is dropped, so
    nothing can land outside."""
    parts = [("_up_" if part == ".." else part) for part in Path(declared).parts if part != "/"]
    return str(Path(*parts)) if parts else "_"


def new_execution_id(name: str, now: datetime) -> str:
    """``exec_<name>_<yyyymmdd_hhmmss>_<4 hex>``: sortable by time, readable, unique enough."""
    import secrets  # here: its hmac and hashlib cost `status` ~5 ms it never uses

    safe = re.sub(r"[^A-Za-z0-9_-]", "-", name)
    return f"exec_{safe}_{now.strftime('%Y%m%d_%H%M%S')}_{secrets.token_hex(2)}"


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def metrics(self) -> Path:
        """Where step attempts write the figures they report (``$SHIPYARD_METRICS``)."""
        return self.root / "metrics"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def spawns(self) -> Path:
        """One line per process started (``pid start-time unit``), written at once, unbatched:
        if the process running the execution dies, this is how its children are found."""
        return self.root / "spawns.log"

    @property
    def attempts(self) -> Path:
        """The attempt journal: each step attempt's start (before its spawn) and end, written
        at once, unbatched (see :mod:`shipyard.engine.attemptlog`)."""
        return self.root / "attempts.log"

    @property
    def control(self) -> Path:
        """The control socket of the process running the execution, while it runs."""
        return self.root / "control.sock"

    def started(self) -> list[tuple[int, float, str]]:
        """The spawn journal: (pid, start time, unit) of every process started, oldest first."""
        try:
            text = self.spawns.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        entries = []
        for line in text.splitlines():
            pid, started, unit = line.split(" ", 2)
            entries.append((int(pid), float(started), unit))
        return entries

    def log_for(self, unit: str) -> Path:
        return self.logs / f"{unit}.log"

    def log_paths(self, units: Iterable[str]) -> list[str]:
        """``str(log_for(unit))`` for each unit, joined as strings: pathlib's ``/`` cost ~0.1 ms
        a unit, twice per unit of every run (a unit's name holds no '/': NAME_PATTERN)."""
        folder = str(self.logs)
        return [os.path.join(folder, f"{unit}.log") for unit in units]  # noqa: PTH118

    def create(self) -> None:
        private_dir(self.root)
        for folder in (self.logs, self.artifacts, self.tmp):
            private_dir(folder)


@dataclass(frozen=True)
class Workspace:
    home: Path

    @classmethod
    def default(cls) -> Workspace:
        return cls(default_home())

    @property
    def state_db(self) -> Path:
        return self.home / "state.db"

    def has_state(self) -> bool:
        """Whether there is any state here to read: a store, or run folders and pipeline
        copies to rebuild one from. Read-only commands in a folder without state answer "no
        executions" and create nothing."""
        if self.state_db.exists():
            return True
        for folder in ("runs", "pipelines"):
            try:
                if any((self.home / folder).iterdir()):
                    return True
            except OSError:  # missing (or not a folder): nothing to rebuild from
                continue
        return False

    @property
    def trash(self) -> Path:
        """Where `clean` moves things, per execution, until `clean --purge`."""
        return self.home / "trash"

    @property
    def plan_cache(self) -> Path:
        return self.home / "cache" / "plans"

    def run_dir(self, execution_id: str) -> RunDir:
        return RunDir(self.home / "runs" / execution_id)
