"""Parameter sweeps (issue 12 §2): their operations, mixed into LocalOperations."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from shipyard.sweep import SweepReport, SweepSettings


def _pending() -> ShipyardError:
    return ShipyardError("sweeps are not available yet", hint="run each point with shipyard run")


class SweepOperations:
    def sweep(
        self,
        spec: str | Path,
        settings: SweepSettings | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        spec_text: str | None = None,
        detach: bool = False,
        resume: str | None = None,
    ) -> SweepReport:
        raise _pending()

    def sweep_status(self, sweep_id: str | None = None) -> SweepReport:
        raise _pending()

    def sweep_list(self, *, limit: int = 50) -> list[SweepReport]:
        raise _pending()

    def sweep_stop(self, sweep_id: str) -> SweepReport:
        raise _pending()

    def sweep_plot(self, sweep_id: str, path: str, *, metric: str | None = None) -> str:
        raise _pending()
