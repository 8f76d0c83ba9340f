"""Reading and following units' logs for LocalOperations: which files, which lines. The files
themselves (rotation, tails read from the end) are :mod:`shipyard.logfiles`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError
from shipyard.models import ExecutionStatus
from shipyard.operations.core import Core

if TYPE_CHECKING:
    from shipyard.api import LogLine
    from shipyard.logfiles import Follower


def compile_grep(expression: str | None) -> re.Pattern[str] | None:
    if expression is None or expression == "":
        return None
    try:
        return re.compile(expression)
    except re.error as error:
        raise ShipyardError(
            f"--grep '{expression}' is not a valid regular expression: {error}"
        ) from None


def log_paths(status: ExecutionStatus, unit: str | None) -> list[tuple[str, Path]]:
    """(unit, its log file) of ``unit``, or of every unit — the hooks too (``_prepare``
    first, ``_cleanup`` last); an unknown unit is an error."""
    every = status.every_unit()
    names = [u.name for u in every]
    if unit is not None and unit not in names:
        raise ShipyardError(
            f"execution '{status.id}' has no unit '{unit}'",
            hint=f"its units are: {', '.join(names)}",
        )
    return [
        (record.name, Path(record.log_path))
        for record in every
        if (unit is None or record.name == unit) and record.log_path
    ]


def stream_logs(
    paths: list[tuple[str, Path]], *, tail: int | None, pattern: re.Pattern[str] | None
) -> Iterator[LogLine]:
    """Each unit's lines in turn: a plain tail is read from the end of the files (its lines
    are not numbered); a full read or a search streams from the oldest kept file, and a
    search's tail keeps only the last ``tail`` matches. One generator per line and no more:
    this loop runs for every line of the log."""
    from collections import deque

    from shipyard import logfiles
    from shipyard.api import LogLine

    for name, path in paths:
        if tail and pattern is None:
            for text in logfiles.tail(path, tail):
                yield LogLine(name, None, text)
            continue
        numbered: Iterable[tuple[int, str]] = enumerate(logfiles.read_all(path), start=1)
        if pattern is not None:
            search = pattern.search
            numbered = (item for item in numbered if search(item[1]))
        if tail:
            numbered = deque(numbered, maxlen=tail)  # holds only what will be printed
        for number, text in numbered:
            yield LogLine(name, number, text)


def follow_lines(
    look: Callable[[], ExecutionStatus],
    unit: str | None,
    *,
    grep: str | None,
    tail: int | None,
    poll: float,
) -> Iterator[LogLine]:
    """New log lines as they are written, until the followed units (every unit when none is
    named) have finished and every line is out. ``look``: the execution's status now."""
    from shipyard.api import LogLine
    from shipyard.logfiles import Follower

    status = look()
    paths = log_paths(status, unit)
    pattern = compile_grep(grep)
    followers: dict[str, Follower] = {}
    numbers: dict[str, int | None] = {}
    # What is there already (its last ``tail`` lines per unit), then what comes: the
    # follower starts where the backlog ended, so no line is lost or repeated between them.
    for name, path in paths:
        followers[name] = follower = Follower(path)
        numbers[name] = None if tail else 0
        for text in _backlog(path, follower, tail):
            if tail is None:
                numbers[name] = (numbers[name] or 0) + 1
            if pattern is None or pattern.search(text):
                yield LogLine(unit=name, number=numbers[name], text=text)
    followed = {u.name for u in status.every_unit() if unit is None or u.name == unit}
    while True:
        finished = _all_finished(look(), followed)
        for name, follower in followers.items():
            for text in follower.poll(final=finished):
                number = numbers[name]
                numbers[name] = number = None if number is None else number + 1
                if pattern is None or pattern.search(text):
                    yield LogLine(unit=name, number=number, text=text)
        if finished:
            return
        time.sleep(poll)


def _all_finished(status: ExecutionStatus, followed: set[str]) -> bool:
    return status.state.finished or all(
        u.state.finished for u in status.every_unit() if u.name in followed
    )


def _backlog(path: Path, follower: Follower, tail: int | None) -> Iterator[str]:
    """What a unit's log holds when following starts: every kept line, or the last ``tail``;
    ``follower`` is left where it ends (the line being written is left to it)."""
    from shipyard import logfiles

    if tail:
        follower.position = logfiles.complete_size(path)
        yield from logfiles.tail(path, tail, stop=follower.position)
        return
    for older in logfiles.unit_files(path)[:-1]:
        yield from logfiles.read_file(older)
    yield from follower.poll()


class LogOperations:
    """The log part of LocalOperations."""

    def logs(
        self: Core,
        execution_id: str,
        unit: str | None = None,
        *,
        tail: int | None = None,
        grep: str | None = None,
        follow: bool = False,
        level: str | None = None,
        since: str | None = None,
        merge: bool = False,
        annotate: bool = False,
    ) -> Iterator[LogLine]:
        if tail is not None and (isinstance(tail, bool) or not isinstance(tail, int) or tail < 1):
            # 0 meant "every line" and a negative one ended in a ValueError from deque.
            raise ShipyardError(
                f"tail={tail!r:.40} is not a number of lines (1 or more)",
                hint="tail=N keeps the last N lines; leave it out (null) for every line",
            )
        if level is not None or since is not None or merge or annotate:
            return placed_logs(
                self,
                execution_id,
                unit,
                Query(tail, grep, follow, level, since, merge, annotate),
            )
        if follow:
            # New lines as they are written, until the followed units (every unit when none is
            # named) have finished and every line is out; several units' lines interleave in
            # the order they are noticed, each file read once from where the last look ended.
            return follow_lines(self._looker(execution_id), unit, grep=grep, tail=tail, poll=0.2)
        paths = log_paths(self.status(execution_id), unit)
        # Checked here, read lazily.
        return stream_logs(paths, tail=tail, pattern=compile_grep(grep))


@dataclass(frozen=True, slots=True)
class Query:
    tail: int | None
    grep: str | None
    follow: bool
    level: str | None
    since: str | None
    merge: bool
    annotate: bool


def placed_logs(ops: Core, execution_id: str, unit: str | None, query: Query) -> Iterator[LogLine]:
    """Lines with their time and level (see :mod:`shipyard.operations.logmerge`), filtered,
    merged by time when asked. Everything is checked before the first line is read."""
    from shipyard.loglines import RANK, parse_level, parse_since
    from shipyard.operations import logmerge

    minimum = None if query.level is None else RANK[parse_level(query.level)]
    since = None if query.since is None else parse_since(query.since, now=ops.clock.now())
    filters = logmerge.Filters(
        minimum,
        since,
        compile_grep(query.grep),
        times=query.annotate or query.merge or since is not None,
        levels=query.annotate or minimum is not None,
    )
    status = ops.status(execution_id)
    paths = log_paths(status, unit)
    clocks = logmerge.unit_clocks(status, ops.store.attempts(status.id), [n for n, _ in paths])
    if query.follow:
        # Lines come as they are written (a unit's own in order): placing them is all there is
        # to do; ``merge`` adds nothing to an order that is the writing order already.
        raw = follow_lines(ops._looker(status.id), unit, grep=None, tail=query.tail, poll=0.2)
        return (line for _, line in logmerge.refine(raw, clocks, filters))
    streams = [
        (
            clocks[name].start,
            logmerge.refine(stream_logs([(name, path)], tail=None, pattern=None), clocks, filters),
        )
        for name, path in paths
        # every line of a unit that ended before ``since`` is placed before it: not read
        if since is None or (end := clocks[name].end) is None or end >= since
    ]
    if query.merge:
        return _last(logmerge.merge(streams), query.tail)
    return _last((line for _, placed in streams for _, line in placed), query.tail)


def _last(lines: Iterator[LogLine], tail: int | None) -> Iterator[LogLine]:
    """``lines``, or only their last ``tail`` (held in memory, read when asked for)."""
    from collections import deque

    yield from deque(lines, maxlen=tail) if tail else lines
