"""The model registry over a real SQLite store and real files (issue 15 §4): registrations at
the same time get distinct versions, the content store keeps each content once and read-only,
a folder is laid out again from its blobs, and a refused change leaves the store as it was.
Under SHIPYARD_WIRE_CHECK=1 every call also crosses JSON both ways."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

import shipyard
from shipyard import blobstore
from shipyard.mlregistry import ModelError, Stage


def test_registrations_at_the_same_time_get_distinct_versions(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shipyard.connect(home).close()
    files = []
    for index in range(6):
        path = tmp_path / f"m{index}.bin"
        path.write_bytes(f"model {index % 3}".encode())  # three contents, each twice
        files.append(path)
    numbers: list[int] = []
    failures: list[BaseException] = []

    def register(path: Path) -> None:
        ops = shipyard.connect(home)
        try:
            numbers.append(ops.model_register("clf", str(path)).version)
        except BaseException as error:  # reported on the test's thread
            failures.append(error)
        finally:
            ops.close()

    threads = [threading.Thread(target=register, args=(path,)) for path in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert sorted(numbers) == [1, 2, 3, 4, 5, 6]
    blobs = sorted(p.name for p in (home / "models" / "sha256").iterdir())
    assert len(blobs) == 3, blobs  # each content once, no temporary file left
    ops = shipyard.connect(home)
    try:
        versions = ops.model_show("clf").versions
        assert {v.digest for v in versions} == set(blobs)
        assert [e.action for e in ops.model_show("clf").events] == ["register"] * 6
    finally:
        ops.close()


def test_blobs_are_read_only_and_a_folder_is_laid_out_from_them(tmp_path: Path) -> None:
    source = tmp_path / "bundle"
    (source / "deep" / "er").mkdir(parents=True)
    (source / "empty").mkdir()
    (source / "deep" / "er" / "w.bin").write_bytes(os.urandom(3 * blobstore.CHUNK + 17))
    (source / "a.txt").write_text("a")
    (source / "link.txt").symlink_to(source / "a.txt")  # a link to a file: its content
    root = tmp_path / "models"
    stored = blobstore.put(root, source)
    assert (stored.kind, stored.files) == ("folder", 3)
    assert stored.size == 3 * blobstore.CHUNK + 17 + 2
    tree = stored.path
    assert sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file()) == [
        "a.txt",
        "deep/er/w.bin",
        "link.txt",
    ]
    assert not (tree / "empty").exists()
    assert (tree / "deep" / "er" / "w.bin").read_bytes() == (source / "deep/er/w.bin").read_bytes()
    assert not (tree / "link.txt").is_symlink() and (tree / "link.txt").read_text() == "a"
    for blob in (root / "sha256").iterdir():
        assert stat.S_IMODE(blob.stat().st_mode) == 0o444, blob
    # the same folder again: the same digest, nothing new
    again = blobstore.put(root, source)
    assert (again.digest, again.new) == (stored.digest, False)
    # one byte changed: another digest, and only that file's blob is new
    before = {p.name for p in (root / "sha256").iterdir()}
    (source / "a.txt").write_text("b")
    changed = blobstore.put(root, source)
    assert changed.digest != stored.digest
    assert len({p.name for p in (root / "sha256").iterdir()} - before) == 2  # b, manifest


def test_a_refused_change_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "m.bin").write_bytes(b"m")
    ops = shipyard.connect(tmp_path / "home")
    try:
        ops.model_register("clf", str(tmp_path / "m.bin"))
        ops.model_register("clf", str(tmp_path / "m.bin"))
        ops.model_promote("clf", 2)
        before = ops.model_show("clf")
        with pytest.raises(ModelError, match="already in production"):
            ops.model_promote("clf", 2)
        with pytest.raises(ModelError, match="had no version in production before version 2"):
            ops.model_rollback("clf")
        assert ops.model_show("clf") == before
        ops.model_rollback("clf", version=1)
        after = ops.model_show("clf")
        assert [v.stage for v in after.versions] == [Stage.PRODUCTION, Stage.ARCHIVED]
        assert len(after.events) == len(before.events) + 2
    finally:
        ops.close()


def test_reading_an_empty_home_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ops = shipyard.connect(home)
    try:
        assert ops.model_list() == []
        with pytest.raises(ModelError, match="no model named 'clf'"):
            ops.model_show("clf")
    finally:
        ops.close()
    assert not home.exists()
