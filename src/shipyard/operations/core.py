"""What the parts of LocalOperations (fleets, checkpoints, cleaning) need of the whole: a
Protocol their methods take as ``self``, so each part is checked against it on its own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shipyard.models import ExecutionStatus, ExecutionSummary
from shipyard.workspace import RunDir, Workspace

if TYPE_CHECKING:
    from shipyard.operations.clock import Clock
    from shipyard.plan.model import Plan
    from shipyard.store.base import Store


class Core(Protocol):
    workspace: Workspace
    clock: Clock

    @property
    def store(self) -> Store: ...

    def status(self, execution_id: str | None = None) -> ExecutionStatus: ...

    def list_executions(
        self, *, active_only: bool = False, name: str | None = None, limit: int = 50
    ) -> list[ExecutionSummary]: ...

    def run(
        self,
        spec_path: str | Path,
        params: Mapping[str, Any] | None = None,
        *,
        detach: bool = False,
    ) -> ExecutionStatus: ...

    def wait_healthy(self, execution_id: str, *, timeout: float = 300.0) -> ExecutionStatus: ...

    def _reconcile(self, execution_id: str) -> None: ...

    def _has_state(self) -> bool: ...

    def close(self) -> None: ...

    def _looker(self, execution_id: str) -> Callable[[], ExecutionStatus]: ...

    def _prepare(
        self, plan: Plan, spec_path: Path, spec_text: str | None = None, pipeline: str | None = None
    ) -> tuple[str, RunDir]: ...

    def _drive(
        self,
        plan: Plan,
        execution_id: str,
        run_dir: RunDir,
        secrets: Mapping[str, str],
        *,
        detach: bool,
        hold: bool,
    ) -> ExecutionStatus: ...
