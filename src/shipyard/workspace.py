"""Where Shipyard keeps things on disk: the state database and one folder per execution.

$SHIPYARD_HOME (default ./.shipyard)
  state.db
  runs/<execution-id>/
    spec.yaml        the spec as it was run
    plan.json        the resolved plan
    events.jsonl     the engine's structured event log
    logs/<unit>.log  stdout and stderr of each unit
    artifacts/       files steps declare as outputs
    tmp/             TMPDIR of every unit; removed at the end except in debug mode
    control.sock     the running supervisor's control socket (owner-only)
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

HOME_VARIABLE = "SHIPYARD_HOME"


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

    def create(self) -> None:
        for folder in (self.logs, self.artifacts, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class Workspace:
    home: Path

    @classmethod
    def default(cls) -> Workspace:
        return cls(default_home())

    @property
    def state_db(self) -> Path:
        return self.home / "state.db"

    @property
    def trash(self) -> Path:
        """Where `clean` moves things, per execution, until `clean --purge`."""
        return self.home / "trash"

    @property
    def plan_cache(self) -> Path:
        return self.home / "cache" / "plans"

    def run_dir(self, execution_id: str) -> RunDir:
        return RunDir(self.home / "runs" / execution_id)
