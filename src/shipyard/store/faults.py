"""SQLite's errors, translated once, here, into the ShipyardErrors a user can act on.

Every statement of :class:`shipyard.store.sqlite.SQLiteStore` goes through :class:`Guarded`, so
a full disk, a read-only folder or a damaged file reaches a front end as a ``DiskFull``,
``NotWritable`` or ``StoreCorrupt`` naming the database — never as ``sqlite3.OperationalError``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shipyard.errors import (
    MachineFault,
    ShipyardError,
    StoreCorrupt,
    StoreError,
    machine_fault,
)

# SQLite's primary result codes (the low byte of an extended code).
SQLITE_PERM = 3
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26

HEADER = b"SQLite format 3\x00"
_ENOSPC, _EROFS, _EACCES = 28, 30, 13


def primary_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_corruption(error: sqlite3.Error) -> bool:
    return primary_code(error) in (SQLITE_CORRUPT, SQLITE_NOTADB)


def translate(error: sqlite3.Error, path: Path) -> ShipyardError:
    """What happened to the database at ``path``, and what to do about it."""
    code = primary_code(error)
    if code == SQLITE_FULL:
        return machine_fault(_ENOSPC, "write the state database", path, str(error))
    if code in (SQLITE_READONLY, SQLITE_PERM):
        return machine_fault(_EROFS, "write the state database", path, str(error))
    if code == SQLITE_CANTOPEN:
        return machine_fault(_EACCES, "open the state database", path, str(error))
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return StoreCorrupt(
            f"the state database {path} is damaged ({error})",
            hint="`shipyard store rebuild` moves it aside and rebuilds the records from the "
            "run folders (runs/); `shipyard store check` only looks",
        )
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return StoreError(
            f"the state database {path} stayed locked by another process ({error})",
            hint="another Shipyard command holds it: wait for it and try again",
        )
    if code == SQLITE_IOERR:
        return MachineFault(
            f"the state database {path} could not be read or written: {error}",
            hint="check the disk (dmesg may say more); a full disk can show up this way too",
        )
    return StoreError(f"the state database {path} failed: {error}")


class _Rows:
    """A cursor whose fetches translate errors too (a damaged page can surface mid-fetch)."""

    __slots__ = ("_cursor", "_path")

    def __init__(self, cursor: sqlite3.Cursor, path: Path) -> None:
        self._cursor = cursor
        self._path = path

    def fetchone(self) -> Any:
        try:
            return self._cursor.fetchone()
        except sqlite3.Error as error:
            raise translate(error, self._path) from None

    def fetchall(self) -> list[Any]:
        try:
            return self._cursor.fetchall()
        except sqlite3.Error as error:
            raise translate(error, self._path) from None


class Guarded:
    """An SQLite connection whose every error is translated (see the module's text)."""

    __slots__ = ("path", "raw")

    def __init__(self, raw: sqlite3.Connection, path: Path) -> None:
        self.raw = raw
        self.path = path

    def execute(self, sql: str, args: Iterable[Any] = ()) -> _Rows:
        try:
            return _Rows(self.raw.execute(sql, tuple(args)), self.path)
        except sqlite3.Error as error:
            raise translate(error, self.path) from None

    def executemany(self, sql: str, rows: Iterable[Any]) -> None:
        try:
            self.raw.executemany(sql, rows)
        except sqlite3.Error as error:
            raise translate(error, self.path) from None

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    def close(self) -> None:
        self.raw.close()


def looks_like_sqlite(path: Path) -> bool:
    """The file starts with SQLite's 16-byte header (an empty file does not)."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(HEADER)) == HEADER
    except OSError:
        return False


def quick_check(path: Path) -> str | None:
    """None if SQLite's ``PRAGMA quick_check`` passes on ``path``, else what it says is wrong.
    Opened read-only: a check never writes."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        return str(error)
    try:
        rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as error:
        return str(error)
    finally:
        db.close()
    found = [str(row[0]) for row in rows]
    return None if found == ["ok"] else "; ".join(found[:5])
