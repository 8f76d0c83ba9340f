"""Slowing down password guessing at ``POST /login`` (issue 13 §2): after a few failed logins
for a name, the next attempts for that name wait, longer after each failure; a success clears
the count. Refused attempts cost no password check (no scrypt), so a guesser hammering one
name costs the server nothing more than the refusal.

Kept in the coordinator's memory, per process: several coordinators behind a load balancer each
count their own (a guesser gets at most that many times the attempts), and a restart forgets.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from shipyard.errors import CoordinatorError

#: Failures allowed before any wait; then 1 s, 2 s, 4 s … up to MAX_WAIT.
FREE_FAILURES = 5
MAX_WAIT = 300.0
#: Names remembered at most (bounded memory: past it, the oldest records are dropped).
_LIMIT = 10_000


class TooManyAttempts(CoordinatorError):
    """Too many failed logins for a name: wait ``retry_after`` seconds."""

    http_status = 429

    def __init__(self, message: str, *, retry_after: int, hint: str | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, hint=hint)


def wait_after(failures: int) -> float:
    """Seconds a name must wait after ``failures`` failed logins in a row."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(2.0 ** (failures - FREE_FAILURES), MAX_WAIT)


@dataclass
class _Record:
    failures: int
    last: float


class LoginThrottle:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def check(self, name: str) -> None:
        """Refuse an attempt for ``name`` that comes too soon (before any password check)."""
        with self._lock:
            record = self._records.get(name)
            if record is None:
                return
            left = record.last + wait_after(record.failures) - self._clock()
            failures = record.failures
        if left > 0:
            seconds = math.ceil(left)
            raise TooManyAttempts(
                f"{failures} failed logins in a row for this name; try again in {seconds} s",
                retry_after=seconds,
                hint="each further failure doubles the wait (up to 5 minutes)",
            )

    def failed(self, name: str) -> None:
        with self._lock:
            record = self._records.pop(name, None) or _Record(0, 0.0)
            record.failures += 1
            record.last = self._clock()
            if len(self._records) >= _LIMIT:
                del self._records[next(iter(self._records))]
            self._records[name] = record  # the most recent last: dicts keep insertion order

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._records.pop(name, None)
