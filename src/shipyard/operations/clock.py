"""Where LocalOperations reads the time: one small protocol, so a test or a remote
implementation can give its own."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock time, seconds since the epoch (what records and events carry)."""

    def monotonic(self) -> float:
        """A clock for deadlines and waits, never set back."""


class SystemClock:
    """The machine's clocks."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()
