"""Reading and rotating units' log files in bounded memory.

A unit writes straight into ``logs/<unit>.log`` (its stdout and stderr are that file, opened
``O_APPEND``; Python never copies them). Rotation therefore copies and truncates: the live file
is copied to ``<unit>.log.1`` (older copies move up to ``.2`` … ``.keep``), then truncated to
zero; the unit's next write lands at the new end, offset 0.

Reading never holds more than one block plus one line: lines are read with a bounded
``readline``, a line longer than :data:`MAX_LINE_BYTES` is cut (and says so), and a tail is found
by scanning blocks backwards from the end for line breaks, then reading forward from there.
Lines end at ``\\n``; one ``\\r`` before it is dropped (CRLF); invalid UTF-8 is replaced.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

MAX_LINE_BYTES = 64 * 1024
BLOCK = 64 * 1024
CUT_NOTE = f" … [shipyard: line longer than {MAX_LINE_BYTES} bytes, cut]"


@dataclass
class LineReader:
    """Complete lines of one file from its current offset, in bounded memory.

    ``skipping`` carries a cut line across calls: once a line's first :data:`MAX_LINE_BYTES`
    were given out, the rest of it is dropped up to its line break, even if that comes later.
    """

    limit: int = MAX_LINE_BYTES
    skipping: bool = False

    def lines(self, handle: BinaryIO, *, stop: int | None = None, final: bool) -> Iterator[str]:
        """Lines from ``handle``'s position up to ``stop`` (default: the end of the file).

        ``final``: a last line without a line break is a line (the file is done, or was read up
        to a size seen earlier); otherwise it is left unread for a later call (it is still
        being written). Afterwards the handle is at the offset after the last line given.
        Blocks are split in C: a Python ``readline`` per line is several times slower.
        """
        start = handle.tell()  # the first byte not given out yet: the start of ``carry``
        limit = self.limit
        carry = b""
        while True:
            want = BLOCK if stop is None else min(BLOCK, stop - start - len(carry))
            block = handle.read(want) if want > 0 else b""
            if not block:
                break
            pieces = (carry + block).split(b"\n")
            carry = pieces.pop()
            for piece in pieces:  # the hot loop: no call but the decode for a usual line
                start += len(piece) + 1
                if self.skipping:  # the end of a line already given out cut
                    self.skipping = False
                elif len(piece) > limit:
                    yield self._line(piece)
                else:
                    yield (piece[:-1] if piece.endswith(b"\r") else piece).decode(
                        "utf-8", "replace"
                    )
            if len(carry) > self.limit:  # a long line still going on: give out its start
                if not self.skipping:
                    yield self._line(carry)
                    self.skipping = True
                start += len(carry)
                carry = b""
        if carry and final:
            start += len(carry)
            if not self.skipping:
                yield self._line(carry)
        if final:
            self.skipping = False
        handle.seek(start)

    def _line(self, raw: bytes) -> str:
        if len(raw) > self.limit:
            return decode(_whole_characters(raw[: self.limit])) + CUT_NOTE
        return decode(raw)


def decode(raw: bytes) -> str:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.decode("utf-8", errors="replace")


def _whole_characters(raw: bytes) -> bytes:
    """``raw`` without a UTF-8 character cut in two at its end."""
    lead = len(raw) - 1
    while lead >= 0 and len(raw) - lead < 4 and raw[lead] & 0xC0 == 0x80:
        lead -= 1  # back over continuation bytes to the character's first byte
    if lead < 0:
        return raw
    first = raw[lead]
    length = 4 if first >= 0xF0 else 3 if first >= 0xE0 else 2 if first >= 0xC0 else 1
    return raw if len(raw) - lead >= length else raw[:lead]


def rotated(path: Path, index: int) -> Path:
    return path.with_name(f"{path.name}.{index}")


def unit_files(path: Path) -> list[Path]:
    """A unit's log files, oldest first: ``<unit>.log.K`` … ``<unit>.log.1``, ``<unit>.log``."""
    older = []
    index = 1
    while rotated(path, index).exists():
        older.append(rotated(path, index))
        index += 1
    return [*reversed(older), path]


def read_all(path: Path) -> Iterator[str]:
    """Every kept line of a unit's log, oldest first, across its rotated files."""
    for file in unit_files(path):
        yield from read_file(file)


def read_file(file: Path) -> Iterator[str]:
    """Every line of one file (none when it is missing)."""
    try:
        handle = file.open("rb")
    except FileNotFoundError:
        return
    with handle:
        yield from LineReader().lines(handle, final=True)


def tail(path: Path, count: int, *, stop: int | None = None) -> Iterator[str]:
    """The last ``count`` lines of a unit's log, read from the end (newest file first).

    Reads only the blocks that hold those lines (and the line breaks before them), whatever
    the file's size. Lines written meanwhile are not included: each file is read up to the
    size it had when it was scanned (the live one up to ``stop`` when given).
    """
    starts: list[tuple[Path, int, int]] = []  # (file, first offset, size seen), newest first
    wanted = count
    for file in reversed(unit_files(path)):
        try:
            with file.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if stop is not None and file == path:
                    size = min(size, stop)
                offset, found = start_of_last_lines(handle, size, wanted)
        except FileNotFoundError:
            continue
        starts.append((file, offset, size))
        wanted -= found
        if wanted <= 0:
            break
    for file, offset, size in reversed(starts):
        try:
            handle = file.open("rb")
        except FileNotFoundError:
            continue
        with handle:
            handle.seek(offset)
            yield from LineReader().lines(handle, stop=size, final=True)


def start_of_last_lines(handle: BinaryIO, size: int, count: int) -> tuple[int, int]:
    """(offset where the last ``count`` lines of the first ``size`` bytes begin, how many
    lines there are from there), found by reading blocks backwards."""
    if size == 0 or count <= 0:
        return size, 0
    handle.seek(size - 1)
    end = size - 1 if handle.read(1) == b"\n" else size  # the last line's own break
    found = 0
    position = end
    while position > 0:
        start = max(0, position - BLOCK)
        handle.seek(start)
        block = handle.read(position - start)
        index = len(block)
        while (index := block.rfind(b"\n", 0, index)) >= 0:
            found += 1
            if found == count:
                return start + index + 1, count
        position = start
    return 0, found + 1  # the first line has no break before it


@dataclass
class Follower:
    """New complete lines of a unit's live log since the last call, rotation included.

    A rotation copies the live file to ``.1.part``, truncates it, then renames the copy to
    ``.1``. So, looking after the live file's size: a ``.1.part`` means a rotation is under
    way (look again next time); a new ``.1`` means one happened, and the rest of what was not
    read yet is in it at the same offset; a shorter live file and no new ``.1`` means it was
    truncated without a copy (``keep: 0``).
    """

    path: Path
    position: int = 0
    reader: LineReader = field(default_factory=LineReader)
    rotation: tuple[int, int] | None = None  # identity of .1 when last seen

    def __post_init__(self) -> None:
        self.rotation = _identity(rotated(self.path, 1))

    def poll(self, *, final: bool = False) -> Iterator[str]:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            size = os.fstat(handle.fileno()).st_size
            if _in_progress(self.path).exists():
                return
            now = _identity(rotated(self.path, 1))
            if now != self.rotation:
                self.rotation = now
                yield from self._rest_of_rotated()
                self.position = 0
            elif size < self.position:
                self.position = 0
            handle.seek(self.position)
            yield from self.reader.lines(handle, final=final)
            self.position = handle.tell()

    def _rest_of_rotated(self) -> Iterator[str]:
        try:
            handle = rotated(self.path, 1).open("rb")
        except FileNotFoundError:
            return
        with handle:
            if os.fstat(handle.fileno()).st_size >= self.position:
                handle.seek(self.position)
                yield from self.reader.lines(handle, final=True)
        self.reader.skipping = False


def complete_size(path: Path) -> int:
    """The offset after the last line break of ``path`` (0 when missing): where following it
    starts, so a line being written is not given out in two pieces."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return 0
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return 0
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return size
        offset, _ = start_of_last_lines(handle, size, 1)  # where the unfinished line begins
    return offset


def _in_progress(path: Path) -> Path:
    return path.with_name(f"{path.name}.1.part")


def _identity(path: Path) -> tuple[int, int] | None:
    """Device and inode: a new copy never has the previous one's (see rotate_if_due)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_dev, stat.st_ino)


def rotate_if_due(path: Path, max_size: int, keep: int) -> bool:
    """Rotate ``path`` when it is larger than ``max_size``; True when it was rotated.

    Copy, then truncate: the unit holds the file open with ``O_APPEND``, so after the truncate
    its next write lands at offset 0. What it writes between the end of the copy and the
    truncate is lost; nothing is written twice. The copy goes to a new file, so a reader
    following the log can tell a rotation happened by ``.1``'s inode: the copy is made while
    the previous ``.1`` still exists (older copies move up and the oldest goes only after the
    truncate), so it can never get that inode number back. ``.1.part`` exists from before the
    truncate until the new ``.1`` is in place, so a reader knows to wait meanwhile.
    """
    try:
        if path.stat().st_size <= max_size:
            return False
    except FileNotFoundError:
        return False
    if keep > 0:
        fresh = _in_progress(path)
        private = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC  # owner-only, as the log
        with path.open("rb") as source, open(os.open(fresh, private, 0o600), "wb") as target:
            shutil.copyfileobj(source, target, BLOCK * 16)
            os.truncate(path, 0)  # right after the copy reached the end: the smallest window
        rotated(path, keep).unlink(missing_ok=True)
        for index in range(keep - 1, 0, -1):
            if rotated(path, index).exists():
                rotated(path, index).replace(rotated(path, index + 1))
        fresh.replace(rotated(path, 1))
    else:
        os.truncate(path, 0)
    return True
