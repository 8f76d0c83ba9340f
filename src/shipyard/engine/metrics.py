"""Figures a step reports: JSON lines appended to ``$SHIPYARD_METRICS``, read at its end.

Each step attempt is given ``SHIPYARD_METRICS=<run dir>/metrics/<step>.<attempt>.jsonl``; a
step that has figures appends lines like ``{"name": "bw_mib", "value": 812.5, "unit":
"MiB/s"}``. The engine looks at the file once, when the attempt has ended, and only if it is
there (most steps write none: the common case costs one ``access`` call). What it reads is
bounded — :data:`MAX_BYTES` of the file, :data:`MAX_METRICS` figures — because the file is the
step's to write and the engine reads it on its event loop.

:func:`parse_line` decides one line (pure, table-tested): a figure, nothing (a blank line), or
why the line is refused — never an exception, whatever the line holds.
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass, field

from shipyard.models import Metric

#: Bytes of a metrics file read at most; what lies beyond is not read (and says so).
MAX_BYTES = 1024 * 1024
#: Figures kept per attempt at most.
MAX_METRICS = 1000
#: Longest name and unit label (characters): they are shown in tables.
MAX_NAME = 200
MAX_LABEL = 40

#: The folder of the run directory the files live in.
FOLDER = "metrics"


def file_name(unit: str, attempt: int) -> str:
    """``<step>.<attempt>.jsonl``: a step's name holds no '/' (NAME_PATTERN); it may hold a
    '.', so :func:`parse_name` reads the attempt from the right."""
    return f"{unit}.{attempt}.jsonl"


def parse_name(name: str) -> tuple[str, int] | None:
    """(step, attempt) of a metrics file's name, or None for a name that is not one."""
    stem, dot, suffix = name.rpartition(".")
    unit, _, number = stem.rpartition(".")
    if not dot or suffix != "jsonl" or not unit or not number.isdigit():
        return None
    return unit, int(number)


Figure = tuple[str, float, str | None]


def parse_line(raw: bytes) -> Figure | str | None:
    """One line of a metrics file: (name, value, unit label), or None for a blank line, or
    the reason the line is refused."""
    text = raw.strip()
    if not text:
        return None
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):  # not JSON (or not UTF-8), or nested without end
        return "not a JSON object"
    if not isinstance(record, dict):
        return "not a JSON object"
    name = record.get("name")
    if not isinstance(name, str) or not name.strip():
        return 'no "name" (a non-empty string)'
    if len(name) > MAX_NAME or not name.isprintable():
        return f'"name" must be printable and at most {MAX_NAME} characters'
    value = _number(record.get("value"))
    if value is None:
        return f'"value" of {name!r} is not a finite number'
    label = record.get("unit")
    if label is not None and (
        not isinstance(label, str) or len(label) > MAX_LABEL or not label.isprintable()
    ):
        return f'"unit" of {name!r} must be a printable string of at most {MAX_LABEL} characters'
    return name, value, label or None


def _number(value: object) -> float | None:
    # bool is an int in Python, not a figure; a huge int has no float (OverflowError).
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


@dataclass
class Reading:
    """What one attempt's metrics file gave: its figures, and what was passed over."""

    metrics: list[Metric] = field(default_factory=list)
    bad_lines: int = 0
    first_bad: tuple[int, str] | None = None  # (line number, why) of the first refused line
    cut: str | None = None  # why reading stopped before the end of the file, if it did

    def refuse(self, number: int, reason: str) -> None:
        self.bad_lines += 1
        if self.first_bad is None:
            self.first_bad = (number, reason)


def parse(data: bytes, unit: str, attempt: int, *, complete: bool = True) -> Reading:
    """The figures in ``data`` (the file's first bytes; ``complete``: the whole file), in the
    order they were written (pure)."""
    reading = Reading()
    lines = data.split(b"\n")
    if not complete and len(lines) > 1:
        lines.pop()  # cut at the byte limit: the last line is a part of one
    for number, raw in enumerate(lines, start=1):
        parsed = parse_line(raw)
        if parsed is None:
            continue
        if isinstance(parsed, str):
            reading.refuse(number, parsed)
            continue
        if len(reading.metrics) >= MAX_METRICS:
            reading.cut = f"only the first {MAX_METRICS} figures are kept"
            break
        name, value, label = parsed
        reading.metrics.append(Metric(unit, attempt, name, value, label))
    if not complete and reading.cut is None:
        reading.cut = f"only the first {MAX_BYTES // 1024} KiB of the file were read"
    return reading


def read(path: str, unit: str, attempt: int) -> Reading | None:
    """The figures of one attempt's metrics file, or None when there is none.

    Most steps write none: that case is one ``access`` call (~1 µs; a failed ``open`` with its
    exception costs ~3). The file is opened without following a link and without blocking (a
    FIFO planted there must not hang the engine); anything but a regular file is refused."""
    if not os.access(path, os.F_OK):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        return Reading(cut=f"the file could not be opened: {error.strerror}")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return Reading(cut="it is not a regular file")
        data = os.read(fd, MAX_BYTES + 1) if info.st_size else b""
    except OSError as error:
        return Reading(cut=f"the file could not be read: {error.strerror}")
    finally:
        os.close(fd)
    complete = len(data) <= MAX_BYTES
    return parse(data[:MAX_BYTES], unit, attempt, complete=complete)


__all__ = [
    "FOLDER",
    "MAX_BYTES",
    "MAX_METRICS",
    "Reading",
    "file_name",
    "parse",
    "parse_line",
    "parse_name",
    "read",
]
