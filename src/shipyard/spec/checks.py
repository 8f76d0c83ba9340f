"""Named checks that relate the parts of a validated spec to each other.

Each check is a small function ``(spec, source) -> list[SpecProblem]`` so it can be tested on its
own; :func:`run_checks` runs them all and returns every problem with its file:line.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import TYPE_CHECKING

from shipyard.dag import find_cycle
from shipyard.errors import SpecProblem
from shipyard.spec.commandchecks import (
    check_command_strings,
    check_env_keys,
    check_no_nul,
    check_shell_commands,
)
from shipyard.spec.fields import template_fields
from shipyard.spec.inputchecks import check_input_templates, check_input_variables
from shipyard.spec.literalchecks import check_untemplated
from shipyard.spec.models import Spec
from shipyard.spec.namechecks import (
    check_parameter_variables,
    check_unit_names,
    check_url_variables,
)
from shipyard.spec.pathchecks import check_confined_paths
from shipyard.spec.secretchecks import check_secrets
from shipyard.spec.shellchecks import check_shell_templates
from shipyard.spec.templating import TemplateProblem, references
from shipyard.spec.yamlsource import SourceMap

if TYPE_CHECKING:
    from shipyard.topology import Fleet

Check = Callable[[Spec, SourceMap], list[SpecProblem]]


def check_not_empty(data: object, source: SourceMap) -> list[SpecProblem]:
    """On the raw data, so a spec with nothing to run says so beside its other problems (an
    unknown ``pkgs:`` or ``processes:`` key used to hide it)."""
    if not isinstance(data, dict) or any(data.get(key) not in (None, {}) for key in _UNITS):
        return []  # `steps: 3` or a bad step is a shape error of its own
    name = data.get("name")
    who = f"'{name}'" if isinstance(name, str) and name else "the spec"
    return [
        SpecProblem(
            f"{who} has no steps or services: there is nothing to run",
            source.locate(("steps",), key=True),
            hint="add a 'steps:' mapping with at least one step that has a 'run:' command",
        )
    ]


#: The mappings of units: a spec with neither (or both empty) has nothing to run.
_UNITS = ("steps", "services")


def check_services(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    """Services: names, depends_on, topology (the resolver's own checks, with a position)."""
    from shipyard.topology import TopologyError

    problems = _depends_on_problems(spec, source)
    for name in spec.services:
        if name in spec.steps:
            problems.append(
                SpecProblem(
                    f"'{name}' is both a step and a service",
                    source.locate(("services", name), key=True),
                    hint="needs and depends_on name units: give each its own name",
                )
            )
    # Ports do not depend on what waits for what: a wrong depends_on must not hide them.
    ports = _port_clashes(spec, source)
    if problems or not spec.services:
        return problems + ports
    for name, service in spec.services.items():
        if service.replicas > 1 and isinstance(service.port, int):
            problems.append(
                SpecProblem(
                    f"service '{name}' has {service.replicas} replicas and one fixed port",
                    source.locate(("services", name, "port")),
                    hint="replicas need port: auto (each gets its own)",
                )
            )
    try:
        cycle = _mixed_cycle(spec)
    except TopologyError as error:
        where = ("topology",) if spec.topology else ("services",)
        problems.append(SpecProblem(str(error), source.locate(where, key=True)))
    else:
        # A cycle of steps alone is check_no_cycle's (it was reported twice); one among
        # services alone is a TopologyError: this one has a step and a service in it.
        if cycle and any(name not in spec.steps for name in cycle):
            step = next(name for name in cycle if name in spec.steps)
            problems.append(
                SpecProblem(
                    f"steps and services wait for each other: {' → '.join(cycle)}",
                    source.locate(("steps", step, "needs")),
                    hint="a unit cannot (even through the fleet's start order) wait for itself; "
                    "remove one of these needs/depends_on",
                )
            )
    return problems + ports


def _port_clashes(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    """A fixed port asked for by a second service: named with the port and the first one,
    at the second one's ``port``."""
    problems = []
    first: dict[int, str] = {}
    for name, service in spec.services.items():
        if not isinstance(service.port, int):
            continue
        other = first.setdefault(service.port, name)
        if other != name:
            problems.append(
                SpecProblem(
                    f"services '{other}' and '{name}' both ask for port {service.port}",
                    source.locate(("services", name, "port")),
                    hint=f"give '{name}' another port, or port: auto",
                )
            )
    return problems


def _depends_on_problems(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    """Each depends_on names a unit, with a condition that unit can reach."""
    problems = []
    units = [*spec.services, *spec.steps]
    for name, service in spec.services.items():
        for dep, condition in service.depends_on.items():
            where = source.locate(("services", name, "depends_on", dep), key=True)
            if dep == name:
                problems.append(SpecProblem(f"service '{name}' depends on itself", where))
            elif dep in spec.steps and condition not in (None, "completed_successfully"):
                problems.append(
                    SpecProblem(
                        f"service '{name}' waits for step '{dep}' to be {condition}, "
                        "which a step never is",
                        where,
                        hint="a step is waited for with completed_successfully",
                    )
                )
            elif dep in spec.services and condition == "completed_successfully":
                problems.append(
                    SpecProblem(
                        f"service '{name}' waits for service '{dep}' to complete, "
                        "which a service never does",
                        where,
                        hint="wait for a service with started or healthy",
                    )
                )
            elif dep not in spec.services and dep not in spec.steps:
                close = difflib.get_close_matches(dep, units, n=1)
                problems.append(
                    SpecProblem(
                        f"service '{name}' depends on '{dep}', which is neither a service "
                        "nor a step",
                        where,
                        f"did you mean '{close[0]}'?" if close else None,
                    )
                )
    return problems


def _mixed_cycle(spec: Spec) -> list[str] | None:
    """A cycle of waiting across steps and services, or None. The fleet's start order counts:
    a service of one start stage waits for every service of the stage before it."""
    resolved = spec_fleet(spec)
    waits: dict[str, list[str]] = {}
    previous: list[str] = []
    for stage in resolved.wiring.stages:
        for name in stage:
            waits[name] = [*previous, *resolved.wiring.after.get(name, [])]
        previous = stage
    for replica in waits:
        origin = spec.services[resolved.origin[replica]]
        waits[replica] += [dep for dep in origin.depends_on if dep in spec.steps]
    for name, step in spec.steps.items():
        waits[name] = resolved.replicas(step.needs)
    return find_cycle(waits)


def spec_fleet(spec: Spec) -> Fleet:
    """The spec's services resolved (raises TopologyError)."""
    from shipyard.topology import fleet

    return fleet(
        {name: service.replicas for name, service in spec.services.items()},
        spec.topology.model_dump() if spec.topology else None,
        {name: list(service.depends_on) for name, service in spec.services.items()},
        deployment=spec.execution.deployment,
    )


def _raw_needs(data: object) -> dict[str, list[str]]:
    """``{step: [needs]}`` read defensively from the raw YAML data, so these checks also run
    (and report) when other parts of the spec have shape errors."""
    steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(steps, dict):
        return {}
    result: dict[str, list[str]] = {}
    for name, body in steps.items():
        needs = body.get("needs") if isinstance(body, dict) else None
        result[str(name)] = (
            [dep for dep in needs if isinstance(dep, str)] if isinstance(needs, list) else []
        )
    return result


def check_needs_exist(data: object, source: SourceMap) -> list[SpecProblem]:
    problems = []
    needs = _raw_needs(data)
    raw_services = data.get("services") if isinstance(data, dict) else None
    services = [str(key) for key in raw_services] if isinstance(raw_services, dict) else []
    for name, deps in needs.items():
        for index, dep in enumerate(deps):
            where = source.locate(("steps", name, "needs", index))
            if dep == name:
                problems.append(SpecProblem(f"step '{name}' needs itself", where))
            elif dep not in needs and dep not in services:
                close = difflib.get_close_matches(dep, [*needs, *services], n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"steps are: {', '.join(needs)}"
                what = "a step or a service" if services else "a step"
                problems.append(
                    SpecProblem(f"step '{name}' needs '{dep}', which is not {what}", where, hint)
                )
        if len(set(deps)) != len(deps):
            problems.append(
                SpecProblem(
                    f"step '{name}' lists the same dependency twice",
                    source.locate(("steps", name, "needs")),
                )
            )
    return problems


def check_no_cycle(data: object, source: SourceMap) -> list[SpecProblem]:
    """Among steps; cycles through services are check_services' (they need the topology)."""
    needs = {name: [dep for dep in deps if dep != name] for name, deps in _raw_needs(data).items()}
    cycle = find_cycle(needs)
    if cycle is None:
        return []
    return [
        SpecProblem(
            f"dependency cycle: {' → '.join(cycle)}",
            source.locate(("steps", cycle[0], "needs")),
            hint="a step cannot (even indirectly) need itself; remove one of these 'needs'",
        )
    ]


def check_templates(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    problems = []
    for path, text in template_fields(spec):
        where = source.locate(path)
        try:
            names = references(text)
        except TemplateProblem as problem:
            problems.append(SpecProblem(str(problem), where))
            continue
        for name in names:
            if name.startswith("inputs."):
                continue  # an upstream step's artifacts: check_input_templates' own
            if name not in spec.parameters:
                close = difflib.get_close_matches(name, list(spec.parameters), n=1)
                hint = (
                    f"did you mean '{close[0]}'?"
                    if close
                    else "declare it under 'parameters:' or fix the name"
                )
                problems.append(SpecProblem(f"'{{{{ {name} }}}}' is not a parameter", where, hint))
    return problems


RawCheck = Callable[[object, SourceMap], list[SpecProblem]]

#: Checks on the raw data: they run even when the shape is wrong elsewhere.
RAW_CHECKS: tuple[RawCheck, ...] = (
    check_not_empty,
    check_needs_exist,
    check_no_cycle,
    check_no_nul,
)
#: Checks on the validated model.
CHECKS: tuple[Check, ...] = (
    check_templates,
    check_input_templates,
    check_input_variables,
    check_untemplated,
    check_shell_commands,
    check_shell_templates,
    check_command_strings,
    check_env_keys,
    check_services,
    check_unit_names,
    check_parameter_variables,
    check_url_variables,
    check_confined_paths,
    check_secrets,
)


def run_raw_checks(data: object, source: SourceMap) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    for check in RAW_CHECKS:
        problems.extend(check(data, source))
    return problems


def run_checks(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    """Every check's problems. ``spec`` may be the file patched past its shape errors
    (spec/repair.py): none of these checks speaks of what a patch removed (the one that
    would, whether there is anything to run, is a raw check)."""
    problems: list[SpecProblem] = []
    for check in CHECKS:
        problems.extend(check(spec, source))
    return problems
