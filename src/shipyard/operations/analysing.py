"""Monitor, analysis and history (issue 12 §4): their operations, mixed into LocalOperations.

They read what the engine recorded — unit rows, attempt rows with their measured resources,
``alert`` events, the run's ``plan.json`` — and never measure or estimate anything of their own;
the judging is :mod:`shipyard.findings`' (pure), the HTML report :mod:`shipyard.report`'s.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from shipyard.errors import ExecutionNotFound, ShipyardError
from shipyard.models import Attempt, ExecutionStatus, UnitState, UnitStatus
from shipyard.operations.core import Core

if TYPE_CHECKING:
    from shipyard.analysis import (
        AnalysisReport,
        DurationStats,
        MonitorSnapshot,
        PipelineHistory,
        UnitSample,
    )
    from shipyard.findings import StepFacts
    from shipyard.plan.model import Plan

_N = TypeVar("_N", int, float)

#: The words ``analyze --baseline`` takes besides an execution id.
AUTO = "auto"
NONE = "none"


class AnalysisOperations:
    def monitor(self: Core, execution_id: str | None = None) -> MonitorSnapshot:
        """One snapshot: the status (with its estimate and alerts) and each unit's latest
        measured CPU % and RSS."""
        from shipyard.analysis import MonitorSnapshot

        status = self.status(execution_id)
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        units = [_sample(unit, now) for unit in status.units]
        return MonitorSnapshot(status.id, now, status, units, list(status.alerts))

    def analyze(
        self: Core,
        execution_id: str | None = None,
        *,
        baseline: str | None = AUTO,
        html: str | None = None,
        cores: int | None = None,
    ) -> AnalysisReport:
        from shipyard.analysis import AnalysisReport
        from shipyard.findings import (
            RunFacts,
            bottlenecks,
            cpu_efficiency,
            path_of,
            recommendations,
            timings,
        )

        counted = _cores(cores)
        if html is not None and (not isinstance(html, str) or not html.strip()):
            raise ShipyardError("the HTML report path is empty", hint="give --html report.html")
        status = self.status(execution_id)
        base, basis = _baseline(self, status, baseline)
        plan = _plan_of(status)
        attempts = self.store.attempts(status.id)  # every attempt, read once
        facts = _step_facts(status, attempts, plan, base)
        durations = {step.name: step.duration_seconds for step in facts}
        needs = {step.name: list(step.needs) for step in plan.steps} if plan else {}
        path, path_seconds = path_of(needs or {name: [] for name in durations}, durations)
        wall = _wall_seconds(status, self.clock.now())
        cpu = _cpu_seconds(attempts)
        run = RunFacts(status.id, path, path_seconds, cpu, wall, counted, base.id if base else None)
        report = AnalysisReport(
            execution_id=status.id,
            name=status.name,
            state=status.state.value,
            duration_seconds=wall,
            critical_path=path,
            critical_path_seconds=round(path_seconds, 6) if path else None,
            steps=timings(facts, path),
            bottlenecks=bottlenecks(path, durations),
            cpu_efficiency=cpu_efficiency(cpu, wall, counted),
            cores=counted,
            failures=_failures(status),
            baseline_id=base.id if base else None,
            baseline_basis=basis,
            recommendations=recommendations(run, facts),
        )
        if html is not None:
            now = datetime.fromtimestamp(self.clock.now(), UTC)
            report = _write_html(report, html, attempts, now)
        return report

    def history(self: Core, name: str, *, limit: int = 100) -> PipelineHistory:
        """A pipeline's executions: those run under the registered name ``name``, else those
        of the spec named ``name``; success rate over the finished ones, durations (p50, p95,
        p99) of the successful ones, and of each step where it succeeded."""
        from shipyard.analysis import HistoryEntry, PipelineHistory

        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ShipyardError(
                f"history limit {limit!r} is not a positive whole number",
                hint="give --limit 1 or more",
            )
        basis = f"executions run as the registered pipeline '{name}'"
        entries: list[HistoryEntry] = []
        if self._has_state():  # a folder without state has none, and asking creates none
            entries = self.store.execution_history(pipeline=name, limit=limit)
            if not entries:
                basis = f"executions of the spec named '{name}'"
                entries = self.store.execution_history(name=name, limit=limit)
        if not entries:
            raise ExecutionNotFound(
                f"no executions of a pipeline or spec named '{name}' in {self.workspace.home}",
                hint="`shipyard list` shows the executions and their spec names; "
                "`shipyard pipelines list` the registered pipelines",
            )
        good = [entry for entry in entries if entry.state == "succeeded"]
        finished = [entry for entry in entries if entry.state not in ("pending", "running")]
        # A step's own successes count wherever they happened, in a run that failed later too.
        steps = self.store.unit_durations([entry.execution_id for entry in entries])
        return PipelineHistory(
            name=name,
            executions=entries,
            success_rate=round(len(good) / len(finished), 4) if finished else None,
            durations=_stats([e.duration_seconds for e in good if e.duration_seconds is not None]),
            steps={step: _stats(values) for step, values in sorted(steps.items())},
            basis=basis,
        )


def _sample(unit: UnitStatus, now: datetime) -> UnitSample:
    """A unit's latest measured figures; only a running unit has a "now" (an ended one's
    figures are its record's, shown by ``status`` and ``analyze``)."""
    from shipyard.analysis import UnitSample

    running = unit.state == UnitState.RUNNING
    elapsed = None
    if unit.started_at is not None:
        elapsed = round(((unit.ended_at or now) - unit.started_at).total_seconds(), 3)
    return UnitSample(
        name=unit.name,
        state=unit.state.value,
        cpu_percent=unit.resources.cpu_percent_now if running else None,
        rss_bytes=unit.resources.rss_now_bytes if running else None,
        elapsed_seconds=elapsed,
    )


def _cores(cores: int | None) -> int:
    if cores is None:
        return os.cpu_count() or 1
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise ShipyardError(
            f"cores {cores!r} is not a positive whole number",
            hint="give --cores 1 or more (default: this machine's cores)",
        )
    return cores


def _baseline(
    ops: Core, status: ExecutionStatus, baseline: str | None
) -> tuple[ExecutionStatus | None, str]:
    """The execution to compare with and why it (or none) was chosen."""
    if baseline is None or baseline == NONE:
        return None, "no baseline asked for"
    if not isinstance(baseline, str) or not baseline:
        raise ShipyardError(
            f"baseline {baseline!r} is neither an execution id nor auto/none",
            hint="give --baseline EXEC, auto or none",
        )
    if baseline != AUTO:
        chosen = ops.status(baseline)
        if chosen.id == status.id:
            raise ShipyardError(
                f"the baseline {baseline} is the execution analysed itself",
                hint="give an earlier execution, auto or none",
            )
        return chosen, f"asked for: {chosen.id}"
    return _auto_baseline(ops, status)


def _auto_baseline(ops: Core, status: ExecutionStatus) -> tuple[ExecutionStatus | None, str]:
    """The previous successful execution of the same pipeline (registered name, else spec
    name) with the same parameters."""
    if status.pipeline:
        what, found = f"pipeline '{status.pipeline}'", {"pipeline": status.pipeline}
    else:
        what, found = f"spec '{status.name}'", {"name": status.name}
    # Its own row is dropped by id: created_at went through a datetime and may come back a
    # microsecond later than the stored float.
    earlier = [
        entry
        for entry in ops.store.execution_history(
            **found, succeeded_only=True, before=status.created_at.timestamp(), limit=500
        )
        if entry.execution_id != status.id
    ]
    for entry in earlier:
        if entry.parameters == status.parameters:
            chosen = ops.store.get_execution(entry.execution_id)
            if chosen is not None:
                return chosen, (
                    f"the previous successful execution of {what} with the same parameters"
                )
    others = len(earlier)
    return None, (
        f"no earlier successful execution of {what} with the same parameters"
        + (f" ({others} with other parameters)" if others else "")
    )


def _plan_of(status: ExecutionStatus) -> Plan | None:
    """The plan the execution ran (its graph and reservations); None if it cannot be read
    (the analysis then has no critical path beyond single steps, rather than failing)."""
    from shipyard.plan.codec import read_plan

    try:
        return read_plan(Path(status.run_dir) / "plan.json")
    except (ShipyardError, OSError, ValueError, KeyError, TypeError):
        return None


def _step_facts(
    status: ExecutionStatus,
    attempts: list[Attempt],
    plan: Plan | None,
    base: ExecutionStatus | None,
) -> list[StepFacts]:
    from shipyard.findings import StepFacts

    planned = {step.name: step for step in plan.steps} if plan else {}
    before = {
        unit.name: unit.duration_seconds
        for unit in (base.units if base else [])
        if unit.state == UnitState.SUCCEEDED
    }
    facts = []
    for unit in status.units:
        if unit.kind != "step":
            continue
        mine = [attempt for attempt in attempts if attempt.unit == unit.name]
        step = planned.get(unit.name)
        facts.append(
            StepFacts(
                name=unit.name,
                state=unit.state.value,
                duration_seconds=unit.duration_seconds,
                cpu_seconds=_sum(a.resources.cpu_seconds for a in mine),
                rss_peak_bytes=_most(a.resources.rss_peak_bytes for a in mine),
                cpu_percent_peak=_most(a.resources.cpu_percent_peak for a in mine),
                attempts=unit.attempts,
                failed_attempts=[a.reason or "failed" for a in mine if a.state == UnitState.FAILED],
                memory_reserved=step.resources.memory if step else None,
                cpus_reserved=step.resources.cpus if step else None,
                baseline_seconds=before.get(unit.name),
            )
        )
    return facts


def _sum(values: Iterable[float | None]) -> float | None:
    measured = [value for value in values if value is not None]
    return round(sum(measured), 4) if measured else None


def _most(values: Iterable[_N | None]) -> _N | None:
    measured = [value for value in values if value is not None]
    return max(measured) if measured else None


def _wall_seconds(status: ExecutionStatus, now: float) -> float | None:
    if status.started_at is None:
        return None
    end = status.ended_at or datetime.fromtimestamp(now, UTC)
    return round((end - status.started_at).total_seconds(), 6)


def _cpu_seconds(attempts: list[Attempt]) -> float | None:
    return _sum(attempt.resources.cpu_seconds for attempt in attempts)


def _failures(status: ExecutionStatus) -> dict[str, str]:
    return {
        unit.name: unit.reason or "failed"
        for unit in status.units
        if unit.state == UnitState.FAILED
    }


def _stats(values: list[float]) -> DurationStats:
    from shipyard.alerts import percentile
    from shipyard.analysis import DurationStats

    def rounded(q: float) -> float | None:
        found = percentile(values, q)
        return round(found, 6) if found is not None else None

    return DurationStats(len(values), rounded(50), rounded(95), rounded(99))


def _write_html(
    report: AnalysisReport, html: str, attempts: list[Attempt], now: datetime
) -> AnalysisReport:
    import dataclasses

    from shipyard.report import write_report

    target = Path(html).expanduser().resolve()
    written = write_report(report, attempts, target, now=now)
    return dataclasses.replace(report, html_path=str(written))
