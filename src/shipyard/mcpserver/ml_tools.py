"""The tools of a pipeline's record over time, of the model registry and of canary rollouts
(issue 15 §3-5), each a few lines over one operation of :class:`shipyard.api.Operations`.
Promote, rollback and a rollout's promote or abort change which version serves: destructive,
so they act only with ``confirm=true`` (the server adds that parameter to every destructive
tool)."""

from __future__ import annotations

from shipyard.api import Operations
from shipyard.mcpserver.toolkit import Kind, tool
from shipyard.mlregistry import ModelInfo, ModelVersion, StageChange
from shipyard.pipelinemetrics import PipelineMetrics
from shipyard.rollout.status import RolloutView


@tool(Kind.READ, "A pipeline's metrics")
def pipeline_metrics(
    ops: Operations, name: str, since: str | None = None, limit: int = 1000
) -> PipelineMetrics:
    """Success and failure rates, p50/p95/p99 durations overall and per step, runs per day
    and anomalies (runs or steps whose robust z-score is past 3.5, with value, median, MAD and
    z) of the executions of a pipeline or spec name; since: a duration ago (7d) or ISO time."""
    return ops.pipeline_metrics(name, since=since, limit=limit)


@tool(Kind.START, "Register a model version")
def models_register(
    ops: Operations,
    name: str,
    path: str,
    source: str | None = None,
    metrics: dict[str, float] | None = None,
    metrics_from: str | None = None,
) -> ModelVersion:
    """Store the file or folder at path (on the server's machine) as the next version of
    model name, in staging; source: the EXEC/STEP that made it; metrics: its figures, or
    metrics_from: the EXEC/STEP whose reported metrics they are."""
    return ops.model_register(name, path, source=source, metrics=metrics, metrics_from=metrics_from)


@tool(Kind.READ, "List models")
def models_list(ops: Operations) -> list[ModelInfo]:
    """The registered models with their versions and which one is in production."""
    return ops.model_list()


@tool(Kind.READ, "Show a model")
def models_show(ops: Operations, name: str, version: int | None = None) -> ModelInfo:
    """A model's versions (digest, size, source, metrics, stage) and its stage changes with
    who made them and when; version: only that one."""
    return ops.model_show(name, version=version)


@tool(Kind.DESTROY, "Promote a model version")
def models_promote(ops: Operations, name: str, version: int) -> StageChange:
    """Put a version in production; the one in production until now is archived."""
    return ops.model_promote(name, version)


@tool(Kind.DESTROY_ONCE, "Roll a model back")
def models_rollback(ops: Operations, name: str, version: int | None = None) -> StageChange:
    """Production goes back to the version in production before the current one (or to
    version); the current one is archived. Each call goes back one more."""
    return ops.model_rollback(name, version=version)


@tool(Kind.READ, "A model's stored path")
def models_path(
    ops: Operations, name: str, stage: str = "production", version: int | None = None
) -> str:
    """Where the registry keeps the model's file or folder (of version, else of the latest
    version in stage), for a deploy step."""
    return ops.model_path(name, stage=stage, version=version)


@tool(Kind.START, "Start a canary rollout")
def rollout_start(
    ops: Operations, execution_id: str, service: str, env: dict[str, str] | None = None
) -> RolloutView:
    """Start a running fleet's service again with env changed, as a canary beside the running
    version behind the service's proxy: it takes the spec's rollout steps of the requests
    while its KPIs hold, then is promoted; a broken KPI rolls it back. Returns once begun."""
    return ops.rollout_start(execution_id, service, env=env)


@tool(Kind.READ, "A canary rollout's status")
def rollout_status(
    ops: Operations, execution_id: str, service: str | None = None
) -> list[RolloutView]:
    """The latest rollout of each service with rollout settings (or of service): state,
    the canary's share, the measured figures and reason of each decision, why it ended."""
    return ops.rollout_status(execution_id, service)


@tool(Kind.DESTROY, "Promote a canary")
def rollout_promote(ops: Operations, execution_id: str, service: str) -> RolloutView:
    """Skip the remaining steps: the canary becomes the service, the old version is stopped."""
    return ops.rollout_promote(execution_id, service)


@tool(Kind.DESTROY, "Abort a canary rollout")
def rollout_abort(ops: Operations, execution_id: str, service: str) -> RolloutView:
    """Every request back to the stable version at once; the canary is stopped."""
    return ops.rollout_abort(execution_id, service)
