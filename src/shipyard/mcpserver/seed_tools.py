"""The seed's twelve deployment tools (Jarvis MCP phase 4), with its names and parameters,
each a few lines over :class:`shipyard.api.Operations` — no figure here is made up: every one
comes from an operation's record.

``pipeline_name`` is a registered pipeline, a spec path or ``index:REPO/NAME`` where a spec is
meant, and "the latest execution of that pipeline" where an execution is meant.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from shipyard.analysis import AnalysisReport
from shipyard.api import CleanReport, LogLine, Operations
from shipyard.errors import ShipyardError
from shipyard.mcpserver.outputs import OutputRule
from shipyard.mcpserver.records import (
    CheckpointResult,
    LogsResult,
    Monitoring,
    PlanSummary,
    RunResult,
    StopResult,
)
from shipyard.mcpserver.toolkit import Kind, Reporter, tool
from shipyard.models import ExecutionStatus, ResourceUsage
from shipyard.sweep import SweepReport, SweepSettings

Mode = Literal["normal", "debug", "profile", "test"]
Params = dict[str, str | int | float | bool]
#: How often a waited run or sweep is polled (its events are committed every 200 ms).
POLL_SECONDS = 0.5
#: The most log lines one call returns (``tail`` defaults to 200).
MAX_LOG_LINES = 5000
#: The longest a tool call waits (a run's end, a status change): proxies and clients cut
#: calls near a minute; past this the call answers and the assistant calls again.
MAX_WAIT_SECONDS = 50.0
#: How long a run tool waits for the run's end unless told (background: not at all).
RUN_WAIT_SECONDS = 20.0


# -- shared by the tools -------------------------------------------------------------------------


def execution_of(ops: Operations, execution_id: str | None, pipeline_name: str | None) -> str:
    """The execution meant: the id given, else the pipeline's latest, else the latest."""
    return execution_id or ops.status(pipeline_name).id


def wait_for(
    ops: Operations, execution_id: str, report: Reporter, seconds: float = RUN_WAIT_SECONDS
) -> ExecutionStatus:
    """Poll the execution until it has ended, or for ``seconds`` at most (then its status as
    it is: the run goes on, detached), reporting units done / total as progress. The first
    report, sent at once, names the execution."""
    deadline = time.monotonic() + bounded_wait(seconds)
    shown: tuple[int, int] | None = None
    while True:
        status = ops.status(execution_id)
        done, total = status.progress.done, status.progress.total
        if (done, total) != shown:
            message = f"{status.id} ({status.name}): {status.state.value}, {done}/{total} done"
            report(done, total, message)
            shown = (done, total)
        if status.state.finished or time.monotonic() >= deadline:
            return status
        report.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))


def bounded_wait(seconds: float, name: str = "wait_seconds") -> float:
    """A wait an assistant asked for (argument ``name``), refused outside 0..MAX_WAIT_SECONDS."""
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        raise ShipyardError(
            f"{name}={seconds} is out of range",
            hint=f"0 to {MAX_WAIT_SECONDS:g} seconds; call again to wait longer",
        )
    return seconds


def status_changed(before: ExecutionStatus, now: ExecutionStatus) -> bool:
    """Whether an assistant waiting on ``before`` has something new to see in ``now``."""
    if now.state != before.state or now.progress != before.progress:
        return True
    return [(u.name, u.state, u.attempts, u.health) for u in now.units] != [
        (u.name, u.state, u.attempts, u.health) for u in before.units
    ]


def plan_summary(
    ops: Operations, spec: str, params: Params | None, mode: Mode, spec_text: str | None = None
) -> PlanSummary:
    """What a run would do (the spec is read and planned; nothing runs)."""
    plan = ops.plan(spec, params, spec_text=spec_text, mode=mode)
    return PlanSummary(
        name=plan.name,
        mode=plan.mode,
        parameters={key: _scalar(value) for key, value in plan.parameters.items()},
        steps=[step.name for step in plan.steps],
        services=[service.name for service in plan.services],
        stages=plan.stages,
        critical_path=plan.critical_path,
        critical_path_seconds=plan.critical_path_seconds,
        ports=ops.preview_ports(plan) if plan.services else {},
    )


def _scalar(value: Any) -> str | int | float | bool | None:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def started(
    ops: Operations,
    report: Reporter,
    start: Callable[[], ExecutionStatus],
    *,
    background: bool,
    wait_seconds: float = RUN_WAIT_SECONDS,
) -> ExecutionStatus:
    """Start detached (the run lives in a supervisor process, not in this server), then wait
    for its end — ``wait_seconds`` at most — unless ``background``."""
    bounded_wait(wait_seconds)
    status = start()
    if background:
        report(0, status.progress.total, f"{status.id} ({status.name}): started")
        return status
    return wait_for(ops, status.id, report, wait_seconds)


def _run(
    ops: Operations,
    report: Reporter,
    spec: str,
    params: Params | None,
    *,
    mode: Mode,
    background: bool,
    dry_run: bool,
    spec_text: str | None = None,
    checkpoint_interval: float | None = None,
    wait_seconds: float = RUN_WAIT_SECONDS,
) -> RunResult:
    if dry_run:
        return RunResult(dry_run=True, plan=plan_summary(ops, spec, params, mode, spec_text))
    status = started(
        ops,
        report,
        lambda: ops.run(
            spec,
            params,
            spec_text=spec_text,
            mode=mode,
            detach=True,
            checkpoint_every=checkpoint_interval,
        ),
        background=background,
        wait_seconds=wait_seconds,
    )
    return RunResult(dry_run=False, execution=status)


# -- basic execution management ------------------------------------------------------------------


@tool(Kind.START, "Run a pipeline")
def run_pipeline(
    ops: Operations,
    report: Reporter,
    pipeline_name: str,
    execution_mode: Mode = "normal",
    background: bool = False,
    dry_run: bool = False,
    parameters: Params | None = None,
    checkpoint_interval: float | None = None,
    wait_seconds: float = RUN_WAIT_SECONDS,
) -> RunResult:
    """Run a pipeline: a registered name, a spec path or index:REPO/NAME. Waits for the end
    (progress notifications: units done/total, the first naming the execution at once) for
    wait_seconds at most (0-50; then its status, still running: call get_pipeline_status
    with wait_seconds to wait on), not at all with background; dry_run only plans it.
    checkpoint_interval: take an automatic checkpoint this many seconds apart while steps
    run (the spec's execution.checkpoint_interval otherwise)."""
    return _run(
        ops,
        report,
        pipeline_name,
        parameters,
        mode=execution_mode,
        background=background,
        dry_run=dry_run,
        checkpoint_interval=checkpoint_interval,
        wait_seconds=wait_seconds,
    )


@tool(Kind.DESTROY, "Stop an execution")
def stop_pipeline(
    ops: Operations,
    execution_id: str | None = None,
    pipeline_name: str | None = None,
    force: bool = False,
    cleanup: bool = False,
    grace: float = 30.0,
    dry_run: bool = False,
) -> StopResult:
    """Stop an execution (the id, or the pipeline's latest): gracefully within grace seconds,
    or at once with force; cleanup then cleans its run folder (standard level). dry_run: what
    the stop would cut, without acting."""
    if execution_id is None and pipeline_name is None:
        raise ShipyardError(
            "stop_pipeline needs execution_id or pipeline_name",
            hint="list_executions(active_only=true) shows what runs",
        )
    target = execution_of(ops, execution_id, pipeline_name)
    if dry_run:
        return StopResult(stop=ops.stop_impact(target))
    stopped = ops.stop(target, force=force, grace=grace, reason="stopped by the MCP stop_pipeline")
    cleaned: CleanReport | None = ops.clean(target) if cleanup else None
    return StopResult(stop=stopped, clean=cleaned)


@tool(Kind.DESTROY, "Clean run folders")
def clean_pipeline(
    ops: Operations,
    pipeline_name: str | None = None,
    execution_id: str | None = None,
    clean_level: Literal["minimal", "standard", "deep", "complete"] = "standard",
    preserve_logs: bool = False,
    preserve_outputs: bool | None = None,
    all_finished: bool = False,
    dry_run: bool = False,
) -> CleanReport:
    """Move what clean_level removes from finished run folders to the trash (clean_undo puts
    it back): one execution, a pipeline's executions, or all_finished."""
    return ops.clean(
        execution_id,
        pipeline=pipeline_name,
        all_finished=all_finished,
        level=clean_level,
        preserve_logs=preserve_logs,
        preserve_outputs=preserve_outputs,
        dry_run=dry_run,
    )


@tool(Kind.READ, "Execution status")
def get_pipeline_status(
    ops: Operations,
    report: Reporter,
    pipeline_name: str | None = None,
    execution_id: str | None = None,
    include_resource_usage: bool = True,
    include_node_status: bool = True,
    wait_seconds: float = 0.0,
) -> ExecutionStatus:
    """An execution's status (the id, the pipeline's latest, else the latest): state,
    progress, estimated end, metrics and, with include_node_status, every unit (with measured
    CPU and memory if include_resource_usage). wait_seconds (0-50): first wait until
    something changes (state, units done, a unit's state) or it has ended — instead of
    polling. A large run's units are summarised (counts by state, failures, slowest) and
    paged with cursor."""
    status = watch(ops, execution_id or pipeline_name, report, wait_seconds)
    if not include_node_status:
        return replace(status, units=[])
    if not include_resource_usage:
        return replace(status, units=[replace(u, resources=ResourceUsage()) for u in status.units])
    return status


def watch(ops: Operations, target: str | None, report: Reporter, seconds: float) -> ExecutionStatus:
    """The status now, or the first that differs from it within ``seconds``."""
    deadline = time.monotonic() + bounded_wait(seconds)
    first = status = ops.status(target)
    while not status.state.finished and time.monotonic() < deadline:
        report.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))
        status = ops.status(first.id)
        if status_changed(first, status):
            break
    return status


# -- advanced execution ----------------------------------------------------------------------------


@tool(Kind.START, "Run a YAML spec")
def run_pipeline_from_yaml(
    ops: Operations,
    report: Reporter,
    yaml_path: str | None = None,
    yaml_text: str | None = None,
    execution_mode: Mode = "normal",
    override_params: Params | None = None,
    dry_run: bool = False,
    background: bool = False,
    checkpoint_interval: float | None = None,
) -> RunResult:
    """Run a spec file (yaml_path) or spec text (yaml_text) with parameter overrides; as
    run_pipeline otherwise."""
    if (yaml_path is None) == (yaml_text is None):
        raise ShipyardError(
            "run_pipeline_from_yaml needs exactly one of yaml_path and yaml_text",
            hint="give the spec file's path, or its YAML as text",
        )
    return _run(
        ops,
        report,
        yaml_path or "mcp-input.yaml",
        override_params,
        mode=execution_mode,
        background=background,
        dry_run=dry_run,
        spec_text=yaml_text,
        checkpoint_interval=checkpoint_interval,
    )


@tool(Kind.START, "Parameter sweep")
def execute_pipeline_test(
    ops: Operations,
    report: Reporter,
    pipeline_name: str,
    parameter_sweep: dict[str, list[str | int | float | bool]] | None = None,
    test_configuration: dict[str, Any] | None = None,
    max_parallel_runs: int = 4,
    parameters: Params | None = None,
    background: bool = False,
    resume: str | None = None,
) -> SweepReport:
    """A parameter sweep: one real execution per point of parameter_sweep (the spec's sweep:
    block if none). test_configuration: zip (groups of parameters varied together), repeat,
    timeout_per_run (s), failure_threshold (0..1), objective ("metric:max"). Waits for the
    end (progress: points done/total), 50 s at most (then sweep_status follows it), unless
    background."""
    settings = sweep_settings(parameter_sweep, test_configuration, max_parallel_runs)
    sweep = ops.sweep(pipeline_name, settings, parameters, detach=True, resume=resume)
    if background:
        return sweep
    return wait_for_sweep(ops, sweep.id, report)


_SWEEP_KEYS = ("zip", "repeat", "timeout_per_run", "failure_threshold", "objective")


def sweep_settings(
    matrix: dict[str, list[str | int | float | bool]] | None,
    configuration: dict[str, Any] | None,
    max_parallel_runs: int,
) -> SweepSettings | None:
    """The sweep's settings from the seed's two arguments (None: the spec's sweep: block)."""
    extra = dict(configuration or {})
    unknown = sorted(set(extra) - set(_SWEEP_KEYS))
    if unknown:
        raise ShipyardError(
            f"test_configuration has unknown keys: {', '.join(unknown)}",
            hint="its keys: " + ", ".join(_SWEEP_KEYS),
        )
    problem = configuration_problem(extra)
    if problem is not None:
        raise problem
    if matrix is None:
        return None
    return SweepSettings(
        matrix=matrix,
        zip_groups=[list(group) for group in extra.get("zip", [])],
        repeat=int(extra.get("repeat", 1)),
        max_parallel_runs=max_parallel_runs,
        timeout_per_run=extra.get("timeout_per_run"),
        failure_threshold=extra.get("failure_threshold"),
        objective=extra.get("objective"),
    )


def configuration_problem(configuration: dict[str, Any]) -> ShipyardError | None:
    """What is wrong with the types of test_configuration's values, or None (their ranges
    are the sweep's to check). A value of another type once reached int()/float() and ended
    the call as an internal error; a zip given as one string was read as its letters."""
    zipped = configuration.get("zip", [])
    if not (
        isinstance(zipped, list)
        and all(
            isinstance(group, list) and all(isinstance(name, str) for name in group)
            for group in zipped
        )
    ):
        return _wrong("zip", zipped, "a list of groups of parameter names", '[["a", "b"]]')
    checks = (
        ("repeat", int, "a whole number", "2"),
        ("timeout_per_run", int | float, "a number of seconds", "1800"),
        ("failure_threshold", int | float, "a share between 0 and 1", "0.1"),
        ("objective", str, 'a text "METRIC:max" or "METRIC:min"', '"bw_mib:max"'),
    )
    for key, kind, what, example in checks:
        value = configuration.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
            return _wrong(key, value, what, example)
    return None


def _wrong(key: str, value: Any, what: str, example: str) -> ShipyardError:
    return ShipyardError(
        f"test_configuration {key}={json.dumps(value)[:80]} is not {what}",
        hint=f"for example {key}={example}",
    )


_SWEEP_ENDED = frozenset({"succeeded", "failed", "cancelled", "stopped_early"})


def wait_for_sweep(ops: Operations, sweep_id: str, report: Reporter) -> SweepReport:
    """Poll the sweep until it has ended, MAX_WAIT_SECONDS at most (then its report as it is:
    the sweep goes on, detached; sweep_status follows it)."""
    deadline = time.monotonic() + MAX_WAIT_SECONDS
    shown: tuple[int, int] | None = None
    while True:
        sweep = ops.sweep_status(sweep_id)
        total = len(sweep.points)
        done = sum(1 for point in sweep.points if point.state not in ("pending", "running"))
        if (done, total) != shown:
            report(done, total, f"sweep {sweep.id}: {sweep.state}, {done}/{total} points done")
            shown = (done, total)
        if sweep.state in _SWEEP_ENDED or time.monotonic() >= deadline:
            return sweep
        report.sleep(POLL_SECONDS)


@tool(Kind.START, "Run an index template")
def run_pipeline_from_index(
    ops: Operations,
    report: Reporter,
    index_name: str,
    repository: str = "builtin",
    execution_mode: Mode = "normal",
    parameter_overrides: Params | None = None,
    background: bool = False,
    dry_run: bool = False,
    checkpoint_interval: float | None = None,
) -> RunResult:
    """Run the template index_name of an index repository (index:REPOSITORY/INDEX_NAME; see
    index_templates); as run_pipeline otherwise."""
    return _run(
        ops,
        report,
        f"index:{repository}/{index_name}",
        parameter_overrides,
        mode=execution_mode,
        background=background,
        dry_run=dry_run,
        checkpoint_interval=checkpoint_interval,
    )


# -- monitoring and analysis -----------------------------------------------------------------------


@tool(Kind.READ, "Monitor an execution")
def monitor_pipeline_execution(
    ops: Operations,
    report: Reporter,
    execution_id: str | None = None,
    pipeline_name: str | None = None,
    monitoring_interval: float = 5.0,
    samples: int = 1,
    include_node_details: bool = True,
) -> Monitoring:
    """Snapshots of an execution (units, states, measured CPU and memory, alerts): samples of
    them (1-60), monitoring_interval seconds apart (0.2-60), ending early once it has ended."""
    if not 1 <= samples <= 60 or not 0.2 <= monitoring_interval <= 60:
        raise ShipyardError(
            f"samples={samples}, monitoring_interval={monitoring_interval} are out of range",
            hint="samples 1-60, monitoring_interval 0.2-60 seconds",
        )
    target = execution_of(ops, execution_id, pipeline_name)
    snapshots = []
    for number in range(1, samples + 1):
        snapshot = ops.monitor(target)
        snapshots.append(snapshot if include_node_details else replace(snapshot, units=[]))
        report(number, samples, f"snapshot {number}/{samples}: {snapshot.status.state.value}")
        if snapshot.status.state.finished or number == samples:
            break
        report.sleep(monitoring_interval)
    return Monitoring(execution_id=target, interval=monitoring_interval, snapshots=snapshots)


@tool(Kind.READ, "Analyse an execution")
def analyze_execution_results(
    ops: Operations,
    execution_id: str | None = None,
    pipeline_name: str | None = None,
    compare_with_baseline: bool = True,
    baseline: str | None = None,
    cores: int | None = None,
    html_path: str | None = None,
    *,
    files: OutputRule,
) -> AnalysisReport:
    """Critical path, bottlenecks, CPU efficiency, failures, per-step deltas against a
    baseline (baseline, else the previous success with the same parameters when
    compare_with_baseline) and recommendations quoting their figures; html_path: also a
    report with a Gantt timeline (.html; a relative path lands in the home's reports/
    folder, an absolute one must be in the home or the server's working folder)."""
    target = execution_of(ops, execution_id, pipeline_name)
    chosen = baseline or ("auto" if compare_with_baseline else None)
    html = str(files.place(html_path, "html")) if html_path is not None else None
    return ops.analyze(target, baseline=chosen, html=html, cores=cores)


@tool(Kind.READ, "Read execution logs")
def manage_execution_logs(
    ops: Operations,
    action: Literal["collect", "search", "export"] = "collect",
    execution_id: str | None = None,
    pipeline_name: str | None = None,
    unit: str | None = None,
    pattern: str | None = None,
    log_level: Literal["debug", "info", "warning", "error", "critical"] | None = None,
    since: str | None = None,
    tail: int | None = 200,
    output_path: str | None = None,
    output_format: Literal["jsonl", "json"] = "jsonl",
    overwrite: bool = False,
    *,
    files: OutputRule,
) -> LogsResult:
    """Log lines of an execution (the id, or the pipeline's latest): one unit's, or every
    unit's merged by time. collect: the last tail lines (1-5000); search: the last tail
    lines matching the regular expression pattern; export: also written to output_path (JSON
    lines, or a JSON list; .jsonl/.json; a relative path lands in the home's reports/
    folder, an absolute one must be in the home or the server's working folder), never over
    an existing file unless overwrite and it is a previous report. log_level: that level and above;
    since: "10m" ago or an ISO 8601 time (lines then carry their time and level, as merged
    ones do; one unit's tail is read from the end without). A long answer keeps the latest lines
    (truncated: true; cursor pages back)."""
    if tail is None or not 0 < tail <= MAX_LOG_LINES:
        raise ShipyardError(
            f"tail={tail}: a call returns the last 1 to {MAX_LOG_LINES} lines, never a whole log",
            hint="tail=200 (the default); a pattern finds older lines",
        )
    target = execution_of(ops, execution_id, pipeline_name)
    if action == "search" and not pattern:
        raise ShipyardError("the search action needs a pattern", hint="pattern='error|warn'")
    if action == "export" and not output_path:
        raise ShipyardError("the export action needs output_path", hint="output_path='logs.jsonl'")
    written = (
        files.place(output_path, "logs", overwrite=overwrite)
        if action == "export" and output_path
        else None
    )
    lines = ops.logs(
        target,
        unit,
        tail=tail,
        grep=pattern,
        level=log_level,
        since=since,
        merge=unit is None,
        # Placing lines in time reads a log from its start (a line's time may be its previous
        # line's): one unit's tail is read from the end instead, unless a filter needs times.
        annotate=unit is None or log_level is not None or since is not None,
    )
    kept = list(itertools.islice(lines, MAX_LOG_LINES + 1))
    truncated = len(kept) > MAX_LOG_LINES
    kept = kept[:MAX_LOG_LINES]
    if written is not None:
        _export(kept, written, output_format, overwrite=overwrite)
    return LogsResult(target, action, kept, len(kept), truncated, str(written) if written else None)


def _export(lines: list[LogLine], path: Path, output_format: str, *, overwrite: bool) -> None:
    from shipyard.models import to_jsonable

    rows = [to_jsonable(line) for line in lines]
    text = (
        json.dumps(rows, indent=2) + "\n"
        if output_format == "json"
        else "".join(json.dumps(row) + "\n" for row in rows)
    )
    try:
        with path.open("w" if overwrite else "x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError:
        raise ShipyardError(
            f"{path} exists already", hint="give another output_path, or overwrite=true"
        ) from None
    except OSError as error:
        raise ShipyardError(
            f"cannot write {path}: {error.strerror}", hint="give a path in a writable folder"
        ) from None


# -- advanced features -----------------------------------------------------------------------------


@tool(Kind.START, "Checkpoints")
def handle_checkpoint_restart(
    ops: Operations,
    report: Reporter,
    action: Literal["create", "list", "restore"],
    execution_id: str | None = None,
    checkpoint_id: str | None = None,
    background: bool = True,
) -> CheckpointResult:
    """create: checkpoint a running execution; list: its checkpoints (or every one); restore:
    a new execution from checkpoint_id (waited for unless background). There is no configure
    action: automatic checkpoints are set per run, by run_pipeline's checkpoint_interval
    (seconds) or the spec's execution.checkpoint_interval."""
    if action == "create":
        if execution_id is None:
            raise ShipyardError("create needs execution_id", hint="the running execution's id")
        return CheckpointResult(action, [ops.checkpoint_create(execution_id)])
    if action == "list":
        return CheckpointResult(action, ops.checkpoint_list(execution_id))
    if checkpoint_id is None:
        raise ShipyardError("restore needs checkpoint_id", hint="list shows the ids")
    status = started(
        ops,
        report,
        lambda: ops.checkpoint_restore(checkpoint_id, detach=True),
        background=background,
    )
    return CheckpointResult(action, execution=status)
