"""Files kept by their content: ``ROOT/sha256/<digest>`` (issue 15 §4, the model registry).

A file is copied once while its SHA-256 is computed (1 MiB at a time: memory does not grow
with its size) into a temporary file beside its place, then renamed there — unless a blob of
that digest is already there, when the copy is dropped: the same content is stored once.
Blobs are read-only (0444): a deploy step that opened one for writing would change every
version holding it.

A folder is stored as its files' blobs plus a *manifest* (a JSON list of each file's relative
path, digest and size, in path order), itself a blob; the folder's digest is the manifest's.
Its files are then laid out again as hard links to their blobs under ``ROOT/trees/<digest>``
(no second copy), the folder a deploy step is given. Empty folders and symbolic links to
folders are not kept; a symbolic link to a file is stored as that file's content.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import ShipyardError, from_os_error

__all__ = ["CHUNK", "Stored", "blob_path", "put", "tree_path"]

#: Bytes read and hashed at a time.
CHUNK = 1 << 20
MANIFEST_FORMAT = "shipyard-folder-manifest/1"


@dataclass(frozen=True, slots=True)
class Stored:
    digest: str
    kind: str  # "file" or "folder"
    size: int
    files: int
    path: Path  # the blob (a file) or the laid-out tree (a folder)
    new: bool  # False: the same content was stored already


def blob_path(root: Path, digest: str) -> Path:
    return root / "sha256" / digest


def tree_path(root: Path, digest: str) -> Path:
    return root / "trees" / digest


def put(root: Path, source: Path) -> Stored:
    """Store ``source`` (a file or a folder) under ``root``."""
    if source.is_file():
        digest, size, new = _put_file(root, source)
        return Stored(digest, "file", size, 1, blob_path(root, digest), new)
    if source.is_dir():
        return _put_folder(root, source)
    if source.exists() or source.is_symlink():
        raise ShipyardError(
            f"{source} is neither a file nor a folder",
            hint="register a model's file or the folder holding its files",
        )
    raise ShipyardError(f"{source} does not exist", hint="give the path of the model's file")


def _put_file(root: Path, source: Path) -> tuple[str, int, bool]:
    folder = root / "sha256"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=folder, prefix=".incoming-")
        temporary = Path(name)
        hasher = hashlib.sha256()
        size = 0
        try:
            with open(source, "rb") as reading, os.fdopen(handle, "wb") as writing:
                while chunk := reading.read(CHUNK):
                    hasher.update(chunk)
                    writing.write(chunk)
                    size += len(chunk)
                writing.flush()
                os.fsync(writing.fileno())
            digest = hasher.hexdigest()
            target = blob_path(root, digest)
            if target.exists():
                temporary.unlink()
                return digest, size, False
            temporary.chmod(0o444)
            temporary.replace(target)
            return digest, size, True
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
    except OSError as error:
        raise from_os_error(error, "store the model file", source) from None


def _put_folder(root: Path, source: Path) -> Stored:
    entries = []
    new_any = False
    total = 0
    for path in _files(source):
        digest, size, new = _put_file(root, path)
        new_any = new_any or new
        total += size
        entries.append(
            {"path": path.relative_to(source).as_posix(), "sha256": digest, "size": size}
        )
    if not entries:
        raise ShipyardError(
            f"the folder {source} holds no files", hint="register a folder with the model's files"
        )
    manifest = json.dumps(
        {"format": MANIFEST_FORMAT, "files": entries}, sort_keys=True, separators=(",", ":")
    ).encode()
    digest = hashlib.sha256(manifest).hexdigest()
    target = blob_path(root, digest)
    if not target.exists():
        new_any = True
        _write_blob(target, manifest)
    tree = tree_path(root, digest)
    if not tree.exists():
        _lay_out(root, tree, entries)
    return Stored(digest, "folder", total, len(entries), tree, new_any)


def _files(source: Path) -> list[Path]:
    """Every file under ``source``, in path order (symbolic links to folders not followed)."""
    found: list[Path] = []
    try:
        for folder, _, names in os.walk(source, onerror=_raise):
            for name in names:
                path = Path(folder) / name
                if path.is_file():
                    found.append(path)
    except OSError as error:
        raise from_os_error(error, "read the model folder", source) from None
    return sorted(found, key=lambda path: path.relative_to(source).as_posix())


def _raise(error: OSError) -> None:
    raise error


def _write_blob(target: Path, content: bytes) -> None:
    try:
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        temporary = Path(name)
        with os.fdopen(handle, "wb") as writing:
            writing.write(content)
        temporary.chmod(0o444)
        temporary.replace(target)
    except OSError as error:
        raise from_os_error(error, "store the folder's manifest", target) from None


def _lay_out(root: Path, tree: Path, entries: list[dict[str, object]]) -> None:
    """The folder again, its files hard links to their blobs, made aside and renamed into
    place (a second registration of the same folder at the same time finds it whole)."""
    try:
        tree.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(dir=tree.parent, prefix=".incoming-"))
        for entry in entries:
            target = building / str(entry["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            blob = blob_path(root, str(entry["sha256"]))
            try:
                os.link(blob, target)
            except OSError:  # a file system without hard links: a copy
                shutil.copyfile(blob, target)
        try:
            building.rename(tree)
        except OSError:
            if not tree.exists():
                raise
            shutil.rmtree(building, ignore_errors=True)  # laid out meanwhile by another
    except OSError as error:
        raise from_os_error(error, "lay out the model folder", tree) from None
