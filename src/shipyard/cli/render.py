"""Pure formatting of API results for the terminal. Nothing here runs or reads anything."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from shipyard.models import (
    ExecutionState,
    ExecutionStatus,
    ExecutionSummary,
    ResourceUsage,
    UnitState,
    UnitStatus,
)
from shipyard.spec.quantities import format_duration, format_size

if TYPE_CHECKING:
    from shipyard.api import ValidationReport
    from shipyard.plan.model import HealthSettings, Plan, PlannedService, PlannedStep

STATE_STYLE = {
    "succeeded": "green",
    "failed": "bold red",
    "running": "cyan",
    "retrying": "yellow",
    "pending": "dim",
    "skipped": "dim",
    "cancelled": "yellow",
    "disabled": "dim",
    "gated": "magenta",
    "lost": "bold magenta",
    "stopped": "dim",
    "healthy": "green",
    "unhealthy": "bold red",
    "starting": "yellow",
}


def state_text(state: UnitState | ExecutionState | str) -> Text:
    value = str(state.value if isinstance(state, UnitState | ExecutionState) else state)
    return Text(value, style=STATE_STYLE.get(value, ""))


def validation(report: ValidationReport) -> Text:
    from shipyard.wording import counted, counted_list

    if report.valid:
        # Only what the spec has: a fleet is "(2 services)", never "(0 steps)".
        parts = {"step": report.steps, "service": report.services}
        what = counted_list(parts | {"parameter": len(report.parameters)})
        return Text.assemble(("✓ ", "green"), f"{report.path}: '{report.name}' is valid ({what})")
    text = Text()
    text.append(f"✗ {report.path}: {counted(len(report.problems), 'problem')}\n", "bold red")
    for problem in report.problems:
        where = f"{problem.file}:{problem.line}:{problem.column}: " if problem.line else ""
        text.append(f"  {where}", "bold")
        text.append(f"{problem.message}\n")
        if problem.hint:
            text.append(f"    hint: {problem.hint}\n", "dim")
    text.rstrip()
    return text


def plan_table(plan: Plan) -> Table:
    from shipyard.wording import counted

    title = (
        f"plan: {plan.name} — {counted(len(plan.steps), 'step')} "
        f"in {counted(len(plan.stages), 'stage')}"
    )
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("stage", justify="right")
    table.add_column("step")
    table.add_column("needs")
    table.add_column("command", overflow="fold")
    table.add_column("limits")
    placed = any(step_runs_on(step) for step in plan.steps)
    if placed:
        table.add_column("runs on")
    critical = set(plan.critical_path)
    for stage_number, names in enumerate(plan.stages):
        for name in names:
            step = plan.step(name)
            limits = []
            if step.timeout is not None:
                limits.append(f"timeout {format_duration(step.timeout)}")
            if step.retries.count:
                limits.append(f"retries {step.retries.count}")
            if step.resources.cpus:
                limits.append(f"cpus {step.resources.cpus:g}")
            if step.resources.memory:
                limits.append(f"mem {format_size(step.resources.memory)}")
            label = Text(name, style="bold" if name in critical else "")
            if not step.enabled:
                label = Text(f"{name} (disabled)", style="dim")
            table.add_row(
                str(stage_number),
                label,
                ", ".join([*step.needs, *step.needs_services]) or "—",
                step.command.display,
                ", ".join(limits) or "—",
                *([step_runs_on(step) or "local"] if placed else []),
            )
    return table


def step_runs_on(step: PlannedStep) -> str:
    """Where a step would run, as ``plan`` shows it: ``ssh node01``, ``slurm`` (with its
    partition), ``mpirun, 4 ranks over n1, n2`` for an MPI step; "" for a plain local step."""
    parts = []
    if step.runner.startswith("ssh:"):
        parts.append(f"ssh {step.host or step.runner[4:]}")
    elif step.runner == "slurm":
        partition = step.slurm.partition if step.slurm is not None else None
        parts.append(f"slurm, partition {partition}" if partition else "slurm")
    elif step.runner != "local":
        parts.append(step.runner)
    if step.mpi is not None:
        from shipyard.wording import counted

        over = f" over {', '.join(step.hosts)}" if step.hosts else ""
        parts.append(f"mpirun, {counted(step.mpi.nprocs, 'rank')}{over}")
    return ", ".join(parts)


def service_runs_on(service: PlannedService) -> str:
    """Where a service would run: ``ssh node01``; "" for a local one."""
    if service.runner.startswith("ssh:"):
        return f"ssh {service.host or service.runner[4:]}"
    return "" if service.runner == "local" else service.runner


def services_plan_table(plan: Plan, ports: dict[str, int]) -> Table:
    """The fleet part of a plan: start stages, the ports and URLs the services would get now,
    whom each talks to and what it waits for."""
    title = f"services: {len(plan.services)} in {len(plan.service_stages)} start stages"
    table = Table(title=title, title_justify="left", expand=False)
    for column in ("stage", "service", "port", "url", "connects to", "waits for", "health"):
        table.add_column(column, justify="right" if column == "stage" else "left")
    placed = any(service_runs_on(service) for service in plan.services)
    if placed:
        table.add_column("runs on")
    for stage_number, names in enumerate(plan.service_stages):
        for name in names:
            service = plan.service(name)
            port = ports.get(name)
            shown = (
                "—" if port is None else f"{port} (auto)" if service.port == "auto" else str(port)
            )
            waits = [f"{dep} ({condition})" for dep, condition in service.depends_on.items()]
            table.add_row(
                str(stage_number),
                name,
                shown,
                f"http://127.0.0.1:{port}" if port else "—",
                ", ".join(service.connects_to) or "—",
                ", ".join(waits) or "—",
                _health(service),
                *([service_runs_on(service) or "local"] if placed else []),
            )
    return table


def _health(service: PlannedService) -> str:
    """Its readiness check, and its liveness check when it has one of its own."""
    ready = "started = healthy" if service.health is None else _check(service.health)
    if service.liveness is None:
        return ready
    return f"{ready}; liveness {_check(service.liveness)}"


def _check(health: HealthSettings) -> str:
    if health.http is not None:
        return f"http {health.http}"
    if health.exec is not None:
        return "exec " + " ".join(health.exec)
    if health.log_line is not None:
        return f"log line {health.log_line!r}"
    return "a2a card" if health.a2a else "tcp"


def deployment(plan: Plan) -> str:
    """How the fleet starts: "2 start stages (db → api, web)"."""
    from shipyard.wording import counted

    order = " → ".join(", ".join(stage) for stage in plan.service_stages)
    return f"{counted(len(plan.service_stages), 'start stage')} ({order})"


def plan_footer(plan: Plan) -> Text:
    from shipyard.spec.params import render_value
    from shipyard.wording import counted

    text = Text()
    # A bool as YAML spells it (flag=true), not as Python does (flag=True).
    params = ", ".join(f"{k}={render_value(v)}" for k, v in plan.parameters.items()) or "none"
    text.append(f"parameters: {params}\n")
    if plan.steps or not plan.services:
        text.append(
            f"mode: {plan.mode}   max_parallel: {plan.max_parallel}   "
            f"failure_strategy: {plan.failure_strategy}\n"
        )
    if plan.services:
        # A fleet's settings, not the steps' (max_parallel and failure_strategy do not apply).
        lead = "services" if plan.steps else f"mode: {plan.mode}   deployment"
        text.append(f"{lead}: {deployment(plan)}   on_service_failure: {plan.on_service_failure}\n")
    if not plan.steps:
        text.rstrip()
        return text
    path = " → ".join(plan.critical_path)
    if plan.critical_path_seconds is not None:
        text.append(
            f"critical path: {path} (≈{format_duration(plan.critical_path_seconds)} "
            "from the mean of earlier runs)"
        )
    else:
        text.append(
            f"critical path: {path} ({counted(len(plan.critical_path), 'step')}; "
            "no earlier runs to time it)"
        )
    for label, commands in (("prepare", plan.prepare), ("cleanup", plan.cleanup)):
        for command in commands:
            text.append(f"\n{label} hook: {command.display}")
    return text


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _elapsed(unit: UnitStatus | ExecutionSummary | ExecutionStatus, now: datetime) -> str:
    if unit.started_at is None:
        return "—"
    end = unit.ended_at or now
    return format_duration((end - unit.started_at).total_seconds())


def cpu_cells(usage: ResourceUsage) -> tuple[str, str]:
    """The CPU time and the sampled peak, each in a column of its own: one column that showed
    either ("0.00s cpu" here, "26% peak" there) compared nothing row to row."""
    seconds = "—" if usage.cpu_seconds is None else f"{usage.cpu_seconds:.2f}s"
    peak = "—" if usage.cpu_percent_peak is None else f"{usage.cpu_percent_peak:.0f}%"
    return seconds, peak


def _rss(usage: ResourceUsage) -> str:
    return format_size(usage.rss_peak_bytes) if usage.rss_peak_bytes else "—"


#: Above this many units, ``status`` lists only those that are not plainly done.
COMPACT_ABOVE = 40
_QUIET_STATES = (UnitState.SUCCEEDED, UnitState.DISABLED)


def status_table(status: ExecutionStatus, *, show_all: bool = False) -> Table:
    now = datetime.now(UTC)
    units = status.every_unit()  # the hooks too: `_prepare` first, `_cleanup` last
    hidden = 0
    if not show_all and len(units) > COMPACT_ABOVE:
        shown = [unit for unit in units if unit.state not in _QUIET_STATES]
        hidden = len(units) - len(shown)
        units = shown
    caption = (
        f"{hidden} succeeded or disabled units not shown (--all shows them)" if hidden else None
    )
    table = Table(expand=False, caption=caption, caption_justify="left")
    table.add_column("unit", no_wrap=True)
    placed = has_nodes(units)
    if placed:
        table.add_column("node", no_wrap=True)
    table.add_column("state")
    table.add_column("attempts", justify="right")
    table.add_column("exit", justify="right")
    table.add_column("time", justify="right")
    table.add_column("cpu time", justify="right")
    table.add_column("cpu peak", justify="right")
    table.add_column("peak rss", justify="right")
    table.add_column("note", overflow="fold")
    for unit in units:
        cpu_time, cpu_peak = cpu_cells(unit.resources)
        table.add_row(
            unit.name,
            *([node_cell(unit)] if placed else []),
            state_text(unit.state),
            str(unit.attempts or "—"),
            "—" if unit.exit_code is None else str(unit.exit_code),
            _elapsed(unit, now),
            cpu_time,
            cpu_peak,
            _rss(unit.resources),
            unit_note(unit),
        )
    return table


def has_nodes(units: list[UnitStatus]) -> bool:
    """Does some unit run off this machine? (``status`` and ``ps`` then have a node column.)"""
    return any(unit.node for unit in units)


def node_cell(unit: UnitStatus) -> str:
    """A unit's node, as the node column shows it: ``local`` for one that runs here."""
    return unit.node or "local"


def unit_note(unit: UnitStatus) -> str:
    """Why a unit is as it is: its reason, and for a service whose last health probe failed,
    what that probe saw (a status code, an agent card's mismatch, a connection error)."""
    note = unit.reason or ""
    if unit.probe_ok is False and unit.probe and unit.probe not in note:
        note = f"{note}; last probe: {unit.probe}" if note else f"last probe: {unit.probe}"
    return note


def probe_text(unit: UnitStatus) -> str:
    """The last probe, as ``ps`` shows it: ``ok``, what a failed one saw, or — before any."""
    if unit.probe_ok is None:
        return "—"
    return "ok" if unit.probe_ok else (unit.probe or "failed")


def metrics_table(status: ExecutionStatus, *, show_all: bool = False) -> Table | None:
    """What the steps reported through ``$SHIPYARD_METRICS``, oldest first (None when they
    reported nothing); above COMPACT_ABOVE rows only the latest, unless ``show_all``."""
    rows = status.metrics
    if not rows:
        return None
    hidden = 0
    if not show_all and len(rows) > COMPACT_ABOVE:
        hidden = len(rows) - COMPACT_ABOVE
        rows = rows[hidden:]
    caption = f"{hidden} earlier figures not shown (--all or --json shows them)" if hidden else None
    table = Table(title="metrics", title_justify="left", expand=False, caption=caption)
    table.caption_justify = "left"
    for column in ("step", "attempt", "name", "value", "unit"):
        table.add_column(column, justify="right" if column in ("attempt", "value") else "left")
    for metric in rows:
        table.add_row(
            metric.unit,
            str(metric.attempt),
            metric.name,
            figure(metric.value),
            metric.unit_label or "",
        )
    return table


def figure(value: float) -> str:
    """A reported value as a table shows it: whole numbers whole, others to 6 significant
    digits (``--json`` keeps every digit)."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def status_header(status: ExecutionStatus) -> Text:
    from shipyard.wording import counted

    now = datetime.now(UTC)
    text = Text()
    text.append(f"{status.id}  ", style="bold")
    text.append_text(state_text(status.state))
    services = [unit for unit in status.units if unit.kind == "service"]
    steps = [unit for unit in status.units if unit.kind == "step"]
    if services and not status.state.finished:
        healthy = sum(1 for u in services if u.health == "healthy" and not u.state.finished)
        text.append(f"   {healthy}/{len(services)} services healthy")
        if steps:
            done = sum(1 for u in steps if u.state.finished)
            text.append(f", {done}/{len(steps)} steps done")
        text.append(f"   up {_elapsed(status, now)}\n")
    elif services and not steps:
        text.append(f"   {counted(len(services), 'service')}   was up {_elapsed(status, now)}\n")
    else:
        text.append(
            f"   {status.progress.done}/{status.progress.total} units "
            f"({status.progress.percent:g}%)   elapsed {_elapsed(status, now)}\n"
        )
    spec = f"spec: {status.spec_path}"
    if status.pipeline:  # run as a registered pipeline: its name first, then the file it names
        spec = f"pipeline: {status.pipeline} ({status.spec_path})"
    text.append(f"{spec}   mode: {status.mode}   started {_when(status.started_at)}\n")
    text.append(f"run dir: {status.run_dir}")
    if not status.state.finished:
        if status.estimated_end is not None:
            left = (status.estimated_end - now).total_seconds()
            # Past it, how late — "(in 0ms)" told nothing (issue 11 §9).
            late = f"overdue by {format_duration(-left)}"
            when = f"in {format_duration(left)}" if left > 0 else late
            text.append(
                f"\nestimated end: {_when(status.estimated_end)} ({when}; {status.estimate_basis})"
            )
        elif status.estimate_basis:
            text.append(f"\nestimated end: unknown — {status.estimate_basis}", style="dim")
    if status.reason:
        text.append(f"\nreason: {status.reason}", style="yellow")
    _append_alerts(text, status)
    for approval in status.approvals:
        when = approval.at.strftime("%Y-%m-%d %H:%M:%S")
        text.append(
            f"\ngate approved: {approval.unit} by {approval.approved_by} at {when} UTC: "
            f"{approval.reason}",
            style="magenta",
        )
    return text


#: ``status`` shows at most this many alerts (the newest); ``--json`` has them all.
ALERTS_SHOWN = 10


def _append_alerts(text: Text, status: ExecutionStatus) -> None:
    """The units that passed a limit while they ran (issue 12 §4), newest last."""
    alerts = status.alerts
    if len(alerts) > ALERTS_SHOWN:
        text.append(f"\n… {len(alerts) - ALERTS_SHOWN} earlier alerts (--json has them)")
    for alert in alerts[-ALERTS_SHOWN:]:
        text.append(
            f"\nalert: {alert.unit} (attempt {alert.attempt}, {alert.kind}): {alert.message}",
            style="bold yellow",
        )


def executions_table(summaries: list[ExecutionSummary]) -> Table:
    now = datetime.now(UTC)
    table = Table(expand=False)
    table.add_column("execution", no_wrap=True)
    table.add_column("state")
    table.add_column("progress", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("started")
    table.add_column("time", justify="right")
    for summary in summaries:
        table.add_row(
            summary.id,
            state_text(summary.state),
            f"{summary.progress.done}/{summary.progress.total}",
            str(summary.failed) if summary.failed else "—",
            _when(summary.started_at or summary.created_at),
            _elapsed(summary, now),
        )
    return table


def resource_table(status: ExecutionStatus) -> Table:
    """The profile-mode table: measured resources of every unit's last attempt."""
    table = Table(title="resources (measured)", title_justify="left", expand=False)
    for column in ("unit", "time", "cpu time", "cpu peak", "cpu mean", "rss peak", "rss mean"):
        table.add_column(column, justify="left" if column == "unit" else "right")
    table.add_column("read", justify="right")
    table.add_column("written", justify="right")
    table.add_column("samples", justify="right")
    now = datetime.now(UTC)
    for unit in status.units:
        usage = unit.resources

        def pct(value: float | None) -> str:
            return "—" if value is None else f"{value:.0f}%"

        def size(value: int | None) -> str:
            return "—" if value is None else format_size(value)

        table.add_row(
            unit.name,
            _elapsed(unit, now),
            "—" if usage.cpu_seconds is None else f"{usage.cpu_seconds:.2f}s",
            pct(usage.cpu_percent_peak),
            pct(usage.cpu_percent_mean),
            size(usage.rss_peak_bytes),
            size(usage.rss_mean_bytes),
            size(usage.read_bytes),
            size(usage.write_bytes),
            str(usage.samples),
        )
    return table


def services_table(status: ExecutionStatus) -> Table:
    now = datetime.now(UTC)
    table = Table(expand=False)
    placed = has_nodes(status.units)
    columns = ("service", "node", "state", "health", "pid", "port", "url", "restarts", "uptime")
    for column in columns if placed else [c for c in columns if c != "node"]:
        table.add_column(
            column, justify="right" if column in ("pid", "port", "restarts") else "left"
        )
    table.add_column("cpu peak", justify="right")  # a percentage only, in every row
    table.add_column("rss", justify="right")
    table.add_column("last probe", overflow="fold")
    for unit in status.units:
        cpu = cpu_cells(unit.resources)[1]
        rss = _rss(unit.resources)
        running = unit.state == UnitState.RUNNING
        table.add_row(
            unit.name,
            *([node_cell(unit)] if placed else []),
            state_text(unit.state),
            Text(unit.health or "—", style=STATE_STYLE.get(unit.health or "", "")),
            str(unit.pid or "—") if running else "—",
            str(unit.port or "—"),
            unit.url or "—",
            str(unit.restarts),
            _elapsed(unit, now) if running else "—",
            cpu if running else "—",
            rss if running else "—",
            probe_text(unit),
        )
    return table
