"""Every string of a spec where ``{{ name }}`` is substituted, with its path and its kind.

One walk, shared by the checks that look at templates (names exist, secrets stay in env values),
so a new templated field is seen by all of them at once.
"""

from __future__ import annotations

from collections.abc import Iterator

from shipyard.spec.models import ServiceSpec, Spec, StepSpec
from shipyard.spec.yamlsource import PathKey


def template_fields(spec: Spec) -> Iterator[tuple[PathKey, str]]:
    """Every string in the spec where ``{{ name }}`` is substituted, with its path."""
    for key, value in spec.env.items():
        yield ("env", key), value
    for phase in ("prepare", "cleanup"):
        for index, hook in enumerate(getattr(spec.hooks, phase)):
            yield from _command_fields(("hooks", phase, index, "run"), hook.run)
    for name, service in spec.services.items():
        yield from _service_fields(("services", name), service)
    for name, step in spec.steps.items():
        yield from _step_fields(("steps", name), step)


def _service_fields(at: PathKey, service: ServiceSpec) -> Iterator[tuple[PathKey, str]]:
    yield from _command_fields((*at, "run"), service.run)
    for key, value in service.env.items():
        yield (*at, "env", key), value
    if service.workdir is not None:
        yield (*at, "workdir"), service.workdir
    for check in ("health", "liveness"):
        health = getattr(service, check)
        if health is not None and health.exec is not None:
            yield from _command_fields((*at, check, "exec"), health.exec)
        if health is not None and health.log_line is not None:
            yield (*at, check, "log_line"), health.log_line
    if service.stop.command is not None:
        yield from _command_fields((*at, "stop", "command"), service.stop.command)


def _step_fields(at: PathKey, step: StepSpec) -> Iterator[tuple[PathKey, str]]:
    yield from _command_fields((*at, "run"), step.run)
    for key, value in step.env.items():
        yield (*at, "env", key), value
    if step.workdir is not None:
        yield (*at, "workdir"), step.workdir
    for field in ("inputs", "outputs"):
        for index, path in enumerate(getattr(step, field)):
            yield (*at, field, index), path
    if step.stop.command is not None:
        yield from _command_fields((*at, "stop", "command"), step.stop.command)
    if step.checkpoint is not None:
        for index, path in enumerate(step.checkpoint.paths):
            yield (*at, "checkpoint", "paths", index), path
        if step.checkpoint.ready_file is not None:
            yield (*at, "checkpoint", "ready_file"), step.checkpoint.ready_file


def _command_fields(path: PathKey, run: list[str] | str) -> Iterator[tuple[PathKey, str]]:
    if isinstance(run, str):
        yield path, run
    else:
        for index, arg in enumerate(run):
            yield (*path, index), arg


def field_kind(path: PathKey) -> str:
    """What the templated string at ``path`` is: ``env``, ``command``, ``workdir``,
    ``declared input path`` / ``declared output path``, ``checkpoint path`` or
    ``checkpoint ready_file``.

    Read by position, never by searching the path: a step or service may itself be named
    ``run`` or ``workdir``, and its env values are still env values."""
    if path[0] == "hooks":
        return "command"  # a hook has nothing else that is templated
    if path[0] not in ("steps", "services"):
        return "env"
    field = path[2]
    if field in ("health", "liveness") and path[3] == "log_line":
        return "log line"
    if field in ("run", "health", "liveness", "stop"):  # exec probes, stop commands: like run
        return "command"
    if field == "workdir":
        return "workdir"
    if field in ("inputs", "outputs"):
        return f"declared {str(field)[:-1]} path"
    if field == "checkpoint":
        return "checkpoint path" if path[3] == "paths" else "checkpoint ready_file"
    return "env"


def env_maps(spec: Spec) -> Iterator[tuple[PathKey, dict[str, str]]]:
    """Every environment mapping of the spec (its own, each step's, each service's), with its
    path."""
    yield ("env",), spec.env
    for name, step in spec.steps.items():
        yield ("steps", name, "env"), step.env
    for name, service in spec.services.items():
        yield ("services", name, "env"), service.env
