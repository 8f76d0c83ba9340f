"""Checkpoints: a recorded, restorable point of an execution.

A checkpoint keeps the state of every unit and a copy of the files each running step declares
under ``checkpoint.paths`` — after asking the step to write them (its ``checkpoint.signal``) and
waiting for its ``ready_file``. Files are copied, not hard-linked: a step that rewrites its state
file in place would otherwise change the checkpoint under it. Every file's sha256 is recorded, so
a damaged checkpoint is refused at restore instead of silently restarting from bad state.

Layout: ``runs/<id>/checkpoints/ckpt-0001/{manifest.json, <step>/<path>…}``. The manifest is
written last, atomically: a checkpoint without one was interrupted and does not exist.
The id a user sees is ``<execution-id>/ckpt-0001``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal as signals
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipyard.confinement import confined_files, resolve
from shipyard.engine.cachekey import file_sha256
from shipyard.errors import OutsideWorkdir, ShipyardError
from shipyard.plan.model import Plan
from shipyard.workspace import RunDir, confined_path

PREFIX = "ckpt-"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    id: str  # <execution-id>/ckpt-0001
    execution_id: str
    created_at: datetime  # ISO 8601 in --json and over the wire, like every other record
    reason: str  # "requested" or "automatic"
    units: dict[str, str]  # unit → state at that moment
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # step → {path: sha256}
    bytes: int = 0


def split_id(checkpoint_id: str) -> tuple[str, str]:
    execution_id, sep, name = checkpoint_id.rpartition("/")
    if not sep or not name.startswith(PREFIX) or not execution_id:
        raise ShipyardError(
            f"'{checkpoint_id}' is not a checkpoint id",
            hint="ids look like exec_name_20261122_101500_ab12/ckpt-0001 (see checkpoint list)",
        )
    return execution_id, name


def create(
    run_dir: RunDir,
    plan: Plan,
    execution_id: str,
    *,
    states: Mapping[str, str],
    running: Mapping[str, int],
    reason: str,
) -> Checkpoint:
    """Take a checkpoint. ``states``: every unit's state; ``running``: step → its PID."""
    folder = run_dir.root / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    number = 1 + max((_number(p.name) for p in folder.glob(f"{PREFIX}*")), default=0)
    name = f"{PREFIX}{number:04d}"
    partial = folder / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    files: dict[str, dict[str, str]] = {}
    size = 0
    for step in plan.steps:
        if step.name not in running or step.checkpoint is None:
            continue
        settings = step.checkpoint
        workdir = Path(step.workdir)
        _refuse_outside(step.name, workdir, settings.paths, settings.ready_file)
        if settings.signal:
            _ask_to_write(
                running[step.name],
                settings.signal,
                settings.ready_file,
                workdir,
                settings.timeout,
                step.name,
                [workdir / path for path in settings.paths],
            )
        files[step.name], copied = _copy_files(
            partial / step.name, step.name, workdir, settings.paths
        )
        size += copied
    checkpoint = Checkpoint(
        id=f"{execution_id}/{name}",
        execution_id=execution_id,
        created_at=datetime.fromtimestamp(time.time(), UTC),
        reason=reason,
        units=dict(states),
        files=files,
        bytes=size,
    )
    manifest = partial / "manifest.json"
    manifest.write_text(json.dumps(_to_dict(checkpoint), indent=2), encoding="utf-8")
    partial.rename(folder / name)
    if plan.keep_checkpoints:
        prune(run_dir, keep=plan.keep_checkpoints)
    return checkpoint


def _ask_to_write(
    pid: int,
    signal_name: str,
    ready_file: str | None,
    workdir: Path,
    timeout: float,
    step: str,
    paths: list[Path],
) -> None:
    """Signal the step, then wait: for its ready file if it has one (an error past the timeout),
    else until one of its declared files changes (or the timeout passes: they are taken as they
    are, since a step may have had nothing new to write)."""
    ready = workdir / ready_file if ready_file else None
    if ready is not None:
        with contextlib.suppress(FileNotFoundError):
            ready.unlink()
    before = {path: _mtime(path) for path in paths}
    number = getattr(signals, f"SIG{signal_name}")
    if pid <= 0:  # a Slurm job (pid 0): not a local process, never signalled as one
        raise ShipyardError(
            f"step '{step}' does not run on this machine (a Slurm job): not signalled, "
            "no checkpoint taken",
            hint="drop checkpoint.signal from steps with runner: slurm (their files are "
            "still copied)",
        )
    if catches_signal(pid, number) is False:
        # Every signal a checkpoint may use ends a process that does not catch it: sent before
        # the step has set up its handler (a Python program that is still starting), it would
        # kill the run it was meant to save.
        raise ShipyardError(
            f"step '{step}' does not handle SIG{signal_name} (yet): not signalled, "
            "no checkpoint taken",
            hint="a step that is still starting gets the next automatic checkpoint; otherwise "
            "check that it installs a handler for the signal (a shell wrapper that does not "
            "exec its program would be killed by it)",
        )
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        return  # it just ended: its files are as it left them
    deadline = time.monotonic() + timeout
    if ready is None:
        while all(_mtime(path) == before[path] for path in paths):
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        return
    while not ready.exists():
        if time.monotonic() > deadline:
            raise ShipyardError(
                f"step '{step}' did not write {ready_file} within {timeout:g}s of SIG{signal_name}",
                hint="raise checkpoint.timeout, or check that the step handles the signal",
            )
        time.sleep(0.05)


def catches_signal(pid: int, number: int) -> bool | None:
    """Whether process ``pid`` has a handler installed for signal ``number`` (the SigCgt mask
    of /proc/<pid>/status); None where the system does not say."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (number - 1) & 1)
    except (OSError, ValueError):
        return None
    return None


def _refuse_outside(step: str, workdir: Path, paths: list[str], ready_file: str | None) -> None:
    """Before the step is signalled or its ready file removed: every declared path (links
    resolved) lies inside its workdir, or the checkpoint is refused."""
    try:
        for declared in [*paths, *([ready_file] if ready_file else [])]:
            resolve(workdir, declared)
    except OutsideWorkdir as error:
        raise _refused(step, error) from None


def _refused(step: str, error: OutsideWorkdir) -> OutsideWorkdir:
    return OutsideWorkdir(f"checkpoint refused: step '{step}': {error.message}", hint=error.hint)


def _copy_files(
    target: Path, step: str, workdir: Path, paths: list[str]
) -> tuple[dict[str, str], int]:
    """Copy the step's declared files into ``target``: {path: sha256} and the bytes copied.
    Links are followed only while they stay inside the workdir (checked again: the step may
    have made one since); a missing path is skipped (the step restarts from scratch)."""
    files: dict[str, str] = {}
    size = 0
    for declared in paths:
        try:
            found = confined_files(workdir, declared)
        except OutsideWorkdir as error:
            raise _refused(step, error) from None
        except FileNotFoundError:
            continue
        for relative, source in found:
            name = confined_path(str(Path(declared) / relative) if relative else declared)
            copy = target / name
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)
            files[name] = file_sha256(copy)
            size += copy.stat().st_size
    return files, size


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _number(name: str) -> int:
    try:
        return int(name.removeprefix(PREFIX))
    except ValueError:
        return 0


def _to_dict(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "id": checkpoint.id,
        "execution_id": checkpoint.execution_id,
        # The manifest keeps seconds since the epoch: manifests written before stay readable.
        "created_at": checkpoint.created_at.timestamp(),
        "reason": checkpoint.reason,
        "units": checkpoint.units,
        "files": checkpoint.files,
        "bytes": checkpoint.bytes,
    }


def load(run_dir: RunDir, name: str) -> Checkpoint:
    manifest = run_dir.root / "checkpoints" / name / "manifest.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ShipyardError(
            f"no checkpoint {name} in {run_dir.root.name}",
            hint=f"shipyard checkpoint list {run_dir.root.name}",
        ) from None
    except ValueError:
        raise ShipyardError(f"checkpoint {name} has a damaged manifest ({manifest})") from None
    return _from_dict(data, manifest)


def _from_dict(data: dict[str, Any], manifest: Path) -> Checkpoint:
    created = data.get("created_at")
    try:
        if isinstance(created, bool) or not isinstance(created, int | float):
            raise ValueError(created)
        when = datetime.fromtimestamp(created, UTC)
    except (ValueError, OverflowError, OSError):
        raise ShipyardError(f"checkpoint manifest {manifest} has no valid created_at") from None
    return Checkpoint(**(data | {"created_at": when}))


def listing(run_dir: RunDir) -> list[Checkpoint]:
    folder = run_dir.root / "checkpoints"
    if not folder.is_dir():
        return []
    names = sorted(p.name for p in folder.glob(f"{PREFIX}*") if (p / "manifest.json").exists())
    return [load(run_dir, name) for name in names]


def verify(run_dir: RunDir, checkpoint: Checkpoint) -> Path:
    """The checkpoint's folder, once every file matches its recorded checksum."""
    folder = run_dir.root / "checkpoints" / checkpoint.id.rpartition("/")[2]
    for step, files in checkpoint.files.items():
        for relative, expected in files.items():
            path = folder / step / relative
            if not path.is_file():
                raise ShipyardError(
                    f"checkpoint {checkpoint.id} is incomplete: {step}/{relative} is missing",
                    hint="restore an earlier checkpoint (shipyard checkpoint list)",
                )
            if file_sha256(path) != expected:
                raise ShipyardError(
                    f"checkpoint {checkpoint.id} is corrupted: {step}/{relative} does not match "
                    "its checksum",
                    hint="restore an earlier checkpoint (shipyard checkpoint list)",
                )
    return folder


def prune(run_dir: RunDir, *, keep: int) -> list[str]:
    """Remove the oldest checkpoints beyond ``keep``; returns their names."""
    folder = run_dir.root / "checkpoints"
    names = sorted(p.name for p in folder.glob(f"{PREFIX}*") if (p / "manifest.json").exists())
    removed = names[:-keep] if len(names) > keep else []
    for name in removed:
        shutil.rmtree(folder / name)
    return removed
