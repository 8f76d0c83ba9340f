"""The operations API: the one surface every front end uses (CLI, Python, MCP, REST).

``Operations`` is a Protocol composed of narrow ones (specs, executions, fleets, agents,
checkpoints, logs, maintenance); :class:`shipyard.local.LocalOperations` implements it with the
engine and the store in this process, and :func:`shipyard.connect` is how a front end gets one.
Every argument and result survives a JSON round trip (:mod:`shipyard.wire`): a spec is a path
or its text, progress is an event stream (:meth:`Executions.events`) rather than a callback,
and logs are read and followed through :meth:`Logs.logs` — so the same surface can be served
over a network. Results are typed records (dataclasses, and the plan), so a front end renders
them or dumps them as JSON (``shipyard.models.to_jsonable``) and has no logic of its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shipyard.environments import EnvironmentInfo  # light (no I/O at import): wire reads it
from shipyard.models import (
    Artifact,
    ArtifactChunk,
    Event,
    ExecutionState,
    ExecutionStatus,
    ExecutionSummary,
    GateApproval,
    UnitStatus,
)

if TYPE_CHECKING:  # the plan models pull in the spec models; status commands need neither
    from shipyard.agents import DiscoveredAgent
    from shipyard.analysis import AnalysisReport, MonitorSnapshot, PipelineHistory
    from shipyard.checkpoint import Checkpoint
    from shipyard.mlregistry import ModelInfo, ModelVersion, StageChange
    from shipyard.pipelinemetrics import PipelineMetrics
    from shipyard.plan.model import Plan, RunMode
    from shipyard.recovery import RebuildReport, StoreCheck
    from shipyard.registry import PipelineInfo
    from shipyard.rollout.status import RolloutView
    from shipyard.sweep import SweepReport, SweepSettings
    from shipyard.templates import IndexRepo, TemplateInfo


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class ValidationReport:
    path: str
    valid: bool
    name: str | None = None
    steps: int = 0
    parameters: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    services: int = 0


@dataclass(frozen=True, slots=True)
class LogLine:
    unit: str
    #: 1-based line number in what is kept of the unit's log (rotated files first); None for
    #: lines read from the end (``tail``), whose position is not counted from the start.
    number: int | None
    text: str
    #: Filled when lines are placed in time (``merge``, ``since`` or ``annotate``): the time
    #: the line is placed at, and where it comes from — ``"line"``: written in the line
    #: itself; ``"inferred"``: the line states none (or one outside its unit's run), so it
    #: takes its unit's previous line's time, or the unit's start (see docs/cli.md, logs).
    time: datetime | None = None
    time_source: str | None = None
    #: Filled when levels are read (``level`` or ``annotate``): debug, info, warning, error or
    #: critical, stated by the line or carried over from the unit's previous line that stated
    #: one (a traceback's lines keep its error); None: neither.
    level: str | None = None


@dataclass(frozen=True, slots=True)
class StopReport:
    """What a stop does (or did): the units it cuts and those that will never start."""

    execution_id: str
    running: list[str]  # running now: they finish within the grace, or are stopped
    never_start: list[str]  # pending or waiting to retry: they will not run
    force: bool = False
    grace: float = 0.0
    state: ExecutionState | None = None  # the execution's state afterwards (None: not acted)


@dataclass(frozen=True, slots=True)
class CleanedRun:
    execution_id: str
    paths: list[str]  # relative to the run directory
    bytes: int
    records: bool = False  # the execution's store records went too (level complete)


@dataclass(frozen=True, slots=True)
class CleanReport:
    level: str
    dry_run: bool
    runs: list[CleanedRun]
    skipped: list[str] = field(default_factory=list)  # active executions left alone

    @property
    def total_bytes(self) -> int:
        return sum(run.bytes for run in self.runs)


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Events of one execution after a cursor: what :meth:`Executions.events` returns.

    ``cursor`` is where the next call starts (``after=cursor``); ``finished`` says the
    execution had ended when the batch was read, so a follower that has this batch has every
    event there will ever be.
    """

    execution_id: str
    events: list[Event]
    cursor: int
    finished: bool


#: How a spec reaches an operation: ``spec`` is its path; or, with ``spec_text``, its text, and
#: ``spec`` only names it in messages (``name:line``) and in the execution's record.
SpecName = str | Path


class Specs(Protocol):
    """Reading specs: nothing runs."""

    def validate(self, spec: SpecName, *, spec_text: str | None = None) -> ValidationReport: ...

    def plan(
        self,
        spec: SpecName,
        params: Mapping[str, Any] | None = None,
        *,
        spec_text: str | None = None,
        mode: RunMode = "normal",
        max_parallel: int | None = None,
    ) -> Plan: ...

    def preview_ports(self, plan: Plan) -> dict[str, int]:
        """The port each service would get if the fleet came up now."""

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the spec file."""


class Executions(Protocol):
    """Starting, watching and stopping executions.

    ``detach``: hand the execution to a supervisor process and return as soon as it runs.
    ``hold``: prepare the execution (its record and run folder) and return it pending, so the
    caller can note where its events start before :meth:`start` drives it — how a front end
    shows a foreground run live without a callback crossing the API.
    """

    def run(
        self,
        spec: SpecName,
        params: Mapping[str, Any] | None = None,
        *,
        spec_text: str | None = None,
        mode: RunMode = "normal",
        max_parallel: int | None = None,
        detach: bool = False,
        hold: bool = False,
        resume_from: str | None = None,
        checkpoint_every: float | None = None,
    ) -> ExecutionStatus:
        """Run to the end in this process and return the final status (or see ``detach``,
        ``hold`` above)."""

    def resume(
        self,
        execution_id: str,
        *,
        force: bool = False,
        detach: bool = False,
        hold: bool = False,
        params: Mapping[str, Any] | None = None,
    ) -> ExecutionStatus:
        """Continue a failed, cancelled or lost execution: what succeeded is kept. ``params``
        gives its secret parameters again (never stored; else ``$SHIPYARD_PARAM_<NAME>``)."""

    def start(self, execution_id: str, *, detach: bool = False) -> ExecutionStatus:
        """Drive an execution prepared with ``hold=True`` (by this same object) to its end."""

    def status(self, execution_id: str | None = None) -> ExecutionStatus:
        """One execution's status; the latest execution when no id is given."""

    def list_executions(
        self, *, active_only: bool = False, name: str | None = None, limit: int = 50
    ) -> list[ExecutionSummary]: ...

    def events(self, execution_id: str, *, after: int = 0, limit: int | None = None) -> EventBatch:
        """The execution's events after cursor ``after`` (0: from its first), oldest first.
        Events are committed in batches (every 200 ms while it runs), so a follower polls."""

    def stop_impact(self, execution_id: str) -> StopReport:
        """What :meth:`stop` would cut and skip, without acting."""

    def stop(
        self,
        execution_id: str,
        *,
        force: bool = False,
        grace: float = 30.0,
        wait: bool = True,
        reason: str = "stopped by `shipyard stop`",
    ) -> StopReport:
        """Stop a running execution (gracefully within ``grace``, or ``force``: at once);
        ``reason`` is recorded as why it ended."""


class Fleets(Protocol):
    """Services: bringing a fleet up and acting on its services while it runs."""

    def up(
        self,
        spec: SpecName,
        params: Mapping[str, Any] | None = None,
        *,
        spec_text: str | None = None,
        detach: bool = False,
        hold: bool = False,
    ) -> ExecutionStatus:
        """Bring a fleet up (and run its spec's steps beside it); its services stay up until
        :meth:`Executions.stop`. In this process it returns once the fleet is down again."""

    def wait_healthy(self, execution_id: str, *, timeout: float = 300.0) -> ExecutionStatus:
        """Wait until every service of a fleet is healthy, or the fleet has ended."""

    def latest_fleet(self, *, active: bool) -> str:
        """The newest execution that has services (a running one, if ``active``)."""

    def restart_service(self, execution_id: str, service: str) -> UnitStatus:
        """Restart one service through its restart policy; returns once it is healthy."""

    def service_stop(self, execution_id: str, service: str) -> UnitStatus:
        """Stop one service of a running fleet; it stays down until :meth:`service_start`."""

    def service_start(self, execution_id: str, service: str) -> UnitStatus:
        """Start a stopped (or failed) service again; returns once it is healthy."""


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """One agent of a folder, by name, as ATOLL's deployment server shows it: ``state`` is
    ``discovered`` (found, not running), ``deployed`` (its process runs: ``pid``, ``port``,
    ``health``), ``failed`` (its fleet gave it up: ``problem`` says why) or ``invalid`` (its
    file is wrong: ``problem``). ``execution_id``: the fleet it runs (or last ran) in."""

    name: str
    state: str
    folder: str
    file: str
    problem: str | None = None
    execution_id: str | None = None
    pid: int | None = None
    port: int | None = None
    url: str | None = None
    health: str | None = None
    restarts: int = 0
    started_at: datetime | None = None


class Agents(Protocol):
    """Agent folders (one agent per subfolder) deployed as one fleet, or agent by agent by
    name (each such agent a fleet of its own, so deploying one never touches the others)."""

    # command: the start command template ({name}, {folder}, {file}, {port}) of the agent files
    # without one (default: ATOLL's); servers: ATOLL's deployment_servers.json (default: the
    # folder's, if any). No docstring: the OpenAPI summary is its first line.
    def agents_discover(
        self,
        folder: str | Path,
        *,
        command: str | None = None,
        servers: str | Path | None = None,
    ) -> list[DiscoveredAgent]: ...

    def agents_deploy(
        self,
        folder: str | Path,
        *,
        max_agents: int | None = None,
        wait: bool = True,
        command: str | None = None,
        servers: str | Path | None = None,
    ) -> ExecutionStatus: ...

    def agents_fleet(self, folder: str | Path, *, active: bool = True) -> str:
        """The (running, if ``active``) fleet deployed from ``folder``."""

    # -- by name (issue 13: agents by name) --------------------------------------------------

    def agents_list(self, folder: str | Path) -> list[AgentInfo]:
        """Every agent of ``folder`` with its state (discovered, deployed, failed, invalid)."""

    def agent_status(self, folder: str | Path, name: str) -> AgentInfo:
        """One agent of ``folder`` by name."""

    def agent_deploy(
        self,
        folder: str | Path,
        name: str,
        *,
        max_agents: int | None = None,
        wait: bool = True,
        command: str | None = None,
        servers: str | Path | None = None,
    ) -> AgentInfo:
        """Start one agent of ``folder`` (a fleet of its own; the others keep running); refused
        when ``max_agents`` of the folder's agents run already. ``wait``: until healthy."""

    def agent_undeploy(self, folder: str | Path, name: str, *, grace: float = 30.0) -> AgentInfo:
        """Stop one deployed agent of ``folder`` (within ``grace`` seconds); the others stay."""

    def agent_restart(self, folder: str | Path, name: str) -> AgentInfo:
        """Restart one deployed agent of ``folder``: a new process, returned once healthy."""


class Artifacts(Protocol):
    """What steps hand each other, and the quality gates on their metrics (issue 15 §1-2)."""

    def artifacts(self, execution_id: str, step: str | None = None) -> list[Artifact]:
        """The files the steps' declared outputs left (of ``step`` only, if given): path in
        the step's artifacts folder, size, SHA-256."""

    def artifact_read(self, execution_id: str, step: str, artifact: str) -> Iterator[ArtifactChunk]:
        """The bytes of one artifact (its path in the step's artifacts folder, as listed),
        streamed in chunks; refused for a path leading out of that folder."""

    def gate_approve(
        self,
        execution_id: str,
        step: str,
        *,
        reason: str,
        approved_by: str | None = None,
    ) -> GateApproval:
        """Pass a step's failed gate on purpose: the step counts as succeeded (its dependants
        run at the next :meth:`Executions.resume`); who (``approved_by``, default $USER), why
        and when are recorded."""


class Checkpoints(Protocol):
    def checkpoint_create(self, execution_id: str) -> Checkpoint: ...

    def checkpoint_list(self, execution_id: str | None = None) -> list[Checkpoint]: ...

    def checkpoint_restore(
        self,
        checkpoint_id: str,
        *,
        detach: bool = False,
        hold: bool = False,
        params: Mapping[str, Any] | None = None,
    ) -> ExecutionStatus:
        """A new execution from a checkpoint (``detach``, ``hold``: as for ``run``)."""


class Logs(Protocol):
    def logs(
        self,
        execution_id: str,
        unit: str | None = None,
        *,
        tail: int | None = None,
        grep: str | None = None,
        follow: bool = False,
        level: str | None = None,
        since: str | None = None,
        merge: bool = False,
        annotate: bool = False,
    ) -> Iterator[LogLine]:
        """A unit's (or every unit's) log lines, streamed: memory does not grow with the log.
        ``follow``: then the new lines as they are written, until the units have finished.
        ``merge``: every unit's lines in one stream by time (each unit's own order kept);
        ``level``: that level and above (``warning``: warnings, errors, critical); ``since``: a
        duration ago (``10m``) or an ISO 8601 time; ``annotate``: each line's time and level
        filled in (``merge`` and ``since`` fill the time, ``level`` the level)."""


class Maintenance(Protocol):
    """Disk space and the state database."""

    def clean(
        self,
        execution_id: str | None = None,
        *,
        pipeline: str | None = None,
        all_finished: bool = False,
        level: str = "standard",
        preserve_logs: bool = False,
        preserve_outputs: bool | None = None,
        dry_run: bool = False,
    ) -> CleanReport:
        """Move what ``level`` removes from finished run directories to the trash."""

    def clean_undo(self, execution_id: str) -> CleanedRun:
        """Put back what the latest clean of ``execution_id`` moved to the trash; a
        registered pipeline's name means its execution cleaned last."""

    def clean_purge(self) -> int:
        """Empty the trash for good; returns the bytes freed."""

    def check_store(self) -> StoreCheck:
        """Is the state database sound, and has every run folder a record? Reads only."""

    def rebuild_store(self) -> RebuildReport:
        """Set the state database aside and rebuild it from the run folders."""


class Pipelines(Protocol):
    """Named pipelines: a spec registered under a name, its content kept in the store. ``run``,
    ``plan``, ``validate`` take the name where they take a spec; ``status``, ``stop``,
    ``clean`` where they take an execution id (the name's latest execution)."""

    def pipeline_add(
        self, name: str, spec: SpecName, *, spec_text: str | None = None, replace: bool = False
    ) -> PipelineInfo:
        """Register a valid spec under ``name`` (``replace``: over an existing one)."""

    def pipeline_list(self) -> list[PipelineInfo]: ...

    def pipeline_show(self, name: str) -> PipelineInfo: ...

    def pipeline_remove(self, name: str) -> PipelineInfo:
        """Forget a pipeline (its executions stay); returns what it was."""

    def pipeline_set(
        self, name: str, defaults: Mapping[str, Any], *, unset: list[str] | None = None
    ) -> PipelineInfo:
        """Store parameter defaults that override the spec's (checked against its types and
        choices); ``unset`` drops stored ones."""

    def pipeline_step_add(
        self, name: str, step: str, definition: Mapping[str, Any]
    ) -> PipelineInfo:
        """Add a step (its spec mapping, as in the YAML); the result must validate."""

    def pipeline_step_remove(self, name: str, step: str) -> PipelineInfo: ...

    def pipeline_step_replace(
        self, name: str, step: str, definition: Mapping[str, Any]
    ) -> PipelineInfo: ...

    def pipeline_validate(self, name: str) -> ValidationReport: ...

    def pipeline_spec(self, name: str) -> str:
        """The registered spec's text (after edits)."""


class Environments(Protocol):
    """Named environments (docs/hpc.md, "Environments"): variables captured from a shell by a
    front end and kept in the home; a spec's ``environment: NAME`` applies one to its units."""

    def environment_save(
        self, name: str, variables: Mapping[str, str], *, from_modules: list[str] | None = None
    ) -> EnvironmentInfo:
        """Keep ``variables`` under ``name`` (over an earlier one of that name);
        ``from_modules``: those of them a module system set."""

    def environment_list(self) -> list[EnvironmentInfo]: ...

    def environment_show(self, name: str) -> EnvironmentInfo: ...

    def environment_remove(self, name: str) -> EnvironmentInfo:
        """Forget an environment; returns what it was. Specs naming it fail to plan after."""


class Sweeps(Protocol):
    """Parameter sweeps: one real execution per point of a parameter matrix."""

    def sweep(
        self,
        spec: SpecName,
        settings: SweepSettings | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        spec_text: str | None = None,
        detach: bool = False,
        resume: str | None = None,
    ) -> SweepReport:
        """Run every point (``settings`` None: the spec's ``sweep:`` block) and return the
        result; ``detach``: start it in the background and return at once. ``resume``: an
        earlier sweep whose succeeded points (by parameter hash) are kept."""

    def sweep_status(self, sweep_id: str | None = None) -> SweepReport:
        """A sweep's points, statistics and best point; the latest sweep when no id."""

    def sweep_list(self, *, limit: int = 50) -> list[SweepReport]: ...

    def sweep_stop(self, sweep_id: str) -> SweepReport:
        """Start no more points and stop the running ones."""

    def sweep_plot(self, sweep_id: str, path: str, *, metric: str | None = None) -> str:
        """Plot a metric against each swept parameter as PNG at ``path``; returns the path."""


class Templates(Protocol):
    """The template index: ``run`` takes ``index:REPO/NAME`` where it takes a spec."""

    def index_add(self, name: str, source: str) -> IndexRepo:
        """Add a repository of templates: a local folder or a git URL (cloned)."""

    def index_list(self) -> list[IndexRepo]: ...

    def index_remove(self, name: str) -> IndexRepo: ...

    def index_update(self, name: str | None = None) -> list[IndexRepo]:
        """Pull the git repositories again (one, or all)."""

    def index_templates(self, repo: str | None = None) -> list[TemplateInfo]: ...

    def index_show(self, ref: str) -> TemplateInfo:
        """One template, ``REPO/NAME``."""


class Analysis(Protocol):
    """Watching a run as it goes, judging it once it ended, and a pipeline's record."""

    def monitor(self, execution_id: str | None = None) -> MonitorSnapshot:
        """One snapshot of a running (or finished) execution; a front end asks again."""

    def analyze(
        self,
        execution_id: str | None = None,
        *,
        baseline: str | None = "auto",
        html: str | None = None,
        cores: int | None = None,
    ) -> AnalysisReport:
        """Critical path, bottlenecks, efficiency, failures, deltas against ``baseline``
        ("auto": the previous success with the same parameters), recommendations; ``html``:
        also write a report there."""

    def history(self, name: str, *, limit: int = 100) -> PipelineHistory:
        """A pipeline's executions (by registered or spec name), success rate, percentiles."""


class PipelineMeasures(Protocol):
    """A pipeline's record over time (issue 15 §3)."""

    def pipeline_metrics(
        self,
        name: str,
        *,
        since: str | None = None,
        limit: int = 1000,
        chart: str | None = None,
    ) -> PipelineMetrics:
        """Success and failure rates, p50/p95/p99 durations overall and per step, runs per
        day and anomalies (robust z-score past 3.5, with their figures) of the executions of
        ``name`` (registered pipeline or spec name) since ``since`` (a duration ago or an ISO
        8601 time); ``chart``: also draw the durations over time (.png or .html)."""


class Models(Protocol):
    """The model registry (issue 15 §4): versions of a model's file or folder, stored by
    content under the home, with the step that made them, their metrics and stages."""

    def model_register(
        self,
        name: str,
        path: str,
        *,
        source: str | None = None,
        metrics: Mapping[str, float] | None = None,
        metrics_from: str | None = None,
    ) -> ModelVersion:
        """Store ``path`` (a file or folder) as the next version of ``name``, in staging;
        ``source``/``metrics_from``: an ``EXEC/STEP`` (checked to exist)."""

    def model_list(self) -> list[ModelInfo]: ...

    def model_show(self, name: str, *, version: int | None = None) -> ModelInfo: ...

    def model_promote(self, name: str, version: int) -> StageChange:
        """Put ``version`` in production; the previous production version is archived."""

    def model_rollback(self, name: str, *, version: int | None = None) -> StageChange:
        """Production goes back to the previous production version (or ``version``)."""

    def model_path(
        self, name: str, *, stage: str = "production", version: int | None = None
    ) -> str:
        """Where the registry keeps the file or folder of ``version``, else of the latest
        version in ``stage``."""


class Rollouts(Protocol):
    """Canary rollouts of a running fleet's services (issue 15 §5): the new version beside the
    stable one behind a measuring proxy, promoted or rolled back on its KPIs."""

    def rollout_start(
        self,
        execution_id: str,
        service: str,
        *,
        env: Mapping[str, str] | None = None,
        wait: bool = False,
        timeout: float = 3600.0,
    ) -> RolloutView:
        """Start the service with ``env`` changed as a canary; returns once it has begun
        (``wait``: once promoted, rolled back or aborted, within ``timeout`` seconds)."""

    def rollout_promote(self, execution_id: str, service: str) -> RolloutView:
        """Skip the remaining steps: the canary becomes the service, the old version stops."""

    def rollout_abort(self, execution_id: str, service: str) -> RolloutView:
        """Traffic back to the stable version at once, the canary stopped."""

    def rollout_status(self, execution_id: str, service: str | None = None) -> list[RolloutView]:
        """The latest rollout of each service with ``rollout:`` (or of ``service``)."""


class Operations(
    Specs,
    Executions,
    Fleets,
    Agents,
    Artifacts,
    Checkpoints,
    Logs,
    Maintenance,
    Pipelines,
    Environments,
    Sweeps,
    Templates,
    Analysis,
    PipelineMeasures,
    Models,
    Rollouts,
    Protocol,
):
    """Everything Shipyard can be asked to do. Errors a user can cause raise ShipyardError."""

    def close(self) -> None:
        """Let go of what the implementation holds open (a database, a connection)."""
