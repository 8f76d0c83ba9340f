"""Building a plan from a loaded spec: parameters → templates → order → critical path."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from shipyard.dag import critical_path, stages
from shipyard.errors import ParameterError
from shipyard.plan.environments import Environments, with_environments
from shipyard.plan.model import (
    CheckpointSettings,
    FailureStrategy,
    GateSettings,
    HealthSettings,
    LogLimit,
    Plan,
    PlannedCommand,
    PlannedService,
    PlannedStep,
    ResourceRequest,
    RestartSettings,
    RetrySettings,
    RolloutSettings,
    RunMode,
    StopSettings,
    with_history,
)
from shipyard.plan.placement import placed_services, placed_steps, ssh_settings
from shipyard.plan.secrets import MASK, secret_templates, variable
from shipyard.spec.checks import spec_fleet
from shipyard.spec.loader import LoadedSpec
from shipyard.spec.models import (
    CheckpointSpec,
    HealthSpec,
    LogSettings,
    RolloutSpec,
    Scalar,
    Spec,
    StepSpec,
    StopPolicy,
)
from shipyard.spec.params import render_value, resolve_parameters
from shipyard.spec.pathchecks import resolved_path, resolved_workdir
from shipyard.spec.templating import INPUTS, PLACEHOLDER, substitute
from shipyard.topology import Fleet

SHELL = "/bin/sh"


def parameter_env(values: Mapping[str, Scalar]) -> dict[str, str]:
    """``SHIPYARD_PARAM_<NAME>`` for every parameter."""
    return {f"SHIPYARD_PARAM_{name.upper()}": render_value(v) for name, v in values.items()}


def resolve_command(run: list[str] | str, shell: bool, values: Mapping[str, str]) -> PlannedCommand:
    """Final argv. A string without ``shell`` is split like a shell would, but never run by one;
    templates are applied per word, so a value with spaces stays one argument."""
    if shell:
        assert isinstance(run, str)
        # The spec asked for a shell; values are quoted so each stays one word.
        argv = [SHELL, "-c", substitute(run, values, shell_quote=True)]
        return PlannedCommand(argv=argv, shell=True)  # noqa: S604 - a data field, not a call
    words = _split_keeping_placeholders(run) if isinstance(run, str) else run
    return PlannedCommand(argv=[substitute(word, values) for word in words])


def _split_keeping_placeholders(text: str) -> list[str]:
    """shlex.split, except that ``{{ name }}`` (which contains spaces) stays inside its word."""
    tokens: dict[str, str] = {}

    def protect(match: re.Match[str]) -> str:
        token = f"\x00{len(tokens)}\x00"
        tokens[token] = match.group(0)
        return token

    words = shlex.split(PLACEHOLDER.sub(protect, text))
    for token, original in tokens.items():
        words = [word.replace(token, original) for word in words]
    return words


def build_plan(
    loaded: LoadedSpec,
    overrides: Mapping[str, object] | None = None,
    *,
    mode: RunMode = "normal",
    cores: int = 1,
    max_parallel: int | None = None,
    history: Mapping[str, float] | None = None,
    environments: Environments | None = None,
) -> Plan:
    """Resolve ``loaded`` into a plan. ``history`` maps step → mean duration of earlier runs.

    Raises ParameterError for bad overrides. Does no I/O: ``cores`` comes from the caller, and
    ``environments`` (the home's named environments, name → variables) too.
    """
    spec = loaded.spec
    secrets = frozenset(name for name, parameter in spec.parameters.items() if parameter.secret)
    values = _resolve(spec, overrides or {}, secrets, test_mode=mode == "test")
    unit_context = _unit_context(spec, values, secrets, loaded.base_dir)
    text_values, common_env = unit_context.text_values, unit_context.common_env
    common_secret = unit_context.common_secret

    # Steps order among themselves; the services a step needs are waited for at run time.
    needs = {
        name: [dep for dep in step.needs if dep in spec.steps] for name, step in spec.steps.items()
    }
    # The fleet is resolved once: its replicas and start order serve the steps' needs too.
    fleet = spec_fleet(spec) if spec.services else None
    service_needs = _service_needs(spec, fleet) if fleet else {}
    levels = stages(needs)
    stage_of = {name: index for index, level in enumerate(levels) for name in level}

    steps = [
        _planned_step(
            name, step, unit_context, (needs[name], service_needs.get(name, [])), stage_of[name]
        )
        for name, step in spec.steps.items()
    ]

    services, service_stages = (
        _services(loaded, fleet, common_env, text_values, common_secret, secrets)
        if fleet
        else ([], [])
    )
    path, _ = critical_path(needs)
    hooks = spec.hooks
    steps = placed_steps(spec, loaded.hosts, steps)
    if fleet is not None:
        services = placed_services(spec, loaded.hosts, services, fleet.origin)
    steps, services, common_env = with_environments(
        loaded, steps, services, common_env, fleet.origin if fleet else {}, environments or {}
    )
    plan = Plan(
        name=spec.name,
        description=spec.description,
        spec_path=str(loaded.path) if loaded.path else None,
        spec_digest=loaded.digest,
        mode=mode,
        parameters=values,
        env=common_env,
        prepare=[resolve_command(h.run, h.shell, text_values) for h in hooks.prepare],
        cleanup=[resolve_command(h.run, h.shell, text_values) for h in hooks.cleanup],
        steps=steps,
        stages=levels,
        critical_path=path,
        services=services,
        service_stages=service_stages,
        log_limits=log_limits(spec, fleet),
        **_execution_settings(spec, mode, max_parallel or spec.execution.max_parallel or cores),
        secrets=[name for name in spec.parameters if name in secrets],
        secret_env=common_secret,
        hosts=list(loaded.hosts),
        ssh=ssh_settings(spec, str(loaded.base_dir)),
    )
    _check_programs(plan)
    return with_history(plan, dict(history)) if history else plan


class _ExecutionSettings(TypedDict):
    max_parallel: int
    failure_strategy: FailureStrategy
    timeout: float | None
    sample_interval: float
    checkpoint_interval: float | None
    keep_checkpoints: int | None
    base_port: int
    on_service_failure: str


def _execution_settings(spec: Spec, mode: RunMode, max_parallel: int) -> _ExecutionSettings:
    """The plan's execution-wide settings, as the spec's ``execution:`` gives them."""
    execution = spec.execution
    return {
        "max_parallel": max_parallel,
        "failure_strategy": execution.failure_strategy,
        "timeout": execution.timeout,
        "sample_interval": 0.2 if mode == "profile" else execution.sample_interval,
        "checkpoint_interval": execution.checkpoint_interval,
        "keep_checkpoints": execution.keep_checkpoints,
        "base_port": execution.base_port,
        "on_service_failure": execution.on_service_failure,
    }


@dataclass(frozen=True)
class _UnitContext:
    """What every unit of one plan is resolved with."""

    text_values: dict[str, str]
    common_env: dict[str, str]
    common_secret: dict[str, str]
    secrets: frozenset[str]
    base: Path


def _unit_context(
    spec: Spec, values: Mapping[str, Scalar], secrets: frozenset[str], base: Path
) -> _UnitContext:
    """Parameters as text, the spec-wide environment (with SHIPYARD_PARAM_*), and the
    templates standing in for secrets."""
    text_values = {name: render_value(value) for name, value in values.items()}
    common_env = {key: substitute(value, text_values) for key, value in spec.env.items()}
    common_env.update(parameter_env(values))
    common_secret = secret_templates(spec.env, secrets)
    common_secret.update({variable(name): f"{{{{ {name} }}}}" for name in sorted(secrets)})
    return _UnitContext(text_values, common_env, common_secret, secrets, base)


def _planned_step(
    name: str,
    step: StepSpec,
    context: _UnitContext,
    waits: tuple[list[str], list[str]],
    stage: int,
) -> PlannedStep:
    """``waits``: the steps it needs, and the services it needs (healthy first)."""
    values = context.text_values
    needs, services = waits
    env = dict(context.common_env)
    env.update({key: substitute(value, values) for key, value in step.env.items()})
    workdir = (
        resolved_workdir(name, step.workdir, values, context.base) if step.workdir else context.base
    )
    return PlannedStep(
        name=name,
        description=step.description,
        command=resolve_command(step.run, step.shell, {**values, **_input_slots(step)}),
        needs=needs,
        needs_services=services,
        secret_env=_unit_secrets(context.common_secret, step.env, context.secrets),
        env=env,
        workdir=str(Path(workdir)),
        timeout=step.timeout,
        retries=RetrySettings(**step.retries.model_dump()),
        resources=ResourceRequest(**step.resources.model_dump()),
        stop=_stop(step.stop, values),
        enabled=step.enabled,
        inputs=[resolved_path(name, "input", p, values) for p in step.inputs],
        outputs=[resolved_path(name, "output", p, values) for p in step.outputs],
        checkpoint=_checkpoint(name, step.checkpoint, values),
        stage=stage,
        runner=step.runner,
        gates=[GateSettings(g.metric, g.op, g.threshold) for g in step.gates],
        success_exit_codes=list(step.success_exit_codes),
    )


def _input_slots(step: StepSpec) -> dict[str, str]:
    """``inputs.<step>`` for each step it needs, standing for itself in an argv word: the
    engine puts the folder there when the step starts (a shell string gets the variable)."""
    return {f"{INPUTS}{need}": f"{{{{ {INPUTS}{need} }}}}" for need in step.needs}


def _units(plan: Plan) -> list[PlannedStep | PlannedService]:
    return [*plan.steps, *plan.services]


def _check_programs(plan: Plan) -> None:
    """Every command names a program once its parameters are in: ``run: ["{{ tool }}"]`` with
    ``-p tool=`` would otherwise fail only when the engine tries to start it."""
    units: list[tuple[str, PlannedCommand]] = [
        *((f"step '{step.name}'", step.command) for step in plan.steps),
        *((f"service '{service.name}'", service.command) for service in plan.services),
        *((f"a prepare hook ({hook.display})", hook) for hook in plan.prepare),
        *((f"a cleanup hook ({hook.display})", hook) for hook in plan.cleanup),
        *(
            (f"the health probe of service '{service.name}'", PlannedCommand(service.health.exec))
            for service in plan.services
            if service.health is not None and service.health.exec is not None
        ),
        *(
            (f"the stop command of '{unit.name}'", unit.stop.command)
            for unit in _units(plan)
            if unit.stop.command is not None
        ),
        *(
            (f"the liveness probe of service '{service.name}'", PlannedCommand(check.exec))
            for service in plan.services
            if (check := service.liveness) is not None and check.exec is not None
        ),
    ]
    for what, command in units:
        if not command.argv or not command.argv[0]:
            raise ParameterError(
                f"{what} has no program to run once its parameters are substituted",
                hint="its program comes from a parameter that is empty: give that parameter "
                "a value",
            )


def _resolve(
    spec: Spec, overrides: Mapping[str, object], secrets: frozenset[str], *, test_mode: bool
) -> dict[str, Scalar]:
    """Every parameter's value; a secret's is :data:`MASK`: the plan never holds it (the
    engine gets it apart, see shipyard.plan.secrets)."""
    if not secrets:
        return resolve_parameters(spec.parameters, overrides, test_mode=test_mode)
    public = resolve_parameters(
        {name: p for name, p in spec.parameters.items() if name not in secrets},
        {name: value for name, value in overrides.items() if name not in secrets},
        test_mode=test_mode,
    )
    return {name: public.get(name, MASK) for name in spec.parameters}


def _unit_secrets(
    common: Mapping[str, str], own: Mapping[str, str], secrets: frozenset[str]
) -> dict[str, str]:
    """A unit's env entries that use a secret: the spec-level ones it does not override, and
    its own."""
    if not secrets:
        return {}
    inherited = {key: text for key, text in common.items() if key not in own}
    return {**inherited, **secret_templates(own, secrets)}


def _services(
    loaded: LoadedSpec,
    resolved: Fleet,
    common_env: dict[str, str],
    values: Mapping[str, str],
    common_secret: Mapping[str, str],
    secrets: frozenset[str],
) -> tuple[list[PlannedService], list[list[str]]]:
    """The fleet: each service resolved, with its start stage and its connections."""
    spec = loaded.spec
    wiring = resolved.wiring
    stage_of = {name: index for index, stage in enumerate(wiring.stages) for name in stage}
    planned = []
    for name in resolved.names:
        service = spec.services[resolved.origin[name]]
        env = dict(common_env)
        env.update({key: substitute(value, values) for key, value in service.env.items()})
        if service.replicas > 1:
            env["SHIPYARD_REPLICA"] = name.rsplit("-", 1)[1]
        workdir = (
            resolved_workdir(name, service.workdir, values, loaded.base_dir, kind="service")
            if service.workdir
            else loaded.base_dir
        )
        depends_on: dict[str, str] = {}
        for dep, condition in service.depends_on.items():
            if dep in spec.steps:
                depends_on[dep] = "completed_successfully"
            else:
                for replica in resolved.replicas([dep]):
                    depends_on[replica] = condition or "healthy"
        planned.append(
            PlannedService(
                name=name,
                description=service.description,
                command=resolve_command(service.run, service.shell, values),
                env=env,
                workdir=str(workdir),
                stage=stage_of[name],
                port=service.port,
                health=_health(service.health, values),
                liveness=_health(service.liveness, values),
                readiness_timeout=service.readiness_timeout,
                restart=RestartSettings(**service.restart.model_dump()),
                stop=_stop(service.stop, values),
                depends_on=depends_on,
                connects_to=wiring.connections.get(name, []),
                secret_env=_unit_secrets(common_secret, service.env, secrets),
                runner=service.runner,
                rollout=_rollout(service.rollout),
                success_exit_codes=list(service.success_exit_codes),
            )
        )
    return planned, wiring.stages


def _stop(stop: StopPolicy, values: Mapping[str, str]) -> StopSettings:
    """The stop settings, its command resolved as a ``run`` is (parameters per word, or
    quoted into a shell string)."""
    command = None if stop.command is None else resolve_command(stop.command, stop.shell, values)
    return StopSettings(signal=stop.signal, timeout=stop.timeout, command=command)


def _rollout(rollout: RolloutSpec | None) -> RolloutSettings | None:
    if rollout is None:
        return None
    return RolloutSettings(
        steps=list(rollout.steps),
        interval=rollout.interval,
        kpis=[GateSettings(k.metric, k.op, k.threshold) for k in rollout.kpis],
        min_requests=rollout.min_requests,
        strategy=rollout.strategy,
    )


def _health(health: HealthSpec | None, values: Mapping[str, str]) -> HealthSettings | None:
    """The probe settings; an ``exec`` probe's words get the parameters' values like a
    service's argv (each value one whole word, never through a shell)."""
    if health is None:
        return None
    settings = health.model_dump()
    if health.exec is not None:
        settings["exec"] = [substitute(word, values) for word in health.exec]
    if health.log_line is not None:
        settings["log_line"] = substitute(health.log_line, values)
    return HealthSettings(**settings)


def _checkpoint(
    step: str, checkpoint: CheckpointSpec | None, values: Mapping[str, str]
) -> CheckpointSettings | None:
    """The checkpoint settings with the parameters' values in its paths, which must stay inside
    the step's workdir like its inputs and outputs (ParameterError otherwise)."""
    if checkpoint is None:
        return None
    settings = checkpoint.model_dump()
    settings["paths"] = [
        resolved_path(step, "checkpoint path", path, values) for path in checkpoint.paths
    ]
    if checkpoint.ready_file is not None:
        settings["ready_file"] = resolved_path(
            step, "checkpoint ready_file", checkpoint.ready_file, values
        )
    return CheckpointSettings(**settings)


def _service_needs(spec: Spec, resolved: Fleet) -> dict[str, list[str]]:
    """step → the services (each replica) it waits for, healthy."""
    return {
        name: resolved.replicas([dep for dep in step.needs if dep in spec.services])
        for name, step in spec.steps.items()
    }


def log_limits(spec: Spec, fleet: Fleet | None) -> dict[str, LogLimit]:
    """unit → its log size limit: each of its own ``logs:`` settings over the execution's,
    ``keep`` 3 by default. Units without a ``max_size`` anywhere are left out (their logs
    grow as they will), and so are the hooks: they are short and not sampled."""
    own: dict[str, LogSettings | None] = {name: step.logs for name, step in spec.steps.items()}
    if fleet is not None:
        own.update({name: spec.services[fleet.origin[name]].logs for name in fleet.names})
    default = spec.execution.logs
    limits = {}
    for name, settings in own.items():
        max_size = _setting(settings, default, "max_size")
        if max_size is not None:
            keep = _setting(settings, default, "keep")
            limits[name] = LogLimit(max_size=max_size, keep=3 if keep is None else keep)
    return limits


def _setting(own: LogSettings | None, default: LogSettings | None, name: str) -> int | None:
    for settings in (own, default):
        value = getattr(settings, name) if settings is not None else None
        if value is not None:
            return int(value)
    return None
