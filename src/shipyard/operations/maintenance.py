"""The store's own upkeep: check it, rebuild it from the run folders (`shipyard store`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.operations.core import Core

if TYPE_CHECKING:
    from shipyard.recovery import RebuildReport, StoreCheck


class MaintenanceOperations:
    def check_store(self: Core) -> StoreCheck:
        """Is state.db sound (SQLite's header, quick_check), and has every run folder a
        record? Reads only."""
        from shipyard.recovery import check

        self.close()
        return check(self.workspace)

    def rebuild_store(self: Core) -> RebuildReport:
        """Move state.db aside (kept as state.db.corrupt-<time>) and build a new one from the
        run folders: every execution's units, states, exit codes, attempts and events."""
        from shipyard.recovery import rebuild_store

        self.close()
        return rebuild_store(self.workspace)
