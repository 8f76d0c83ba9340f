"""The Store interface: every read and write of execution state, by name.

The SQLite implementation is the embedded default; a PostgreSQL one will implement the same
Protocol for the coordinator. Writes are cheap to call and may be grouped in ``transaction()`` so
an engine can commit a batch of them with one fsync.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from shipyard.models import (
    Alert,
    Artifact,
    Attempt,
    Event,
    ExecutionState,
    ExecutionStatus,
    ExecutionSummary,
    GateApproval,
    Metric,
    UnitState,
)
from shipyard.registry import StoredPipeline

if TYPE_CHECKING:
    from shipyard.analysis import HistoryEntry
    from shipyard.mlregistry import ModelEvent, ModelRow, ModelVersion, Stage
    from shipyard.templates import IndexRepo


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[None]: ...

    def insert_execution(
        self,
        *,
        execution_id: str,
        name: str,
        mode: str,
        spec_path: str | None,
        spec_digest: str,
        spec_text: str,
        parameters: dict[str, object],
        run_dir: str,
        created_at: float,
        units: Sequence[tuple[str, str, str | None]],
        pipeline: str | None = None,
    ) -> None:
        """A new execution in state ``pending`` with its units (name, kind, log path);
        ``pipeline``: the registered pipeline it runs as."""

    def update_execution(
        self,
        execution_id: str,
        *,
        state: ExecutionState | None = None,
        started_at: float | None = None,
        ended_at: float | None = None,
        reason: str | None = None,
        supervisor_pid: int | None = None,
        heartbeat_at: float | None = None,
    ) -> None: ...

    def update_service(
        self,
        execution_id: str,
        name: str,
        *,
        port: int | None,
        url: str | None,
        health: str,
        restarts: int,
    ) -> None: ...

    def update_probe(self, execution_id: str, name: str, *, ok: bool, detail: str) -> None:
        """A service's last health probe: its verdict and what it saw."""

    def request_stop(self, execution_id: str, *, force: bool, grace: float, at: float) -> None:
        """Record how a supervisor should stop (it reads this when it gets SIGTERM)."""

    def stop_request(self, execution_id: str) -> tuple[bool, float] | None: ...

    def execution_state(self, execution_id: str) -> ExecutionState | None: ...

    def supervisor(self, execution_id: str) -> tuple[int | None, float | None]: ...

    def mark_lost(
        self, execution_id: str, *, reason: str, at: float, started: tuple[str, ...] = ()
    ) -> None: ...

    def update_unit(
        self,
        execution_id: str,
        name: str,
        *,
        state: UnitState,
        attempts: int | None = None,
        started_at: float | None = None,
        ended_at: float | None = None,
        exit_code: int | None = None,
        reason: str | None = None,
        pid: int | None = None,
        cache_key: str | None = None,
    ) -> None: ...

    def save_attempt(
        self, execution_id: str, attempt: Attempt, cache_key: str | None = None
    ) -> None: ...

    def cache_keys(self, execution_id: str) -> dict[str, str]: ...

    def reopen(
        self, execution_id: str, *, keep: set[str], spec_text: str, spec_digest: str
    ) -> None: ...

    def attempt_counts(self, execution_id: str) -> dict[str, int]: ...

    def succeeded_units(self, execution_id: str) -> list[str]:
        """The units of an execution that succeeded (what a resumed execution keeps done)."""
        ...

    def export_execution(self, execution_id: str) -> dict[str, list[dict[str, Any]]]: ...

    def import_execution(self, rows: dict[str, list[dict[str, Any]]]) -> None: ...

    def delete_execution(self, execution_id: str) -> None:
        """The execution and (by cascade) its units, attempts and events."""

    def append_events(self, events: list[Event], encoded: list[str] | None = None) -> None:
        """Store events; ``encoded`` may carry each event's data already as JSON."""

    def get_execution(self, execution_id: str) -> ExecutionStatus | None: ...

    def latest_execution_id(self, *, active_only: bool = False) -> str | None: ...

    def list_executions(
        self, *, active_only: bool = False, name: str | None = None, limit: int = 50
    ) -> list[ExecutionSummary]: ...

    def attempts(self, execution_id: str, unit: str | None = None) -> list[Attempt]: ...

    def events(self, execution_id: str, *, after_id: int = 0) -> list[tuple[int, Event]]: ...

    def last_event_ts(self, execution_id: str) -> float | None: ...

    def mean_durations(self, name: str, *, last: int = 5) -> dict[str, float]:
        """Mean duration of each step over the last ``last`` successful runs of ``name``."""

    # -- named pipelines (issue 12 §1) --------------------------------------------------------

    def pipeline_put(self, pipeline: StoredPipeline, *, replace: bool) -> bool:
        """Store a pipeline; False (nothing written) when the name is taken and not ``replace``."""

    def pipeline_get(self, name: str) -> StoredPipeline | None: ...

    def pipeline_list(self) -> list[StoredPipeline]: ...

    def pipeline_delete(self, name: str) -> bool:
        """Forget a pipeline (its executions stay); False if there was none."""

    def pipeline_latest_execution(self, name: str) -> str | None:
        """The newest execution run under the registered name ``name``."""

    # -- template index repositories (issue 12 §3) -------------------------------------------

    def index_repo_add(self, repo: IndexRepo, *, at: float) -> bool:
        """Record a repository; False (nothing written) when its name is taken."""

    def index_repo_get(self, name: str) -> IndexRepo | None: ...

    def index_repo_list(self) -> list[IndexRepo]:
        """Every recorded repository, by name (the builtin one is not recorded)."""

    def index_repo_updated(self, name: str, *, revision: str | None, at: float) -> None:
        """A repository was read again (a git one at ``revision``)."""

    def index_repo_delete(self, name: str) -> bool:
        """Forget a repository; False if there was none."""

    # -- metrics steps report (issue 12 §2, $SHIPYARD_METRICS) ----------------------------------

    def save_metrics(
        self, execution_id: str, metrics: Sequence[Metric], *, recorded_at: float
    ) -> None:
        """Figures of one attempt (all of the same unit and attempt), in the order reported;
        saving the same attempt's again replaces them. ``recorded_at``: when it ended."""

    def metrics(self, execution_id: str, unit: str | None = None) -> list[Metric]:
        """What an execution's steps reported (of ``unit`` only, if given), oldest first."""
        ...

    # -- artifacts between steps and quality gates (issue 15 §1-2) -------------------------------

    def save_artifacts(
        self, execution_id: str, unit: str, artifacts: Sequence[Artifact], *, recorded_at: float
    ) -> None:
        """The files a step's outputs left in its artifacts folder (path, size, SHA-256),
        replacing what an earlier attempt of it left."""

    def artifacts(self, execution_id: str, unit: str | None = None) -> list[Artifact]:
        """An execution's recorded artifacts (of ``unit`` only, if given), step by step in the
        spec's order, then by path."""
        ...

    def approve_gate(
        self, execution_id: str, unit: str, approval: GateApproval, *, reason: str
    ) -> bool:
        """A gated unit becomes succeeded (its reason ``reason``) and the approval is kept, in
        one transaction; False (nothing written) when the unit is not gated."""
        ...

    def save_gate_approval(self, execution_id: str, approval: GateApproval) -> None:
        """Keep ``approval`` as it was (a rebuild replaying a ``gate_approved`` event), over
        any of the same unit; the unit's state is not touched."""

    def gate_approvals(self, execution_id: str) -> list[GateApproval]:
        """The execution's approved gates, oldest first."""
        ...

    # -- monitor, analysis, history (issue 12 §4) ----------------------------------------------

    def hook_events(self, execution_id: str) -> list[Event]:
        """The execution's ``hook_started`` and ``hook_finished`` events, oldest first."""

    def alerts(self, execution_id: str) -> list[Alert]:
        """The execution's ``alert`` events as records, oldest first."""

    def step_durations(
        self, name: str, steps: Sequence[str], *, last: int = 20
    ) -> dict[str, list[float]]:
        """Per step of ``steps``, the durations of its succeeded attempts in the last ``last``
        successful executions of spec ``name``, oldest first (what a duration alert's p95
        rests on); steps without any are left out."""

    def execution_history(
        self,
        *,
        name: str | None = None,
        pipeline: str | None = None,
        limit: int = 100,
        succeeded_only: bool = False,
        before: float | None = None,
    ) -> list[HistoryEntry]:
        """Executions of spec ``name`` or registered ``pipeline``, newest first; ``before``:
        created before that time."""

    def unit_durations(self, execution_ids: Sequence[str]) -> dict[str, list[float]]:
        """Per step, its durations in those executions where it succeeded."""

    # -- parameter sweeps (issue 12 §2) ----------------------------------------------------------
    # Rows as mappings of column → value (JSON columns decoded); sweeping.py makes the records.

    def insert_sweep(self, sweep: dict[str, Any], points: Sequence[dict[str, Any]]) -> None:
        """A new sweep and all its points, in one transaction."""

    def sweep_row(self, sweep_id: str) -> dict[str, Any] | None: ...

    def sweep_ids(self, *, limit: int = 50) -> list[str]:
        """The latest sweeps' ids, newest first."""

    def sweep_point_rows(self, sweep_id: str) -> list[dict[str, Any]]:
        """A sweep's points in their order."""

    def update_sweep_point(
        self, sweep_id: str, point_hash: str, repeat: int, **changes: Any
    ) -> None:
        """Set columns of one point (state, execution_id, reason, started_at, duration,
        metrics)."""

    def end_sweep(self, sweep_id: str, state: str, *, reason: str | None, at: float) -> None:
        """A sweep still pending or running ends in ``state``."""

    def set_sweep_supervisor(self, sweep_id: str, pid: int, *, at: float) -> None:
        """The process running the sweep (its pid and first heartbeat); running now."""

    def sweep_heartbeat(self, sweep_id: str, *, at: float) -> None: ...

    def request_sweep_stop(self, sweep_id: str, *, at: float) -> None: ...

    def sweep_stop_requested(self, sweep_id: str) -> bool: ...

    # -- pipeline metrics (issue 15 §3) -----------------------------------------------------------

    def execution_names(self) -> list[str]:
        """The spec names executions were recorded under, sorted (what an unknown name's
        error lists beside the registered pipelines)."""
        ...

    def step_spans(self, execution_ids: Sequence[str]) -> list[tuple[str, str, float]]:
        """(execution id, step, seconds) of every step that succeeded in those executions."""
        ...

    # -- the model registry (issue 15 §4) ---------------------------------------------------------

    def model_add_version(self, version: ModelVersion, event: ModelEvent) -> int:
        """Record a new version of ``version.model`` (the model too, if new) numbered one past
        its latest, with its ``register`` event, in one transaction; returns its number (the
        record's own ``version`` and the event's are ignored). The change is also appended to
        the registry's journal (:mod:`shipyard.modeljournal`) before the commit."""
        ...

    def model_row(self, name: str) -> ModelRow | None: ...

    def model_rows(self) -> list[ModelRow]:
        """Every model, by name."""
        ...

    def model_versions(self, name: str) -> list[ModelVersion]:
        """A model's versions, oldest first."""
        ...

    def model_events(self, name: str) -> list[ModelEvent]:
        """A model's stage changes, oldest first."""
        ...

    def model_set_stages(
        self,
        name: str,
        stages: dict[int, Stage],
        stack: Sequence[int],
        events: Sequence[ModelEvent],
    ) -> None:
        """Set versions' stages, the production stack, and record the events (call inside a
        transaction that also read what the decision rests on). Journaled as
        :meth:`model_add_version` is."""

    def model_restore(
        self,
        row: ModelRow,
        versions: Sequence[ModelVersion],
        events: Sequence[tuple[int, ModelEvent]],
    ) -> bool:
        """A model as the registry's journal left it (a rebuild): its row, versions with their
        numbers and stages, events with their ids; nothing is journaled again. False (nothing
        written) when the store has a model of that name."""
        ...

    def close(self) -> None: ...
