"""A step's cache key: what its result depends on.

The hash of its resolved command, its environment as the spec defines it (parameters included),
its working folder, and the content of the files it declares as ``inputs``. Two runs of a step
with the same key are interchangeable, which is what ``resume`` and ``run --resume-from`` rely on.
The machine's own environment is deliberately not part of it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from shipyard.confinement import confined_files
from shipyard.errors import OutsideWorkdir
from shipyard.plan.model import PlannedStep


def content_digest(files: list[tuple[str, Path]]) -> str:
    """sha256 of one file, or of a folder's files (relative names and contents, sorted), as
    :func:`shipyard.confinement.confined_files` lists them: regular files only (a socket or a
    FIFO in an input folder is never opened), links inside it followed, a Shipyard home left
    out; 'missing' for an empty folder or a file that went away while hashed."""
    if not files:
        return "missing"
    try:
        if len(files) == 1 and files[0][0] == "":
            return file_sha256(files[0][1])
        digest = hashlib.sha256()
        for relative, path in sorted(files):
            digest.update(relative.encode() + b"\0")
            digest.update(file_sha256(path).encode())
    except OSError:
        return "missing"
    return "dir:" + digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _confined_digest(workdir: str, declared: str) -> str:
    """content_digest of an input, or 'outside' — unread — when it or a link inside it leads
    out of the workdir (the executor refuses to start such a step)."""
    try:
        files = confined_files(workdir, declared)
    except OutsideWorkdir:
        return "outside"
    except OSError:
        return "missing"
    return content_digest(files)


def step_key(step: PlannedStep) -> str:
    inputs = {}
    if step.inputs:
        inputs = {path: _confined_digest(step.workdir, path) for path in step.inputs}
    material = {
        "argv": step.command.argv,
        "shell": step.command.shell,
        # An entry using a secret counts by its template, never its value: the key is stored,
        # and a hash of a short secret is undone by trying candidates. (Changing only a secret
        # keeps a step's key: resume reuses its result.)
        "env": {**step.env, **step.secret_env} if step.secret_env else step.env,
        "workdir": step.workdir,
        "inputs": inputs,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
