"""Named checks that relate the parts of a validated spec to each other.

Each check is a small function ``(spec, source) -> list[SpecProblem]`` so it can be tested on its
own; :func:`run_checks` runs them all and returns every problem with its file:line.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator

from shipyard.dag import find_cycle
from shipyard.errors import SpecProblem
from shipyard.spec.models import Spec
from shipyard.spec.templating import TemplateProblem, references
from shipyard.spec.yamlsource import PathKey, SourceMap

Check = Callable[[Spec, SourceMap], list[SpecProblem]]


def check_not_empty(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    if spec.steps:
        return []
    return [
        SpecProblem(
            f"'{spec.name}' has no steps: there is nothing to run",
            source.locate(("steps",), key=True),
            hint="add a 'steps:' mapping with at least one step that has a 'run:' command",
        )
    ]


def check_needs_exist(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    problems = []
    for name, step in spec.steps.items():
        for index, dep in enumerate(step.needs):
            where = source.locate(("steps", name, "needs", index))
            if dep == name:
                problems.append(SpecProblem(f"step '{name}' needs itself", where))
            elif dep not in spec.steps:
                close = difflib.get_close_matches(dep, list(spec.steps), n=1)
                hint = (
                    f"did you mean '{close[0]}'?"
                    if close
                    else f"steps are: {', '.join(spec.steps)}"
                )
                problems.append(
                    SpecProblem(f"step '{name}' needs '{dep}', which is not a step", where, hint)
                )
        if len(set(step.needs)) != len(step.needs):
            problems.append(
                SpecProblem(
                    f"step '{name}' lists the same dependency twice",
                    source.locate(("steps", name, "needs")),
                )
            )
    return problems


def check_no_cycle(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    needs = {name: [dep for dep in step.needs if dep != name] for name, step in spec.steps.items()}
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


def _template_fields(spec: Spec) -> Iterator[tuple[PathKey, str]]:
    """Every string in the spec where ``{{ name }}`` is substituted, with its path."""
    for key, value in spec.env.items():
        yield ("env", key), value
    for phase in ("prepare", "cleanup"):
        for index, hook in enumerate(getattr(spec.hooks, phase)):
            yield from _command_fields(("hooks", phase, index, "run"), hook.run)
    for name, step in spec.steps.items():
        yield from _command_fields(("steps", name, "run"), step.run)
        for key, value in step.env.items():
            yield ("steps", name, "env", key), value
        if step.workdir is not None:
            yield ("steps", name, "workdir"), step.workdir


def _command_fields(path: PathKey, run: list[str] | str) -> Iterator[tuple[PathKey, str]]:
    if isinstance(run, str):
        yield path, run
    else:
        for index, arg in enumerate(run):
            yield (*path, index), arg


def check_templates(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    problems = []
    for path, text in _template_fields(spec):
        where = source.locate(path)
        try:
            names = references(text)
        except TemplateProblem as problem:
            problems.append(SpecProblem(str(problem), where))
            continue
        for name in names:
            if name not in spec.parameters:
                close = difflib.get_close_matches(name, list(spec.parameters), n=1)
                hint = (
                    f"did you mean '{close[0]}'?"
                    if close
                    else "declare it under 'parameters:' or fix the name"
                )
                problems.append(SpecProblem(f"'{{{{ {name} }}}}' is not a parameter", where, hint))
    return problems


def check_shell_commands(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    problems = []
    for name, step in spec.steps.items():
        if step.shell and not isinstance(step.run, str):
            problems.append(
                SpecProblem(
                    f"step '{name}' says 'shell: true' but 'run' is a list",
                    source.locate(("steps", name, "shell")),
                    hint="with shell: true write run as one string; without it, as an argv list",
                )
            )
    return problems


CHECKS: tuple[Check, ...] = (
    check_not_empty,
    check_needs_exist,
    check_no_cycle,
    check_templates,
    check_shell_commands,
)


def run_checks(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    for check in CHECKS:
        problems.extend(check(spec, source))
    return problems
