"""Log size limits of running units, checked at the engine's sampling tick.

A unit writes straight into its log file (no Python in between), so the engine cannot cut it
as it writes: at each tick it compares the size of each limited running unit's log with its
limit (one ``stat`` per such unit) and rotates the ones past it by copy-then-truncate
(:func:`shipyard.logfiles.rotate_if_due`) on a thread, so a large copy never holds up the loop
that sees exits and answers probes. A log can therefore overshoot its limit by what the unit
writes in one tick.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from shipyard.logfiles import rotate_if_due
from shipyard.plan.model import LogLimit


class LogRotation:
    def __init__(
        self,
        limits: Mapping[str, LogLimit],
        log_for: Callable[[str], str | Path],
        on_rotated: Callable[[str], object],
    ) -> None:
        self._limits = limits
        self._log_for = log_for
        self._on_rotated = on_rotated

    async def check(self, running: Iterable[str]) -> None:
        """Rotate the logs of ``running`` units that are over their limits."""
        if not self._limits:
            return
        due = [(name, Path(self._log_for(name))) for name in running if self._over(name)]
        for name, path in due:
            limit = self._limits[name]
            if await asyncio.to_thread(rotate_if_due, path, limit.max_size, limit.keep):
                self._on_rotated(name)

    def _over(self, name: str) -> bool:
        limit = self._limits.get(name)
        if limit is None:
            return False
        try:
            return Path(self._log_for(name)).stat().st_size > limit.max_size
        except OSError:
            return False
