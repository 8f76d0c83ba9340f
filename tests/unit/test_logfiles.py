"""Log files read in bounded memory: tails from the end, long lines cut, rotation followed."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from shipyard import logfiles
from shipyard.api import LogLine
from shipyard.cli.plain import log_line_json
from shipyard.logfiles import CUT_NOTE, MAX_LINE_BYTES, Follower, read_all, rotate_if_due, tail

CONTENTS = {
    "empty": b"",
    "one line": b"only\n",
    "no trailing newline": b"a\nbb\nccc",
    "blank lines": b"\n\nx\n\n",
    "just a newline": b"\n",
    "crlf": b"one\r\ntwo\r\nthree\r\n",
    "invalid utf-8": b"ok\n\xff\xfebad\nend\n",
    "many": b"".join(f"line {i:03d} {'x' * (i % 17)}\n".encode() for i in range(200)),
}
EXPECTED = {
    "empty": [],
    "one line": ["only"],
    "no trailing newline": ["a", "bb", "ccc"],
    "blank lines": ["", "", "x", ""],
    "just a newline": [""],
    "crlf": ["one", "two", "three"],
    "invalid utf-8": ["ok", "\ufffd\ufffdbad", "end"],
}


def _write(tmp_path: Path, data: bytes, name: str = "unit.log") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_full_read(tmp_path: Path, case: str) -> None:
    assert list(read_all(_write(tmp_path, CONTENTS[case]))) == EXPECTED[case]


@pytest.mark.parametrize("block", [1, 2, 5, 64 * 1024])
@pytest.mark.parametrize("count", [1, 2, 3, 7, 500])
@pytest.mark.parametrize("case", sorted(CONTENTS))
def test_tail_across_block_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, count: int, block: int
) -> None:
    """The tail found by scanning blocks backwards equals the end of a full read, whatever
    the block size (lines straddle blocks when it is small)."""
    path = _write(tmp_path, CONTENTS[case])
    every = list(read_all(path))
    monkeypatch.setattr(logfiles, "BLOCK", block)
    assert list(tail(path, count)) == every[-count:]


def test_a_missing_log_is_empty(tmp_path: Path) -> None:
    assert list(read_all(tmp_path / "never.log")) == []
    assert list(tail(tmp_path / "never.log", 3)) == []


def test_a_huge_line_is_cut_and_says_so(tmp_path: Path) -> None:
    path = _write(tmp_path, b"before\n" + b"y" * (3 * MAX_LINE_BYTES) + b"\nafter\n")
    lines = list(read_all(path))
    assert lines == ["before", "y" * MAX_LINE_BYTES + CUT_NOTE, "after"]
    assert list(tail(path, 2)) == lines[1:]


def test_a_huge_last_line_without_newline_is_cut(tmp_path: Path) -> None:
    path = _write(tmp_path, b"z" * (MAX_LINE_BYTES + 1))
    assert list(read_all(path)) == ["z" * MAX_LINE_BYTES + CUT_NOTE]


def test_a_line_of_exactly_the_limit_is_whole(tmp_path: Path) -> None:
    path = _write(tmp_path, b"w" * MAX_LINE_BYTES + b"\n")
    assert list(read_all(path)) == ["w" * MAX_LINE_BYTES]


def test_a_cut_never_splits_a_character(tmp_path: Path) -> None:
    """A cut at the byte limit that falls inside a UTF-8 character leaves the character out
    rather than printing a replacement character."""
    text = "é" * MAX_LINE_BYTES  # 2 bytes each: the limit falls between two characters
    path = _write(tmp_path, b"x" + text.encode() + b"\n")  # … or, shifted by one, inside one
    (line,) = read_all(path)
    assert line.endswith(CUT_NOTE)
    assert "\ufffd" not in line
    assert line.removesuffix(CUT_NOTE) == "x" + "é" * ((MAX_LINE_BYTES - 1) // 2)


@pytest.mark.parametrize("reader", ["full", "tail"])
def test_memory_stays_bounded_for_a_single_huge_line(tmp_path: Path, reader: str) -> None:
    size = 32 * 1024 * 1024
    path = tmp_path / "huge.log"
    with path.open("wb") as handle:
        for _ in range(size // (1024 * 1024)):
            handle.write(b"h" * (1024 * 1024))
        handle.write(b"\nlast\n")
    tracemalloc.start()
    try:
        lines = list(read_all(path)) if reader == "full" else list(tail(path, 2))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == ["h" * MAX_LINE_BYTES + CUT_NOTE, "last"]
    assert peak < 2 * 1024 * 1024, f"reading a {size}-byte line took {peak} bytes at its peak"


def test_tail_reads_only_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--tail's cost follows what it prints: the bytes read for the last two lines of a large
    file are a few blocks, not the file."""
    path = _write(tmp_path, b"".join(b"%08d\n" % i for i in range(400_000)))  # 3.6 MB
    read = 0
    real_open = Path.open

    class Counting:
        def __init__(self, handle: object) -> None:
            self._handle = handle

        def __getattr__(self, name: str) -> object:
            return getattr(self._handle, name)

        def __enter__(self) -> Counting:
            return self

        def __exit__(self, *_: object) -> None:
            self._handle.close()  # type: ignore[attr-defined]

        def read(self, size: int = -1) -> bytes:
            nonlocal read
            data: bytes = self._handle.read(size)  # type: ignore[attr-defined]
            read += len(data)
            return data

        def readline(self, size: int = -1) -> bytes:
            nonlocal read
            data: bytes = self._handle.readline(size)  # type: ignore[attr-defined]
            read += len(data)
            return data

    monkeypatch.setattr(Path, "open", lambda self, *a, **k: Counting(real_open(self, *a, **k)))
    assert list(tail(path, 2)) == ["00399998", "00399999"]
    assert read <= 2 * logfiles.BLOCK, f"tail read {read} bytes of a {path.stat().st_size}"


# -- rotation ---------------------------------------------------------------------------------


def test_rotation_keeps_the_newest_copies(tmp_path: Path) -> None:
    path = tmp_path / "unit.log"
    for round_ in range(4):
        with path.open("ab") as handle:
            handle.write(b"".join(b"r%d-%d\n" % (round_, i) for i in range(30)))
        assert rotate_if_due(path, max_size=100, keep=2)
    assert not rotate_if_due(path, max_size=100, keep=2)  # the live file is empty now
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["unit.log", "unit.log.1", "unit.log.2"]
    assert path.stat().st_size == 0
    kept = list(read_all(path))
    assert (kept[0], kept[-1], len(kept)) == ("r2-0", "r3-29", 60)  # the oldest copy first
    assert list(tail(path, 31)) == ["r2-29"] + [f"r3-{i}" for i in range(30)]


def test_no_rotation_at_or_below_the_limit(tmp_path: Path) -> None:
    path = _write(tmp_path, b"x" * 100)
    assert not rotate_if_due(path, max_size=100, keep=3)
    assert not rotate_if_due(tmp_path / "missing.log", max_size=1, keep=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unit.log"]


def test_keep_zero_truncates(tmp_path: Path) -> None:
    path = _write(tmp_path, b"a\n" * 100)
    assert rotate_if_due(path, max_size=10, keep=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unit.log"]
    assert path.stat().st_size == 0


def test_a_writer_with_o_append_continues_at_the_start(tmp_path: Path) -> None:
    """The unit's descriptor is O_APPEND (as spawn opens it): after the truncate its next
    write lands at offset 0, not after a hole of zeros."""
    import os

    path = tmp_path / "unit.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, b"first\n" * 50)
        assert rotate_if_due(path, max_size=10, keep=1)
        os.write(fd, b"second\n")
    finally:
        os.close(fd)
    assert path.read_bytes() == b"second\n"
    assert (tmp_path / "unit.log.1").read_bytes() == b"first\n" * 50


@pytest.mark.parametrize("keep", [1, 2])  # keep 1: the new copy may take the old one's inode
def test_the_follower_misses_and_repeats_nothing_across_rotations(
    tmp_path: Path, keep: int
) -> None:
    path = tmp_path / "unit.log"
    path.touch()
    follower = Follower(path)
    seen: list[str] = []
    written: list[str] = []
    for round_ in range(6):
        lines = [f"{round_}-{i}" for i in range(5)]
        with path.open("ab") as handle:
            handle.write("".join(f"{line}\n" for line in lines[:3]).encode())
            handle.write(b"partial")  # an unfinished line is not given out yet
        seen += follower.poll()
        with path.open("ab") as handle:
            handle.write(b"-done\n" + "".join(f"{line}\n" for line in lines[3:]).encode())
        written += [*lines[:3], "partial-done", *lines[3:]]
        if round_ % 2:
            assert rotate_if_due(path, max_size=10, keep=keep)
        seen += follower.poll()
    assert seen == written


def test_the_follower_after_a_truncation_without_copy(tmp_path: Path) -> None:
    path = _write(tmp_path, b"one\ntwo\n")
    follower = Follower(path)
    assert list(follower.poll()) == ["one", "two"]
    rotate_if_due(path, max_size=1, keep=0)
    with path.open("ab") as handle:
        handle.write(b"three\n")
    assert list(follower.poll()) == ["three"]


def test_the_follower_waits_while_a_rotation_is_under_way(tmp_path: Path) -> None:
    path = _write(tmp_path, b"one\n")
    follower = Follower(path)
    assert list(follower.poll()) == ["one"]
    (tmp_path / "unit.log.1.part").write_bytes(b"one\ntwo\n")
    path.write_bytes(b"")  # truncated, the copy not renamed yet
    assert list(follower.poll()) == []
    (tmp_path / "unit.log.1.part").replace(tmp_path / "unit.log.1")
    assert list(follower.poll()) == ["two"]


def test_final_poll_gives_an_unfinished_last_line(tmp_path: Path) -> None:
    path = _write(tmp_path, b"done\nno newline")
    follower = Follower(path)
    assert list(follower.poll()) == ["done"]
    assert list(follower.poll(final=True)) == ["no newline"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"", 0), (b"a\n", 2), (b"a\nbc", 2), (b"abc", 0), (b"a\n\n", 3)],
)
def test_complete_size(tmp_path: Path, data: bytes, expected: int) -> None:
    assert logfiles.complete_size(_write(tmp_path, data)) == expected


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (b"abc", b"abc"),
        (b"a\xc3", b"a"),  # é cut after its first byte
        (b"a\xc3\xa9", b"a\xc3\xa9"),
        (b"a\xe2\x82", b"a"),  # € cut after two of its three bytes
        (b"\xe2\x82\xac", b"\xe2\x82\xac"),
        (b"x\xf0\x9f\x9a", b"x"),  # a four-byte character cut after three
        (b"\xf0\x9f\x9a\x80", b"\xf0\x9f\x9a\x80"),
        (b"\x80\x80\x80\x80", b"\x80\x80\x80\x80"),  # not UTF-8 at all: left to the decoder
        (b"", b""),
    ],
)
def test_whole_characters(raw: bytes, kept: bytes) -> None:
    assert logfiles._whole_characters(raw) == kept


@pytest.mark.parametrize(
    "line",
    [
        LogLine("a", 1, "plain"),
        LogLine("web-1", None, 'quote " backslash \\ tab \t'),
        LogLine("u", 7, "é ✓ \x00 \x1b[31m \ufffd"),
        LogLine("u", 0, ""),
    ],
)
def test_a_json_log_line_is_what_json_dumps_writes(line: LogLine) -> None:
    as_dict = {"unit": line.unit, "number": line.number, "text": line.text}
    assert log_line_json(line) == json.dumps(as_dict)


def test_a_new_copy_never_takes_the_previous_copys_inode(tmp_path: Path) -> None:
    """With keep 1 the previous copy is deleted by the rotation: were it deleted before the new
    copy is made, the file system could give the new copy its inode number, and a follower
    would not see the rotation (same size and a coarse mtime cannot tell them apart)."""
    path = tmp_path / "unit.log"
    previous = None
    for _ in range(20):
        path.write_bytes(b"same size\n" * 10)
        assert rotate_if_due(path, max_size=10, keep=1)
        inode = (tmp_path / "unit.log.1").stat().st_ino
        assert inode != previous, "the new copy reused the previous copy's inode"
        previous = inode
