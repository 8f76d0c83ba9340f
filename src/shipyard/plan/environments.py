"""Named environments applied to a plan's units (issue 16 §4), pure: ``environments`` maps each
name of the home to its variables (read by the caller).

A unit's environment is its own ``environment:``, else the spec's. Its variables go *under* the
unit's ``env:`` (the spec's and the unit's own ``env:`` win), so ``env: {PATH: …}`` still means
what it says. Hooks get the spec's. An unknown name is reported at its file:line with the names
there are."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from shipyard.errors import SpecError, SpecProblem
from shipyard.plan.model import PlannedService, PlannedStep
from shipyard.spec.loader import LoadedSpec

Environments = Mapping[str, Mapping[str, str]]


def with_environments(
    loaded: LoadedSpec,
    steps: list[PlannedStep],
    services: list[PlannedService],
    hook_env: dict[str, str],
    origin: Mapping[str, str],
    environments: Environments,
) -> tuple[list[PlannedStep], list[PlannedService], dict[str, str]]:
    """``steps``, ``services`` (``origin``: replica → its service's name in the spec) and the
    hooks' env with the named environments' variables under their own. Raises SpecError."""
    spec = loaded.spec
    if (
        spec.environment is None
        and all(step.environment is None for step in spec.steps.values())
        and all(service.environment is None for service in spec.services.values())
    ):
        return steps, services, hook_env
    problems: dict[str, SpecProblem] = {}  # by message: replicas of a service share theirs

    def variables(name: str | None, path: tuple[str, ...]) -> Mapping[str, str]:
        if name is None:
            return {}
        found = environments.get(name)
        if found is None:
            there = ", ".join(sorted(environments)) or "none yet"
            message = f"{'.'.join(path)}: no environment named '{name}' (environments: {there})"
            problems[message] = SpecProblem(
                message,
                loaded.source.locate(path),
                hint=f"capture it in the shell that has it: shipyard env capture {name}",
            )
            return {}
        return found

    common = variables(spec.environment, ("environment",))
    placed_steps = []
    for step in steps:
        own = spec.steps[step.name].environment
        chosen = variables(own, ("steps", step.name, "environment")) if own else common
        placed_steps.append(replace(step, env={**chosen, **step.env}) if chosen else step)
    placed_services = []
    for service in services:
        written = origin.get(service.name, service.name)
        own = spec.services[written].environment if written in spec.services else None
        chosen = variables(own, ("services", written, "environment")) if own else common
        placed_services.append(
            replace(service, env={**chosen, **service.env}) if chosen else service
        )
    if problems:
        raise SpecError(list(problems.values()))
    return placed_steps, placed_services, {**common, **hook_env}
