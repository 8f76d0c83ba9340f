"""Log lines placed in time and filtered by level: what ``logs --all``, ``--level`` and
``--since`` read.

A unit's output goes straight from its process into its log file, with no time added (no
Python copies it), so a line's time is what the line itself says, when it says it in a common
format (:mod:`shipyard.loglines`). A line that says none is placed at its unit's previous line's
time, or at the unit's start (its first attempt's) when no earlier line had one. Every time is
kept within the unit's run — not before its start, not after its end, not before the unit's
previous line — so a unit's own lines are never reordered and a time misread (a zone-less time
written in UTC by a program, read here as local time) cannot carry a line outside its run.

The merge is a heap of one line per unit: memory holds one read block per unit being merged,
never a whole log. Units join the heap in the order of their start, when the merge reaches it
(no line of a unit can be placed before its start), so a long run of short steps keeps only
the units whose runs overlap open at once.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shipyard.loglines import RANK, level_of, time_of

#: What the engine writes into a step's log before a retry's output (engine/executor.py).
ATTEMPT_MARKER = "==> shipyard: attempt "

if TYPE_CHECKING:
    from shipyard.api import LogLine
    from shipyard.models import Attempt, ExecutionStatus


@dataclass(frozen=True, slots=True)
class Filters:
    """What a placed line must be to be given out."""

    minimum: int | None = None  # RANK of the lowest level kept; None: every line
    since: float | None = None  # seconds since the epoch; None: from the start
    pattern: re.Pattern[str] | None = None
    #: Place lines in time, read their levels: each costs a few µs a line, so only what the
    #: merge, the filters or the caller (annotate) use is done.
    times: bool = True
    levels: bool = True


@dataclass(slots=True)
class UnitClock:
    """One unit's placing state: the time its next line cannot be before, and the level its
    lines carry on with when they state none."""

    start: float
    end: float | None  # None while the unit runs
    #: When each attempt after the first began, by number: the engine writes a marker line
    #: into the log before a retry's output (``==> shipyard: attempt 2 of 3``).
    retries: dict[int, float] = field(default_factory=dict)
    last: float = 0.0
    level: str | None = None

    def __post_init__(self) -> None:
        self.last = self.start
        if self.end is not None and self.end < self.start:
            self.end = self.start  # records out of order: the run is a moment, not negative

    def place(self, text: str) -> tuple[float, bool]:
        """(the time ``text`` is placed at, whether that is the time the line states)."""
        if text.startswith(ATTEMPT_MARKER):
            self._new_attempt(text)
        stated = time_of(text, reference=self.start)
        placed = self.last if stated is None or stated < self.last else stated
        if self.end is not None and placed > self.end:
            placed = self.end
        self.last = placed
        return placed, placed == stated

    def _new_attempt(self, marker: str) -> None:
        """A retry's output begins: its lines are not placed before the attempt's start."""
        number = marker[len(ATTEMPT_MARKER) :].split(" ", 1)[0]
        began = self.retries.get(int(number)) if number.isdigit() else None
        if began is not None and began > self.last:
            self.last = began

    def classify(self, text: str) -> str | None:
        if text.startswith(ATTEMPT_MARKER):
            self.level = None  # a new process: it does not carry on the previous one's level
            return None
        stated = level_of(text)
        if stated is not None:
            self.level = stated
        return self.level


def unit_clocks(
    status: ExecutionStatus, attempts: Iterable[Attempt], names: Iterable[str]
) -> dict[str, UnitClock]:
    """A clock per unit of ``names``: its run from its first attempt's start to its last
    attempt's end (open while it has not finished)."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    retries: dict[str, dict[int, float]] = {}
    for attempt in attempts:
        if attempt.started_at is not None:
            began = attempt.started_at.timestamp()
            first[attempt.unit] = min(first.get(attempt.unit, began), began)
            retries.setdefault(attempt.unit, {})[attempt.number] = began
        if attempt.ended_at is not None:
            ended = attempt.ended_at.timestamp()
            last[attempt.unit] = max(last.get(attempt.unit, ended), ended)
    units = {unit.name: unit for unit in status.every_unit()}
    fallback = (status.started_at or status.created_at).timestamp()
    clocks = {}
    for name in names:
        unit = units[name]
        start = first.get(name)
        if start is None:  # no attempt on record (a service between restarts, an old store)
            start = unit.started_at.timestamp() if unit.started_at else fallback
        end = last.get(name) if unit.state.finished else None
        if end is None and unit.state.finished and unit.ended_at is not None:
            end = unit.ended_at.timestamp()
        clocks[name] = UnitClock(start, end, retries.get(name, {}))
    return clocks


def refine(
    lines: Iterable[LogLine], clocks: dict[str, UnitClock], filters: Filters
) -> Iterator[tuple[float, LogLine]]:
    """Each line placed, classified and kept or dropped: (its time, the line with its time and
    level). Every line is placed and classified, kept or not, so the next one's time and level
    carry on from it; ``grep`` is asked last, of the lines the others kept."""
    from shipyard.api import LogLine

    minimum, since, pattern = filters.minimum, filters.since, filters.pattern
    times, levels = filters.times, filters.levels
    for line in lines:
        clock = clocks[line.unit]
        placed, stated = clock.place(line.text) if times else (0.0, False)
        level = clock.classify(line.text) if levels else None
        if since is not None and placed < since:
            continue
        if minimum is not None and (level is None or RANK[level] < minimum):
            continue
        if pattern is not None and not pattern.search(line.text):
            continue
        yield (
            placed,
            LogLine(
                line.unit,
                line.number,
                line.text,
                time=datetime.fromtimestamp(placed, UTC) if times else None,
                time_source=None if not times else "line" if stated else "inferred",
                level=level,
            ),
        )


def merge(
    streams: list[tuple[float, Iterator[tuple[float, LogLine]]]],
) -> Iterator[LogLine]:
    """Lines of several units in time order. ``streams``: (the unit's start, its placed lines,
    whose times never go down nor fall before that start), in the units' order, which breaks
    ties. A unit's stream is first read when the merge reaches its start."""
    waiting = sorted(range(len(streams)), key=lambda index: (streams[index][0], index))
    waiting.reverse()  # popped from the end: earliest start first
    heap: list[tuple[float, int, LogLine, Iterator[tuple[float, LogLine]]]] = []
    while heap or waiting:
        while waiting and (not heap or streams[waiting[-1]][0] <= heap[0][0]):
            index = waiting.pop()
            lines = streams[index][1]
            first = next(lines, None)
            if first is not None:
                heapq.heappush(heap, (first[0], index, first[1], lines))
        if not heap:
            continue
        _, index, line, lines = heap[0]
        yield line
        following = next(lines, None)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (following[0], index, following[1], lines))
