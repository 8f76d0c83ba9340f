"""Declared paths at run time: symlinks resolved, nothing outside the step's workdir touched.

The spec and the plan refuse declared paths that are absolute or climb out with ``..``
(``spec/pathchecks.py``), but only the file system knows where a symlink leads, and a step can
make one while it runs. So before Shipyard hashes an input, copies an output or a checkpoint
file, the path — and every link met inside a folder — is resolved; anything that lands outside
the step's real workdir is refused before a byte is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from shipyard.errors import OutsideWorkdir
from shipyard.workspace import is_shipyard_home


def _refuse(declared: str, reached: str, real: Path, root: Path) -> OutsideWorkdir:
    via = "" if reached == declared else f" (through {reached})"
    return OutsideWorkdir(
        f"'{declared}'{via} resolves to {real}, outside the step's workdir {root}",
        hint="declared paths and the links inside them must stay inside the step's workdir",
    )


def resolve(workdir: str | Path, declared: str) -> Path:
    """The real path of ``declared`` under ``workdir``; OutsideWorkdir if it lies outside."""
    root = Path(workdir).resolve()
    real = (root / declared).resolve()
    if not real.is_relative_to(root):
        raise _refuse(declared, declared, real, root)
    return real


def confined_files(workdir: str | Path, declared: str) -> list[tuple[str, Path]]:
    """Every regular file of ``declared`` (a file, or a folder walked with its links followed)
    as (path relative to ``declared``, "" for a file; path to read it by).

    Raises OSError (FileNotFoundError) when ``declared`` does not exist, OutsideWorkdir when it or
    any link met on the way resolves outside ``workdir``: nothing is read then. Only stats are
    taken, and links alone are resolved (a plain entry of a confined folder is confined)."""
    root = Path(workdir).resolve()
    real = resolve(root, declared)
    mode = real.stat().st_mode  # FileNotFoundError: not there (a dangling link included)
    if stat.S_ISREG(mode):
        return [("", real)]
    if not stat.S_ISDIR(mode):
        return []  # a FIFO or socket: nothing to copy, and opening a FIFO would block
    files: list[tuple[str, Path]] = []
    seen = {real}
    for folder, folders, names in os.walk(real, followlinks=True):
        here = Path(folder)
        for name in list(folders):
            target = _checked(here / name, real, root, declared)
            if target in seen or is_shipyard_home(target):
                # A link back into the tree: walked already (or a loop). A Shipyard home (the
                # run's own, when a step declares its whole workdir): copying it into the run's
                # artifacts would copy every earlier run into each new one.
                folders.remove(name)
            seen.add(target)
        for name in names:
            path = here / name
            _checked(path, real, root, declared)
            try:
                regular = stat.S_ISREG(path.stat().st_mode)
            except OSError:
                continue  # a dangling link inside: nothing to copy
            if regular:
                files.append((str(path.relative_to(real)), path))
    return files


def _checked(path: Path, top: Path, root: Path, declared: str) -> Path:
    """``path``'s real location (a plain entry is where it is); OutsideWorkdir if a link leads
    out of ``root``."""
    if not path.is_symlink():
        return path
    target = path.resolve()
    if not target.is_relative_to(root):
        raise _refuse(declared, str(Path(declared) / path.relative_to(top)), target, root)
    return target


def refused(workdir: str | Path, declared: list[str], what: str) -> str | None:
    """Why the step must not run or succeed: the first of ``declared`` that leads outside
    ``workdir``, as a sentence naming it; None when all are confined (or simply missing)."""
    for path in declared:
        try:
            confined_files(workdir, path)
        except OutsideWorkdir as error:
            return f"declared {what} {error.message}: refused"
        except OSError:
            continue  # missing (or unreadable): hashed as such, as before
    return None


__all__ = ["confined_files", "refused", "resolve"]
