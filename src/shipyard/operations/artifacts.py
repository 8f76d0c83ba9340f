"""Artifacts between steps and quality gates for LocalOperations (issue 15 §1-2): listing what
a step's outputs left (path, size, SHA-256), reading one of those files out in chunks, and
passing a failed gate on purpose.

The decisions — which path is inside a step's artifacts folder, whether a unit can be approved
— are pure functions here, table-tested; the class performs them.
"""

from __future__ import annotations

import base64
import getpass
import os
import posixpath
import shutil
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from shipyard.errors import ShipyardError
from shipyard.models import Artifact, ArtifactChunk, Event, ExecutionStatus, GateApproval, UnitState
from shipyard.operations.core import Core

if TYPE_CHECKING:
    from shipyard.store.base import Store
    from shipyard.workspace import Workspace

#: Bytes of an artifact sent in one chunk (base64 on the wire: a third more).
CHUNK = 256 * 1024
#: The longest reason an approval keeps (characters).
MAX_REASON = 2000


def path_problem(path: str) -> str | None:
    """Why ``path`` may not name a file of a step's artifacts folder (it must stay inside
    it), or None: empty, absolute, or leading out through ``..``."""
    if not path or not path.strip():
        return "is empty"
    if "\0" in path:
        return "holds a NUL byte"
    if path.startswith("/"):
        return "is absolute"
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        return "leads out of the step's artifacts folder"
    if normal == ".":
        return "names the folder itself, not a file"
    return None


def approval_problem(status: ExecutionStatus, step: str) -> ShipyardError | None:
    """Why ``step`` of ``status`` cannot have its gate approved now, or None."""
    names = [unit.name for unit in status.units if unit.kind == "step"]
    if step not in names:
        return ShipyardError(
            f"execution {status.id} has no step '{step}'",
            hint=f"its steps are: {', '.join(names) or 'none'}",
        )
    if not status.state.finished:
        return ShipyardError(
            f"execution {status.id} is still {status.state.value}",
            hint="approve a gate once the execution has ended (wait for it, or stop it), then "
            f"shipyard resume {status.id}",
        )
    unit = status.unit(step)
    if unit.state != UnitState.GATED:
        return ShipyardError(
            f"step '{step}' of {status.id} is {unit.state.value}, not gated: there is no "
            "failed gate to approve",
            hint="shipyard status shows which step is gated",
        )
    return None


def approver(given: str | None) -> str:
    """Who approves: the name given, else $USER (or $LOGNAME), else the account's name,
    else 'unknown'."""
    for name in (given, os.environ.get("USER"), os.environ.get("LOGNAME")):
        if name and name.strip():
            return name.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (a bare container)
        return "unknown"


class ArtifactOperations:
    """The artifacts and gates part of LocalOperations."""

    def artifacts(self: Core, execution_id: str, step: str | None = None) -> list[Artifact]:
        status = self.status(execution_id)
        if step is not None:
            _check_step(status, step)
        return self.store.artifacts(status.id, step)

    def artifact_read(
        self: Core, execution_id: str, step: str, artifact: str
    ) -> Iterator[ArtifactChunk]:
        # Not named ``path``: the remote client makes arguments of that name absolute paths
        # of this machine, and an artifact's path is relative to its step's folder.
        status = self.status(execution_id)
        _check_step(status, step)
        folder = self.workspace.run_dir(status.id).artifacts / step
        file = _artifact_file(folder, step, artifact)
        # Opened now, so a refusal comes before the first chunk; read as it is sent.
        handle = file.open("rb")
        return _chunks(handle)

    def gate_approve(
        self: Core,
        execution_id: str,
        step: str,
        *,
        reason: str,
        approved_by: str | None = None,
    ) -> GateApproval:
        status = self.status(execution_id)
        problem = approval_problem(status, step)
        if problem is not None:
            raise problem
        why = reason.strip()
        if not why:
            raise ShipyardError(
                "an approval needs a reason", hint='say why: --reason "reviewed: 0.83 is fine"'
            )
        who = approver(approved_by)
        failed = status.unit(step).reason or ""
        now = self.clock.now()
        approval = GateApproval(
            unit=step,
            approved_by=who,
            reason=why[:MAX_REASON],
            at=datetime.fromtimestamp(now, UTC),
            gates=[part for part in failed.split("; ") if part],
        )
        note = f"gate approved by {who}: {approval.reason}"
        data: dict[str, object] = {"by": who, "reason": approval.reason, "gates": approval.gates}
        # The journal first (flushed to disk), then the store: what the user is told was
        # approved survives a store rebuild, and a journal that cannot be written approves
        # nothing. (A refusal just below leaves a line for a step no longer gated: its replay
        # makes it succeeded, as the approval that beat this one did.)
        _journal(self.workspace.run_dir(status.id).events, now, status.id, step, data)
        if not self.store.approve_gate(status.id, step, approval, reason=note):
            raise ShipyardError(f"step '{step}' of {status.id} is no longer gated")
        with self.store.transaction():
            self.store.append_events([Event(now, status.id, "gate_approved", step, data)])
        return approval


def carry_artifacts(
    store: Store, workspace: Workspace, source: str, target: str, steps: Iterable[str], at: float
) -> None:
    """The artifacts of ``steps`` (kept from execution ``source`` by ``run --resume-from`` or a
    checkpoint restore: they will not run again) copied into ``target``'s run folder, with
    their records, so the steps that need them are handed the same files. Independent copies:
    a step writing into its input must not change the earlier run's record."""
    source_dir = workspace.run_dir(source).artifacts
    target_dir = workspace.run_dir(target).artifacts
    for step in steps:
        recorded = store.artifacts(source, step)
        folder = source_dir / step
        if not recorded or not folder.is_dir():
            continue
        shutil.copytree(folder, target_dir / step, symlinks=True, dirs_exist_ok=True)
        with store.transaction():
            store.save_artifacts(target, step, recorded, recorded_at=at)


def _check_step(status: ExecutionStatus, step: str) -> None:
    names = [unit.name for unit in status.units if unit.kind == "step"]
    if step not in names:
        raise ShipyardError(
            f"execution {status.id} has no step '{step}'",
            hint=f"its steps are: {', '.join(names) or 'none'}",
        )


def _artifact_file(folder: Path, step: str, path: str) -> Path:
    problem = path_problem(path)
    if problem is not None:
        raise ShipyardError(
            f"artifact path '{path}' {problem}: refused",
            hint=f"name a file inside the artifacts of '{step}', as `shipyard artifacts` lists "
            "them (relative, no '..' leading out)",
        )
    file = folder / posixpath.normpath(path)
    # A link inside the folder that leads out of it is refused too: only the folder's files.
    try:
        real = file.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise ShipyardError(
            f"step '{step}' has no artifact '{path}'",
            hint="`shipyard artifacts EXEC STEP` lists the files it left",
        ) from None
    if not real.is_relative_to(folder.resolve()):
        raise ShipyardError(
            f"artifact path '{path}' leads out of the step's artifacts folder: refused",
            hint="name a file inside it, as `shipyard artifacts` lists them",
        )
    if not real.is_file():
        raise ShipyardError(
            f"artifact '{path}' of step '{step}' is a folder, not a file",
            hint="`shipyard artifacts EXEC STEP` lists the files inside it",
        )
    return real


def _chunks(handle: BinaryIO) -> Iterator[ArtifactChunk]:
    """The file in order, one chunk in memory at a time (and the next, to mark the last)."""
    with handle:
        offset = 0
        chunk = handle.read(CHUNK)
        while True:
            following = handle.read(CHUNK) if chunk else b""
            yield ArtifactChunk(offset, base64.b64encode(chunk).decode("ascii"), not following)
            if not following:
                return
            offset += len(chunk)
            chunk = following


def _journal(path: Path, at: float, execution_id: str, step: str, data: dict[str, object]) -> None:
    """The approval in the run's events.jsonl too: what a rebuilt store is made from."""
    import json

    line = json.dumps({"ts": at, "action": "gate_approved", "unit": step, **data})
    try:
        with path.open("a", encoding="utf-8") as journal:
            journal.write(line + "\n")
            journal.flush()
            os.fsync(journal.fileno())
    except OSError as error:
        raise ShipyardError(
            f"cannot write the approval into {path}: {error.strerror or error}; nothing was "
            "approved",
            hint="free space or fix the run folder's permissions, then approve again",
        ) from None


__all__ = [
    "ArtifactChunk",
    "ArtifactOperations",
    "approval_problem",
    "approver",
    "carry_artifacts",
    "path_problem",
]
