"""The tools beyond the seed's twelve: specs, executions, fleets and agents, named pipelines
and their editing, sweeps, the template index, history and maintenance — each a few lines over
one operation of :class:`shipyard.api.Operations`."""

from __future__ import annotations

import base64
from typing import Any

from shipyard.agents import DiscoveredAgent
from shipyard.analysis import PipelineHistory
from shipyard.api import (
    AgentInfo,
    CleanedRun,
    EventBatch,
    Operations,
    StopReport,
    ValidationReport,
)
from shipyard.environments import EnvironmentInfo
from shipyard.errors import ShipyardError
from shipyard.mcpserver.outputs import OutputRule
from shipyard.mcpserver.records import ArtifactContent, PlanSummary, Purged, RunResult
from shipyard.mcpserver.seed_tools import (
    MAX_WAIT_SECONDS,
    Mode,
    Params,
    bounded_wait,
    plan_summary,
    started,
    wait_for,
)
from shipyard.mcpserver.toolkit import Kind, Reporter, tool
from shipyard.models import Artifact, ExecutionStatus, ExecutionSummary, GateApproval, UnitStatus
from shipyard.recovery import RebuildReport, StoreCheck
from shipyard.registry import PipelineInfo
from shipyard.sweep import SweepReport
from shipyard.templates import IndexRepo, TemplateInfo

# -- specs and executions --------------------------------------------------------------------------


@tool(Kind.READ, "Validate a spec")
def validate_spec(ops: Operations, spec: str, spec_text: str | None = None) -> ValidationReport:
    """Check a spec (a path, a registered name, index:REPO/NAME, or spec_text) and report
    every problem with its line and a hint."""
    return ops.validate(spec, spec_text=spec_text)


@tool(Kind.READ, "Plan a run")
def plan_pipeline(
    ops: Operations,
    pipeline_name: str,
    parameters: Params | None = None,
    execution_mode: Mode = "normal",
    spec_text: str | None = None,
) -> PlanSummary:
    """What a run would do: steps, stages, critical path, parameters, service ports."""
    return plan_summary(ops, pipeline_name, parameters, execution_mode, spec_text)


@tool(Kind.READ, "The spec's JSON Schema")
def spec_schema(ops: Operations, part: str | None = None) -> dict[str, Any]:
    """The JSON Schema of the spec file, a part at a time: without ``part``, its top level and
    the name and keys of each part (``$defs``); with ``part`` (e.g. ``StepSpec``), that part's
    schema. Whole, it is longer than one answer may be."""
    schema = ops.schema()
    parts: dict[str, Any] = schema.get("$defs", {})
    if part is None:
        top = {key: value for key, value in schema.items() if key != "$defs"}
        top["parts"] = {name: sorted(body.get("properties", {})) for name, body in parts.items()}
        top["more"] = "spec_schema(part=NAME) answers one part's schema; $ref names a part"
        return top
    if part not in parts:
        raise ShipyardError(
            f"the spec's schema has no part '{part}'",
            hint=f"its parts are: {', '.join(sorted(parts))}",
        )
    return {"part": part, "schema": parts[part]}


@tool(Kind.READ, "List executions")
def list_executions(
    ops: Operations, active_only: bool = False, name: str | None = None, limit: int = 50
) -> list[ExecutionSummary]:
    """Executions, newest first (active_only: running ones; name: of one pipeline)."""
    return ops.list_executions(active_only=active_only, name=name, limit=limit)


@tool(Kind.READ, "Execution events")
def get_execution_events(
    ops: Operations, execution_id: str, after: int = 0, limit: int | None = 500
) -> EventBatch:
    """An execution's events after the cursor after (0: from the first); call again with the
    returned cursor to follow it."""
    return ops.events(execution_id, after=after, limit=limit)


@tool(Kind.START, "Resume an execution")
def resume_execution(
    ops: Operations,
    report: Reporter,
    execution_id: str,
    force: bool = False,
    background: bool = False,
    parameters: Params | None = None,
) -> ExecutionStatus:
    """Continue a failed, cancelled or lost execution: what succeeded is kept."""
    return started(
        ops,
        report,
        lambda: ops.resume(execution_id, force=force, detach=True, params=parameters),
        background=background,
    )


# -- fleets and agents -----------------------------------------------------------------------------


@tool(Kind.START, "Bring a fleet up")
def up(
    ops: Operations,
    report: Reporter,
    pipeline_name: str,
    parameters: Params | None = None,
    wait_healthy: bool = True,
    timeout: float = MAX_WAIT_SECONDS,
) -> RunResult:
    """Bring a fleet's services up (they stay up until down); waits until every service is
    healthy (timeout: 0-50 seconds, then an error while the fleet goes on starting; ps
    shows it) unless wait_healthy is false."""
    bounded_wait(timeout, "timeout")  # a call never waits long: proxies cut calls near a minute
    status = ops.up(pipeline_name, parameters, detach=True)
    if wait_healthy:
        report(0, 1, f"{status.name}: waiting for its services to be healthy")
        status = ops.wait_healthy(status.id, timeout=timeout)
        report(1, 1, f"{status.name}: {status.state.value}")
    return RunResult(dry_run=False, execution=status)


@tool(Kind.DESTROY, "Bring a fleet down")
def down(ops: Operations, execution_id: str | None = None, grace: float = 30.0) -> StopReport:
    """Stop a fleet's services in reverse start order (the id, or the running fleet)."""
    target = execution_id or ops.latest_fleet(active=True)
    return ops.stop(target, grace=grace, reason="brought down by the MCP down tool")


@tool(Kind.READ, "A fleet's services")
def ps(ops: Operations, execution_id: str | None = None) -> list[UnitStatus]:
    """A fleet's services: state, port, URL, health, restarts (the latest fleet's)."""
    return ops.status(execution_id or ops.latest_fleet(active=False)).units


@tool(Kind.DESTROY_ONCE, "Restart a service")
def restart_service(ops: Operations, service: str, execution_id: str | None = None) -> UnitStatus:
    """Restart one service of a running fleet; returns once it is healthy."""
    return ops.restart_service(execution_id or ops.latest_fleet(active=True), service)


@tool(Kind.DESTROY, "Stop a service")
def service_stop(ops: Operations, service: str, execution_id: str | None = None) -> UnitStatus:
    """Stop one service of a running fleet; it stays down until service_start."""
    return ops.service_stop(execution_id or ops.latest_fleet(active=True), service)


@tool(Kind.CHANGE, "Start a service")
def service_start(ops: Operations, service: str, execution_id: str | None = None) -> UnitStatus:
    """Start a stopped (or failed) service of a running fleet; returns once it is healthy."""
    return ops.service_start(execution_id or ops.latest_fleet(active=True), service)


@tool(Kind.READ, "Discover agents")
def agents_discover(ops: Operations, folder: str) -> list[DiscoveredAgent]:
    """The agents of a folder (one per subfolder), each valid or with its problem."""
    return ops.agents_discover(folder)


@tool(Kind.START, "Deploy agents")
def agents_deploy(
    ops: Operations, folder: str, max_agents: int | None = None, wait: bool = True
) -> ExecutionStatus:
    """Deploy a folder's agents as one fleet (wait: until healthy)."""
    return ops.agents_deploy(folder, max_agents=max_agents, wait=wait)


@tool(Kind.DESTROY, "Undeploy agents")
def agents_undeploy(ops: Operations, folder: str, grace: float = 30.0) -> StopReport:
    """Bring down the running fleet deployed from folder."""
    fleet = ops.agents_fleet(folder, active=True)
    return ops.stop(fleet, grace=grace, reason="undeployed by the MCP agents_undeploy tool")


# Agents by name, as ATOLL's deployment server has them: each a fleet of its own.


@tool(Kind.READ, "List agents")
def agents_list(ops: Operations, folder: str) -> list[AgentInfo]:
    """Every agent of a folder by name: discovered, deployed (pid, port, health), failed or
    invalid (with the problem)."""
    return ops.agents_list(folder)


@tool(Kind.READ, "Agent status")
def agent_status(ops: Operations, folder: str, name: str) -> AgentInfo:
    """One agent of a folder by name, with its process, port and health when deployed."""
    return ops.agent_status(folder, name)


@tool(Kind.START, "Deploy an agent")
def agent_deploy(
    ops: Operations, folder: str, name: str, max_agents: int | None = None, wait: bool = True
) -> AgentInfo:
    """Start one agent of a folder by name (the others keep running); refused when max_agents
    of the folder's agents run already. wait: until it is healthy."""
    return ops.agent_deploy(folder, name, max_agents=max_agents, wait=wait)


@tool(Kind.DESTROY, "Undeploy an agent")
def agent_undeploy(ops: Operations, folder: str, name: str, grace: float = 30.0) -> AgentInfo:
    """Stop one deployed agent of a folder by name; the others keep running."""
    return ops.agent_undeploy(folder, name, grace=grace)


@tool(Kind.DESTROY_ONCE, "Restart an agent")
def agent_restart(ops: Operations, folder: str, name: str) -> AgentInfo:
    """Restart one deployed agent of a folder by name; returns once it is healthy again."""
    return ops.agent_restart(folder, name)


# -- named pipelines -------------------------------------------------------------------------------


@tool(Kind.CHANGE, "Register a pipeline")
def pipelines_add(
    ops: Operations,
    name: str,
    spec_path: str | None = None,
    spec_text: str | None = None,
    replace: bool = False,
) -> PipelineInfo:
    """Register a valid spec (a file, or its text) under name; replace: over an existing one."""
    if spec_path is None and spec_text is None:
        raise ShipyardError("pipelines_add needs spec_path or spec_text", hint="the spec to keep")
    return ops.pipeline_add(name, spec_path or f"{name}.yaml", spec_text=spec_text, replace=replace)


@tool(Kind.READ, "List pipelines")
def pipelines_list(ops: Operations) -> list[PipelineInfo]:
    """Every registered pipeline."""
    return ops.pipeline_list()


@tool(Kind.READ, "Show a pipeline")
def pipelines_show(ops: Operations, name: str) -> PipelineInfo:
    """A pipeline: steps, services, parameters as a typed menu, stored defaults."""
    return ops.pipeline_show(name)


@tool(Kind.DESTROY, "Remove a pipeline")
def pipelines_remove(ops: Operations, name: str) -> PipelineInfo:
    """Forget a registered pipeline (its executions stay)."""
    return ops.pipeline_remove(name)


@tool(Kind.CHANGE, "Set parameter defaults")
def pipelines_set(
    ops: Operations,
    name: str,
    defaults: Params | None = None,
    unset: list[str] | None = None,
) -> PipelineInfo:
    """Store parameter defaults (checked against the spec's types and choices); unset drops
    stored ones."""
    return ops.pipeline_set(name, defaults or {}, unset=unset)


@tool(Kind.CHANGE, "Add a step")
def pipelines_step_add(
    ops: Operations, name: str, step: str, definition: dict[str, Any]
) -> PipelineInfo:
    """Add a step (its spec mapping, as in the YAML) to a registered pipeline."""
    return ops.pipeline_step_add(name, step, definition)


@tool(Kind.DESTROY, "Remove a step")
def pipelines_step_remove(ops: Operations, name: str, step: str) -> PipelineInfo:
    """Remove a step of a registered pipeline (the result must still validate)."""
    return ops.pipeline_step_remove(name, step)


@tool(Kind.DESTROY, "Replace a step")
def pipelines_step_replace(
    ops: Operations, name: str, step: str, definition: dict[str, Any]
) -> PipelineInfo:
    """Replace a step's definition in a registered pipeline."""
    return ops.pipeline_step_replace(name, step, definition)


@tool(Kind.READ, "Validate a pipeline")
def pipelines_validate(ops: Operations, name: str) -> ValidationReport:
    """Validate a registered pipeline's spec (after its edits)."""
    return ops.pipeline_validate(name)


@tool(Kind.READ, "A pipeline's spec")
def pipelines_spec(ops: Operations, name: str) -> str:
    """The registered spec's YAML text (after edits)."""
    return ops.pipeline_spec(name)


@tool(Kind.READ, "A pipeline's history")
def history(ops: Operations, name: str, limit: int = 100) -> PipelineHistory:
    """A pipeline's executions with success rate and p50/p95/p99 durations, per step too."""
    return ops.history(name, limit=limit)


# -- sweeps ----------------------------------------------------------------------------------------


@tool(Kind.READ, "A sweep's results")
def sweep_status(ops: Operations, sweep_id: str | None = None) -> SweepReport:
    """A sweep's points, statistics per parameter value and best point (the latest sweep)."""
    return ops.sweep_status(sweep_id)


@tool(Kind.READ, "List sweeps")
def sweep_list(ops: Operations, limit: int = 50) -> list[SweepReport]:
    """Sweeps, newest first."""
    return ops.sweep_list(limit=limit)


@tool(Kind.DESTROY, "Stop a sweep")
def sweep_stop(ops: Operations, sweep_id: str) -> SweepReport:
    """Start no more points of a sweep and stop its running ones."""
    return ops.sweep_stop(sweep_id)


@tool(Kind.CHANGE, "Plot a sweep")
def sweep_plot(
    ops: Operations, sweep_id: str, path: str, metric: str | None = None, *, files: OutputRule
) -> str:
    """Plot a metric against each swept parameter as a PNG at path (.png; a relative path
    lands in the home's reports/ folder, an absolute one must be in the home or the server's
    working folder; only a previous report is replaced); returns the path written."""
    return ops.sweep_plot(sweep_id, str(files.place(path, "plot")), metric=metric)


# -- the template index ----------------------------------------------------------------------------


@tool(Kind.CHANGE, "Add an index repository")
def index_add(ops: Operations, name: str, source: str) -> IndexRepo:
    """Add a repository of templates: a local folder or a git URL (cloned)."""
    return ops.index_add(name, source)


@tool(Kind.READ, "List index repositories")
def index_list(ops: Operations) -> list[IndexRepo]:
    """The index's repositories (the builtin one first)."""
    return ops.index_list()


@tool(Kind.DESTROY, "Remove an index repository")
def index_remove(ops: Operations, name: str) -> IndexRepo:
    """Remove a repository from the index."""
    return ops.index_remove(name)


@tool(Kind.CHANGE, "Update index repositories")
def index_update(ops: Operations, name: str | None = None) -> list[IndexRepo]:
    """Pull the index's git repositories again (one, or all)."""
    return ops.index_update(name)


@tool(Kind.READ, "List templates")
def index_templates(ops: Operations, repository: str | None = None) -> list[TemplateInfo]:
    """The templates of one repository, or of all."""
    return ops.index_templates(repository)


@tool(Kind.READ, "Show a template")
def index_show(ops: Operations, ref: str) -> TemplateInfo:
    """One template, REPO/NAME: description, parameters, minimum Shipyard version."""
    return ops.index_show(ref)


# -- maintenance -----------------------------------------------------------------------------------


@tool(Kind.CHANGE, "Undo a clean")
def clean_undo(ops: Operations, execution_id: str) -> CleanedRun:
    """Put back what the latest clean of an execution moved to the trash (execution_id may
    be a registered pipeline's name: its execution cleaned last)."""
    return ops.clean_undo(execution_id)


@tool(Kind.DESTROY_ONCE, "Empty the trash")
def clean_purge(ops: Operations) -> Purged:
    """Empty the trash for good (cleans can no longer be undone); returns the bytes freed."""
    return Purged(ops.clean_purge())


@tool(Kind.READ, "Check the store")
def store_check(ops: Operations) -> StoreCheck:
    """Is the state database sound, and has every run folder a record? Reads only."""
    return ops.check_store()


@tool(Kind.DESTROY_ONCE, "Rebuild the store")
def store_rebuild(ops: Operations) -> RebuildReport:
    """Set the state database aside and rebuild it from the run folders."""
    return ops.rebuild_store()


__all__ = ["wait_for"]


# -- artifacts between steps and quality gates (issue 15 §1-2) ---------------------------------

#: The most bytes of an artifact ``artifact_read`` returns (an assistant reads, it does not copy).
MAX_ARTIFACT_BYTES = 256 * 1024


@tool(Kind.READ, "List artifacts")
def artifacts_list(ops: Operations, execution_id: str, step: str | None = None) -> list[Artifact]:
    """The files the steps' declared outputs left (of one step, if given): path in the step's
    artifacts folder, size and SHA-256."""
    return ops.artifacts(execution_id, step)


@tool(Kind.READ, "Read an artifact")
def artifact_read(
    ops: Operations, execution_id: str, step: str, path: str, max_bytes: int = 64 * 1024
) -> ArtifactContent:
    """The first max_bytes (at most 256 KiB) of one artifact, as text when it is UTF-8, else
    base64; a path leading out of the step's artifacts folder is refused."""
    limit = max(1, min(max_bytes, MAX_ARTIFACT_BYTES))
    read = bytearray()
    truncated = False
    for chunk in ops.artifact_read(execution_id, step, path):
        read += chunk.raw
        if len(read) > limit or (len(read) == limit and not chunk.last):
            truncated = True
            break
    data = bytes(read[:limit])
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    encoded = None if text is not None else base64.b64encode(data).decode("ascii")
    return ArtifactContent(step, path, len(data), truncated, text=text, base64=encoded)


@tool(Kind.DESTROY, "Approve a failed gate")
def gate_approve(ops: Operations, execution_id: str, step: str, reason: str) -> GateApproval:
    """Pass a gated step's failed quality gate on purpose (recorded with who and why): it counts
    as succeeded, and resume_execution then runs its dependants. Needs confirm=true."""
    from shipyard.operations.artifacts import approver

    return ops.gate_approve(execution_id, step, reason=reason, approved_by=approver(None))


# -- named environments (issue 16 §4) ------------------------------------------------------------


@tool(Kind.DESTROY, "Save a named environment")
def environments_save(ops: Operations, name: str, variables: dict[str, str]) -> EnvironmentInfo:
    """Keep variables (PATH, LD_LIBRARY_PATH, …) under name, over an earlier one of that name;
    a spec's environment: name applies them. `shipyard env capture` takes them from a shell."""
    return ops.environment_save(name, variables)


@tool(Kind.READ, "List named environments")
def environments_list(ops: Operations) -> list[EnvironmentInfo]:
    """Every named environment with its variables."""
    return ops.environment_list()


@tool(Kind.READ, "Show a named environment")
def environments_show(ops: Operations, name: str) -> EnvironmentInfo:
    """One named environment: its variables and when it was captured."""
    return ops.environment_show(name)


@tool(Kind.DESTROY, "Remove a named environment")
def environments_remove(ops: Operations, name: str) -> EnvironmentInfo:
    """Forget a named environment; specs naming it fail to plan after."""
    return ops.environment_remove(name)
