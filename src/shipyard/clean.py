"""Cleaning run directories: what each level removes, a trash to undo it, and a purge.

Everything here stays inside the run directory it was given. The tree is walked without
following symbolic links (a link is moved as the link itself, never its target), and every
candidate's real parent folder is checked to lie inside the run directory before it is touched.
Nothing is deleted by ``clean`` itself: items are moved (a rename, same file system) to
``$SHIPYARD_HOME/trash/<execution-id>/<batch>/`` and ``undo`` moves them back; only ``purge``
deletes, and only inside the trash.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

Level = Literal["minimal", "standard", "deep", "complete"]
LEVELS: tuple[Level, ...] = ("minimal", "standard", "deep", "complete")

SCRATCH = ("tmp", "scratch")


def candidates(
    run_root: Path,
    level: Level,
    *,
    protected: Iterable[str] = (),
    preserve_logs: bool = False,
) -> list[Path]:
    """What ``level`` removes from ``run_root`` (paths inside it), biggest units first.

    minimal: scratch folders (tmp/, scratch/). standard: + files in artifacts/ that are not
    declared outputs (``protected``, relative to artifacts/). deep: + logs and the metrics
    files steps wrote (unless preserved; the figures stay in the store) and checkpoints.
    complete: everything in the run directory.
    """
    root = run_root.resolve()
    if level == "complete":
        return [entry for entry in sorted(root.iterdir())]
    chosen = [root / name for name in SCRATCH if (root / name).exists()]
    if level in ("standard", "deep"):
        chosen += list(_unprotected(root / "artifacts", [Path(p) for p in protected]))
    if level == "deep":
        if not preserve_logs:
            told = (root / "logs", root / "events.jsonl", root / "metrics")
            chosen += [p for p in told if _exists(p)]
        chosen += [p for p in (root / "checkpoints",) if _exists(p)]
    return [path for path in chosen if inside(root, path)]


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def _unprotected(artifacts: Path, protected: list[Path]) -> Iterator[Path]:
    """Files and links under artifacts/ outside every protected path (no link is followed)."""
    if not artifacts.is_dir() or artifacts.is_symlink():
        return
    for folder, subfolders, files in os.walk(artifacts, followlinks=False):
        base = Path(folder)
        names = files + [name for name in subfolders if (base / name).is_symlink()]
        for name in sorted(names):
            path = base / name
            relative = path.relative_to(artifacts)
            if not any(_within(relative, keep) for keep in protected):
                yield path


def _within(path: Path, container: Path) -> bool:
    return path == container or container in path.parents


def inside(root: Path, path: Path) -> bool:
    """Is ``path`` (as a name, not following it if it is a link) inside ``root``?"""
    parent = Path(os.path.realpath(path.parent))
    return parent == root or root in parent.parents


def size_of(path: Path) -> int:
    """Bytes of a file, or of everything under a folder; links count as themselves."""
    if path.is_symlink() or not path.is_dir():
        try:
            return path.lstat().st_size
        except FileNotFoundError:
            return 0
    total = 0
    for folder, _, files in os.walk(path, followlinks=False):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += (Path(folder) / name).lstat().st_size
    return total


def move_to_trash(run_root: Path, items: list[Path], trash: Path) -> Path:
    """Move ``items`` (inside ``run_root``) into a new batch folder of ``trash``; returns it."""
    root = run_root.resolve()
    batch = trash / time.strftime("%Y%m%d_%H%M%S") / str(time.monotonic_ns())
    for item in items:
        if not inside(root, item):
            raise ValueError(f"{item} is not inside {root}")
        target = batch / "files" / item.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        item.rename(target)  # same file system: the trash lives in SHIPYARD_HOME
    return batch


def restore(batch: Path, run_root: Path) -> list[Path]:
    """Move a batch's files back to where they were; returns what was restored."""
    files = batch / "files"
    restored = []
    if files.is_dir():
        for entry in sorted(files.rglob("*")):
            if entry.is_dir() and not entry.is_symlink():
                continue
            relative = entry.relative_to(files)
            target = run_root / relative
            if os.path.lexists(target):
                raise FileExistsError(f"{target} exists again; move it away to undo")
            target.parent.mkdir(parents=True, exist_ok=True)
            entry.rename(target)
            restored.append(target)
    shutil.rmtree(batch)
    return restored


def purge(trash: Path) -> int:
    """Delete everything in the trash; returns the bytes freed."""
    if not trash.is_dir():
        return 0
    freed = size_of(trash)
    shutil.rmtree(trash)
    return freed
