"""Where the server's operations run: one :class:`~shipyard.local.LocalOperations` per
worker thread, all sharing the executions held for ``start``.

uvicorn runs the routes' blocking calls in a pool of threads, and an SQLite connection belongs
to the thread that opened it; so each thread gets its own operations (and connection) on first
use, made once and kept. What ``run(hold=True)`` prepared on one thread must be found by
``start`` on another: the held executions are one dict shared by them all (its get, set and
pop are atomic), and ``start`` pops an entry, so two ``start`` calls never both get it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.local import LocalOperations
    from shipyard.workspace import Workspace

__all__ = ["OperationsHost"]


class OperationsHost:
    def __init__(self, workspace: Workspace, *, agent_limit: int | None = None) -> None:
        self.workspace = workspace
        #: The server's max_agents: no deploy by name through it runs more (agents by name).
        self.agent_limit = agent_limit
        self._held: dict[str, Any] = {}
        self._mine = threading.local()
        self._lock = threading.Lock()
        self._made: list[LocalOperations] = []

    def ops(self) -> LocalOperations:
        """This thread's operations (made on its first call)."""
        existing: LocalOperations | None = getattr(self._mine, "ops", None)
        if existing is None:
            existing = self.fresh()
            self._mine.ops = existing
        return existing

    def fresh(self) -> LocalOperations:
        """Operations of their own (for a stream read on a thread of its own); closed by
        :meth:`close` if the caller has not."""
        from shipyard.local import LocalOperations

        made = LocalOperations(self.workspace, held=self._held)
        made.agent_limit = self.agent_limit
        with self._lock:
            self._made.append(made)
        return made

    def held(self) -> Mapping[str, Any]:
        return self._held

    def close(self) -> None:
        with self._lock:
            made, self._made = self._made, []
        for ops in made:
            # Each closes its store; one that is in use on another thread at shutdown is left
            # to the process's end rather than closed under it.
            try:
                ops.close()
            except Exception:  # noqa: S112  (shutting down: nothing to report to)
                continue
