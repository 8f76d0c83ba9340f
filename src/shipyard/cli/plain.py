"""Plain-text output for the fast paths (``run -q``): no Rich, nothing to import."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.models import ExecutionStatus
from shipyard.spec.quantities import format_duration

if TYPE_CHECKING:
    from shipyard.api import LogLine


def summary_line(status: ExecutionStatus) -> str:
    """``exec_… succeeded 401/401 units in 0.42s`` (+ failures and the reason, when any)."""
    elapsed = format_duration(status.duration_seconds) if status.duration_seconds else "—"
    text = (
        f"{status.id} {status.state.value} {status.progress.done}/{status.progress.total} "
        f"units in {elapsed}"
    )
    if status.failed:
        text += f", {status.failed} failed"
    if status.reason:
        text += f" ({status.reason})"
    return text


def service_lines(status: ExecutionStatus) -> list[str]:
    """One line per service: name, state, health, url, pid, restarts."""
    lines = [f"{status.id} {status.state.value}" + (f" ({status.reason})" if status.reason else "")]
    width = max((len(unit.name) for unit in status.units), default=0)
    for unit in status.units:
        lines.append(
            f"  {unit.name:<{width}}  {unit.state.value:<9} {unit.health or '—':<9} "
            f"{unit.url or '—':<22} pid {unit.pid or '—':<7} restarts {unit.restarts}"
        )
    return lines


def log_label(unit: str, node: str | None = None) -> str:
    """A unit as ``shipyard logs`` names it before its lines: ``unit``, or ``unit@node`` for
    one that runs off this machine (a host of the ssh runner, Slurm)."""
    return f"{unit}@{node}" if node else unit


def log_prefix(unit: str, *, width: int | None, colour: bool, node: str | None = None) -> str:
    """What goes before each line of ``unit`` in ``shipyard logs``: ``unit | `` (``unit@node
    | `` when it has a node) when every unit's lines are shown (``width`` given), nothing when
    one unit's are."""
    if width is None:
        return ""
    padded = f"{log_label(unit, node):<{width}}"
    return f"\x1b[36m{padded}\x1b[0m | " if colour else f"{padded} | "


def log_line_json(line: LogLine) -> str:
    """``{"unit": …, "number": …, "text": …}`` as ``json.dumps`` writes it, made by hand: this
    runs once per line of the log, and building a dict for the general encoder doubled the time
    of ``logs --json``. A line placed in time (``--all``, ``--level``, ``--since``,
    ``--export``) has ``"time"`` (ISO 8601, UTC), ``"time_source"`` and ``"level"`` too."""
    from json.encoder import encode_basestring_ascii as quoted

    number = "null" if line.number is None else str(line.number)
    head = f'{{"unit": {quoted(line.unit)}, "number": {number}, "text": {quoted(line.text)}'
    if line.time_source is None:
        return head + "}"
    time = "null" if line.time is None else quoted(line.time.isoformat().replace("+00:00", "Z"))
    level = "null" if line.level is None else quoted(line.level)
    return f'{head}, "time": {time}, "time_source": {quoted(line.time_source)}, "level": {level}}}'
