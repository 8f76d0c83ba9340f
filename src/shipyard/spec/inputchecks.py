"""Checks of what steps hand each other (issue 15 §1): ``{{ inputs.<step> }}`` only in a step's
``run``, naming a step it needs that declares outputs; no two such steps sharing one
``SHIPYARD_INPUT_<STEP>`` variable; and the gates' metric names.

Each problem has its file:line, like every check of :mod:`shipyard.spec.checks`.
"""

from __future__ import annotations

import difflib

from shipyard.errors import SpecProblem
from shipyard.spec.fields import template_fields
from shipyard.spec.models import Spec
from shipyard.spec.templating import TemplateProblem, input_step, input_variable, references
from shipyard.spec.yamlsource import PathKey, SourceMap

_WHERE_HINT = (
    "{{ inputs.STEP }} stands for an upstream step's artifacts folder in a step's run command; "
    "elsewhere use the variable $SHIPYARD_INPUT_STEP the step is given"
)


def check_input_templates(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    """Every ``{{ inputs.X }}``: in a step's run, X a step it needs, X declaring outputs."""
    problems = []
    for path, text in template_fields(spec):
        try:
            names = references(text)
        except TemplateProblem:
            continue  # check_templates reports it
        for name in names:
            upstream = input_step(name)
            if upstream is None:
                continue
            problem = _input_problem(spec, path, upstream)
            if problem is not None:
                message, hint = problem
                problems.append(SpecProblem(message, source.locate(path), hint))
    return problems


def _input_problem(spec: Spec, path: PathKey, upstream: str) -> tuple[str, str] | None:
    placeholder = f"'{{{{ inputs.{upstream} }}}}'"
    if len(path) < 3 or path[0] != "steps" or path[2] != "run":
        return f"{placeholder} is only for a step's run command", _WHERE_HINT
    step = str(path[1])
    needs = spec.steps[step].needs
    if upstream not in needs:
        if upstream in spec.steps:
            return (
                f"step '{step}' uses {placeholder} but does not need '{upstream}'",
                f"add '{upstream}' to the needs of '{step}': its outputs are handed over only "
                "once it has succeeded",
            )
        close = difflib.get_close_matches(upstream, needs or list(spec.steps), n=1)
        return (
            f"step '{step}' uses {placeholder}, and '{upstream}' is not a step",
            f"did you mean '{close[0]}'?" if close else "name a step listed in its needs",
        )
    if upstream not in spec.steps:
        return (
            f"step '{step}' uses {placeholder}, and '{upstream}' is a service, not a step",
            "only steps hand over files (their declared outputs)",
        )
    if not spec.steps[upstream].outputs:
        return (
            f"step '{step}' uses {placeholder}, but '{upstream}' declares no outputs",
            f"list the files '{upstream}' writes under its outputs: they are copied to its "
            "artifacts folder, which is what the placeholder names",
        )
    return None


def check_input_variables(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    """Two steps with outputs whose names give the same ``SHIPYARD_INPUT_<STEP>`` (``prep-a``
    and ``prep_a``): a step needing both could not tell them apart."""
    problems = []
    first: dict[str, str] = {}
    for name, step in spec.steps.items():
        if not step.outputs:
            continue
        variable = input_variable(name)
        other = first.setdefault(variable, name)
        if other != name:
            problems.append(
                SpecProblem(
                    f"steps '{other}' and '{name}' would both hand their outputs over as "
                    f"${variable}",
                    source.locate(("steps", name), key=True),
                    hint="rename one of them: the variable is the step's name upper-cased, "
                    "with '-' and '.' made '_'",
                )
            )
    return problems


__all__ = ["check_input_templates", "check_input_variables"]
