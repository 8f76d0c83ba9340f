"""The attempt journal (``runs/<id>/attempts.log``): every attempt of a step, where the death of
the process running the execution cannot lose it.

The store gets an attempt's start and end in batches (one transaction per scheduling turn at
most, see :class:`shipyard.engine.recorder.Recorder`), so a supervisor killed with SIGKILL can
take the last ones with it. This file is written at once, unbuffered, by one ``write`` per line
(no fsync: it must survive our death, not the machine's, like the spawn journal):

- ``start``, *before* the attempt's process is spawned — an attempt number handed to a process
  is never handed out again, even if we die the instant after the spawn;
- ``end``, as soon as the outcome is decided, before anything else happens because of it: the
  state, exit status, reason and, for a success, the cache key that lets ``resume`` keep it.

Each line is a JSON array. :func:`fold` reads them back (pure): the last word on every attempt,
and which ones began but were never seen to end (their outcome is unknown: the supervisor died).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.jsonlines import read_json_lines
from shipyard.models import UnitState

#: The reason of an attempt that began while its supervisor was alive and was never seen to end.
OUTCOME_UNKNOWN = "outcome unknown: supervisor died"


def start_line(unit: str, attempt: int, at: float) -> bytes:
    return (json.dumps(["start", unit, attempt, at]) + "\n").encode()


@dataclass(frozen=True, slots=True)
class Ending:
    """How one attempt ended, as the engine decided it."""

    state: UnitState
    started_at: float
    ended_at: float
    exit_code: int | None
    signal: str | None
    pid: int | None
    reason: str | None
    cache_key: str | None
    retrying: bool


def end_line(unit: str, attempt: int, ending: Ending) -> bytes:
    fields = [
        "end",
        unit,
        attempt,
        ending.state.value,
        ending.started_at,
        ending.ended_at,
        ending.exit_code,
        ending.signal,
        ending.pid,
        ending.reason,
        ending.cache_key,
        ending.retrying,
    ]
    return (json.dumps(fields) + "\n").encode()


@dataclass
class Noted:
    """One attempt as the journal knows it: it began at ``began``; ``ending`` None means it was
    never seen to end."""

    unit: str
    number: int
    began: float | None
    ending: Ending | None = None


def _ending(fields: list[Any]) -> Ending:
    state, started, ended, code, signal, pid, reason, key, retrying = fields[3:12]
    return Ending(
        state=UnitState(state),
        started_at=float(started),
        ended_at=float(ended),
        exit_code=code if isinstance(code, int) else None,
        signal=signal if isinstance(signal, str) else None,
        pid=pid if isinstance(pid, int) else None,
        reason=reason if isinstance(reason, str) else None,
        cache_key=key if isinstance(key, str) else None,
        retrying=bool(retrying),
    )


def fold(lines: Iterable[list[Any]]) -> dict[tuple[str, int], Noted]:
    """Journal lines (oldest first) to every attempt noted, by (unit, number). A line that is
    malformed (a write cut short by a full disk) is passed over."""
    noted: dict[tuple[str, int], Noted] = {}
    for fields in lines:
        with contextlib.suppress(ValueError, TypeError, IndexError):
            kind, unit, number = fields[0], str(fields[1]), int(fields[2])
            if kind == "start":
                noted.setdefault((unit, number), Noted(unit, number, float(fields[3])))
            elif kind == "end":
                entry = noted.setdefault((unit, number), Noted(unit, number, None))
                entry.ending = _ending(fields)
    return noted


def latest(noted: dict[tuple[str, int], Noted]) -> dict[str, Noted]:
    """Each unit's attempt with the highest number."""
    last: dict[str, Noted] = {}
    for (unit, number), entry in noted.items():
        if unit not in last or number > last[unit].number:
            last[unit] = entry
    return last


def read(path: Path) -> Iterator[list[Any]]:
    """The journal's lines, each a JSON array; missing file: none."""
    return read_json_lines(path, list)
