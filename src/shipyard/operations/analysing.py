"""Monitor, analysis and history (issue 12 §4): their operations, mixed into LocalOperations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from shipyard.analysis import AnalysisReport, MonitorSnapshot, PipelineHistory


def _pending() -> ShipyardError:
    return ShipyardError("analysis is not available yet", hint="shipyard status")


class AnalysisOperations:
    def monitor(self, execution_id: str | None = None) -> MonitorSnapshot:
        raise _pending()

    def analyze(
        self,
        execution_id: str | None = None,
        *,
        baseline: str | None = "auto",
        html: str | None = None,
        cores: int | None = None,
    ) -> AnalysisReport:
        raise _pending()

    def history(self, name: str, *, limit: int = 100) -> PipelineHistory:
        raise _pending()
