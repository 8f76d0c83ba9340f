"""The check that every placeholder of a ``shell: true`` string can be made one word.

A value reaches ``/bin/sh -c`` quoted for the quoting its placeholder sits in (plain, '...' or
"..."; see :func:`shipyard.spec.templating.shell_slots`). Where no quoting is safe — backticks,
``$(...)`` inside double quotes, ``${...}``, a here-document, a comment… — validation refuses the
spec here, at the command's file:line:col, instead of the plan failing (or a value running).
"""

from __future__ import annotations

from shipyard.errors import SpecProblem
from shipyard.spec.commandchecks import commands
from shipyard.spec.models import Spec
from shipyard.spec.templating import ShellTemplateProblem, shell_slots
from shipyard.spec.yamlsource import SourceMap


def check_shell_templates(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    problems = []
    for command in commands(spec):
        if not command.shell or not isinstance(command.run, str):
            continue
        try:
            shell_slots(command.run)
        except ShellTemplateProblem as problem:
            problems.append(
                SpecProblem(
                    f"{command.what}: in a shell string, {problem.message}",
                    source.locate(command.path),
                    hint=problem.hint,
                )
            )
    return problems
