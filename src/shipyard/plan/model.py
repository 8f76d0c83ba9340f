"""The plan: a spec with parameters applied, resolved and ordered. Pure data, no I/O.

Frozen dataclasses, not Pydantic models: a plan is built from an already validated spec, and the
engine must be able to load a cached plan without importing Pydantic at all (see
:mod:`shipyard.plan.cache`). Its versioned JSON form is :mod:`shipyard.plan.codec`'s (``encode``,
``decode``), generated from these classes: a field added here is written and read back with no
other change (and a test makes you raise the format number).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Literal

RunMode = Literal["normal", "debug", "profile", "test"]
FailureStrategy = Literal["fail_fast", "continue"]
ParameterValue = str | int | float | bool
SlurmMode = Literal["job", "allocation"]


@dataclass(frozen=True, slots=True)
class RetrySettings:
    count: int = 0
    backoff: float = 1.0
    max_backoff: float = 60.0
    jitter: bool = True


@dataclass(frozen=True, slots=True)
class ResourceRequest:
    cpus: float | None = None
    memory: int | None = None


@dataclass(frozen=True, slots=True)
class CheckpointSettings:
    paths: list[str]
    signal: str | None = None
    ready_file: str | None = None
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class GateSettings:
    """A quality gate: ``metric op threshold`` must hold for the step's last attempt."""

    metric: str
    op: str  # >=, >, <=, <, ==, !=
    threshold: float


@dataclass(frozen=True, slots=True)
class LogLimit:
    """A unit's log is rotated once larger than ``max_size``; ``keep`` copies are kept."""

    max_size: int
    keep: int = 3


@dataclass(frozen=True, slots=True)
class HostEntry:
    """A host of the spec's ``hosts`` (issue 16): ``name`` is how the spec (``host:``) and
    ``status`` call it; ``address`` is what ssh connects to (a name its config knows, or an
    address); ``user`` and ``port`` as written (``user@address:port``), None: ssh's own."""

    name: str
    address: str
    user: str | None = None
    port: int | None = None


@dataclass(frozen=True, slots=True)
class SshSettings:
    """How the ssh runner reaches the hosts: ``config`` an ssh_config file (``ssh -F``), extra
    ``options`` (``-o Key=Value`` each), the connect timeout, and how long the shared connection
    (ControlMaster) stays open once idle."""

    config: str | None = None
    options: list[str] = field(default_factory=list)
    connect_timeout: float = 10.0
    persist: float = 60.0


@dataclass(frozen=True, slots=True)
class MpiSettings:
    """A step run with ``mpirun`` over its hosts: ``nprocs`` ranks in all, ``ppn`` per host
    (None: as mpirun places them), ``extra`` arguments to mpirun."""

    nprocs: int
    ppn: int | None = None
    extra: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SlurmSettings:
    """A unit run by Slurm: each as its own ``sbatch`` job (``mode: job``), or every step of the
    run inside one allocation with ``srun`` per step (``mode: allocation``)."""

    mode: SlurmMode = "job"
    partition: str | None = None
    time: str | None = None  # Slurm's own form: minutes, MM:SS, HH:MM:SS, D-HH
    nodes: int | None = None
    ntasks: int | None = None
    account: str | None = None
    extra: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PlannedCommand:
    """A command ready to exec: ``argv`` is final (a shell command is ``/bin/sh -c …``)."""

    argv: list[str]
    shell: bool = False

    @property
    def display(self) -> str:
        return self.argv[-1] if self.shell else shlex.join(self.argv)


@dataclass(frozen=True, slots=True)
class StopSettings:
    """A unit's stop: ``command`` first (while it runs), then ``signal`` to every process of
    it, SIGKILL once ``timeout`` has passed since the stop began."""

    signal: str = "TERM"
    timeout: float = 10.0
    command: PlannedCommand | None = None


@dataclass(frozen=True, slots=True)
class PlannedStep:
    name: str
    command: PlannedCommand
    needs: list[str]
    env: dict[str, str]  # the step's own variables, spec env and SHIPYARD_PARAM_* included
    workdir: str
    stage: int
    description: str = ""
    timeout: float | None = None
    retries: RetrySettings = field(default_factory=RetrySettings)
    resources: ResourceRequest = field(default_factory=ResourceRequest)
    stop: StopSettings = field(default_factory=StopSettings)
    enabled: bool = True
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    checkpoint: CheckpointSettings | None = None
    needs_services: list[str] = field(default_factory=list)  # waited for until healthy
    #: env entries that use a secret parameter, as the spec wrote them (``env`` shows them
    #: masked); the engine alone fills them in (see shipyard.plan.secrets)
    secret_env: dict[str, str] = field(default_factory=dict)
    runner: str = "local"  # where it runs: a key of the executors' runners
    gates: list[GateSettings] = field(default_factory=list)  # checked once it succeeded
    host: str = ""  # the HostEntry.name it runs on (ssh), or "" (local, slurm)
    hosts: list[str] = field(default_factory=list)  # an MPI step's hosts (names), in order
    mpi: MpiSettings | None = None
    slurm: SlurmSettings | None = None
    #: exit codes that count as success (``success_exit_codes``), sorted
    success_exit_codes: list[int] = field(default_factory=lambda: [0])


@dataclass(frozen=True, slots=True)
class HealthSettings:
    http: str | None = None
    tcp: bool = False
    exec: list[str] | None = None
    a2a: bool = False
    log_line: str | None = None  # a line containing it appeared in the log since the start
    initial_delay: float = 0.0
    interval: float = 1.0
    start_interval: float | None = None  # until healthy; None: interval
    timeout: float = 1.0
    failure_threshold: int = 3
    success_threshold: int = 1


@dataclass(frozen=True, slots=True)
class RestartSettings:
    policy: str = "on-failure"
    max_restarts: int = 3
    backoff: float = 1.0
    max_backoff: float = 30.0
    reset_after: float = 60.0


@dataclass(frozen=True, slots=True)
class RolloutSettings:
    """A canary rollout: the canary's share at each step, how long each step's KPIs must hold
    (``kpis`` are gates on what the proxy measures), and the requests a window needs."""

    steps: list[int] = field(default_factory=lambda: [10, 50, 100])
    interval: float = 30.0
    kpis: list[GateSettings] = field(default_factory=list)
    min_requests: int = 20
    strategy: str = "canary"


@dataclass(frozen=True, slots=True)
class PlannedService:
    name: str
    command: PlannedCommand
    env: dict[str, str]
    workdir: str
    stage: int
    port: int | str | None = None  # a number, "auto" (chosen at start), or None (no port)
    health: HealthSettings | None = None
    readiness_timeout: float = 60.0
    restart: RestartSettings = field(default_factory=RestartSettings)
    stop: StopSettings = field(default_factory=StopSettings)
    #: unit → condition: started | healthy (a service), completed_successfully (a step)
    depends_on: dict[str, str] = field(default_factory=dict)
    connects_to: list[str] = field(default_factory=list)
    description: str = ""
    secret_env: dict[str, str] = field(default_factory=dict)  # as PlannedStep's
    runner: str = "local"  # as PlannedStep's
    rollout: RolloutSettings | None = None  # a canary rollout behind a proxy on its port
    host: str = ""  # as PlannedStep's
    #: checked once it is healthy; failing it restarts it (``health`` then gates readiness only)
    liveness: HealthSettings | None = None
    #: exit codes that count as success: restart policy on-failure keeps it down after one
    success_exit_codes: list[int] = field(default_factory=lambda: [0])


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything needed to run, and to show what would run."""

    name: str
    spec_path: str | None
    spec_digest: str
    mode: RunMode
    parameters: dict[str, ParameterValue]
    env: dict[str, str]  # spec-level variables and SHIPYARD_PARAM_*
    max_parallel: int
    failure_strategy: FailureStrategy
    timeout: float | None
    sample_interval: float
    prepare: list[PlannedCommand]
    cleanup: list[PlannedCommand]
    steps: list[PlannedStep]
    stages: list[list[str]]
    critical_path: list[str]
    #: Sum of the mean durations of earlier runs along the critical path; None without history.
    critical_path_seconds: float | None = None
    description: str = ""
    checkpoint_interval: float | None = None
    keep_checkpoints: int | None = None
    services: list[PlannedService] = field(default_factory=list)
    service_stages: list[list[str]] = field(default_factory=list)  # start order of the fleet
    base_port: int = 8100
    on_service_failure: str = "keep-running"
    #: With steps and services: keep the services up once the steps are done (``up``), rather
    #: than bringing them down and ending with the steps' outcome (``run``).
    stay_up: bool = False
    #: unit → its log size limit (units without one are not here)
    log_limits: dict[str, LogLimit] = field(default_factory=dict)
    #: Parameters declared ``secret: true``: ``parameters`` shows them masked, ``secret_env``
    #: holds the templates of the spec-level env entries using them (see shipyard.plan.secrets)
    secrets: list[str] = field(default_factory=list)
    secret_env: dict[str, str] = field(default_factory=dict)
    #: The spec's hosts (``hosts:``, a hostfile or a list) and how ssh reaches them (issue 16)
    hosts: list[HostEntry] = field(default_factory=list)
    ssh: SshSettings = field(default_factory=SshSettings)

    @property
    def kind(self) -> str:
        """pipeline (steps only), fleet (services only) or mixed."""
        if not self.services:
            return "pipeline"
        return "mixed" if self.steps else "fleet"

    def service(self, name: str) -> PlannedService:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def step(self, name: str) -> PlannedStep:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)


def with_history(plan: Plan, history: dict[str, float]) -> Plan:
    """The plan with its critical path weighed by the mean durations of earlier runs.

    Only when every step has a measured duration; otherwise the path is by step count and
    ``critical_path_seconds`` stays None (no invented figure).
    """
    from dataclasses import replace

    from shipyard.dag import critical_path

    needs = {step.name: step.needs for step in plan.steps}
    known = history if history and all(name in history for name in needs) else None
    path, length = critical_path(needs, known)
    return replace(plan, critical_path=path, critical_path_seconds=length if known else None)
