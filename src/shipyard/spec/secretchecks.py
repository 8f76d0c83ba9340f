"""Secret parameters are used only where their value stays private: environment values.

A command line (argv, a shell string) is readable by every user of the machine in /proc, and a
path ends up in file names, plan.json and `plan`'s output. So ``{{ secret }}`` anywhere but in
an ``env`` value is refused, with the way that works: ``"$SHIPYARD_PARAM_<NAME>"`` in a shell
command, or an env entry. A secret's value is never written in the spec either (no ``default``,
``test`` or ``choices``): every copy of the spec would hold it.
"""

from __future__ import annotations

from shipyard.errors import SpecProblem
from shipyard.spec.fields import field_kind, template_fields
from shipyard.spec.models import Spec
from shipyard.spec.params import A_TYPE
from shipyard.spec.templating import TemplateProblem, references
from shipyard.spec.yamlsource import PathKey, SourceMap

_IN_SPEC = ("default", "test", "choices")


def check_secrets(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    secrets = {name for name, parameter in spec.parameters.items() if parameter.secret}
    if not secrets:
        return []
    problems = _declarations(spec, secrets, source)
    for path, text in template_fields(spec):
        kind = field_kind(path)
        if kind == "env":
            continue
        try:
            used = [name for name in references(text) if name in secrets]
        except TemplateProblem:
            continue  # check_templates reports it
        for name in dict.fromkeys(used):
            problems.append(_misused(name, path, kind, source))
    return problems


def _declarations(spec: Spec, secrets: set[str], source: SourceMap) -> list[SpecProblem]:
    problems = []
    for name in sorted(secrets):
        parameter = spec.parameters[name]
        if parameter.type != "str":
            problems.append(
                SpecProblem(
                    f"secret parameter '{name}' is {A_TYPE[parameter.type]}; a secret is a str",
                    source.locate(("parameters", name, "type")),
                    hint="drop its type (or write type: str)",
                )
            )
        for field in _IN_SPEC:
            if getattr(parameter, field) is not None:
                problems.append(
                    SpecProblem(
                        f"secret parameter '{name}' has a {field} written in the spec: every copy "
                        "of the spec (and every reader of it) would have its value",
                        source.locate(("parameters", name, field), key=True),
                        hint=f"remove it and give the value at each run: "
                        f"SHIPYARD_PARAM_{name.upper()}=… shipyard run SPEC",
                    )
                )
    return problems


def _misused(name: str, path: PathKey, kind: str, source: SourceMap) -> SpecProblem:
    variable = f"SHIPYARD_PARAM_{name.upper()}"
    if kind == "command":
        why = "a command line is readable by every user of the machine (/proc)"
        hint = (
            f'read it from the environment: "${variable}" in a shell command (shell: true), or '
            f"an env entry (env: {{TOKEN: '{{{{ {name} }}}}'}}) that the program reads"
        )
    else:
        why = f"a {kind} ends up in file names, plan.json and the output of `shipyard plan`"
        hint = f"secrets are used in env values only (the step gets ${variable})"
    return SpecProblem(
        f"secret parameter '{name}' is used in a {kind}: {why}", source.locate(path), hint=hint
    )
