"""Names that would collide once the spec runs.

Replicas are named ``web-1``, ``web-2``…; parameters become ``SHIPYARD_PARAM_<NAME>`` and
services ``SHIPYARD_URL_<NAME>`` (upper case, ``-`` and ``.`` as ``_``). Two units with one name
break the store (one record per unit name) or make one of them vanish; two parameters or services
with one variable name lose one value without a word. Each collision is refused, naming both.
"""

from __future__ import annotations

from shipyard.errors import SpecProblem
from shipyard.spec.models import Spec
from shipyard.spec.yamlsource import SourceMap
from shipyard.topology import replica_names


def parameter_variable(name: str) -> str:
    """The environment variable a parameter is passed in (as ``plan.build.parameter_env``)."""
    return f"SHIPYARD_PARAM_{name.upper()}"


def url_variable(unit: str) -> str:
    """The variable a service's URL is passed in (as ``engine.wiring.connection_env``)."""
    return f"SHIPYARD_URL_{unit.upper().replace('-', '_').replace('.', '_')}"


def _describe_unit(kind: str, name: str, replica: str) -> str:
    if replica == name:
        return f"{kind} '{name}'"
    return f"{kind} '{name}' (its replica '{replica}')"


def check_unit_names(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    """Every replica's name is free: not a step's, not another service's (or replica's)."""
    problems = []
    owners: dict[str, tuple[str, str]] = {name: ("step", name) for name in spec.steps}
    for name, service in spec.services.items():
        for replica in replica_names(name, service.replicas):
            kind, owner = owners.get(replica, ("", ""))
            if owner and (replica, kind) != (name, "step"):  # that one is check_services'
                first = _describe_unit(kind, owner, replica)
                second = _describe_unit("service", name, replica)
                # One of the two is replicated (two plain units never share a name).
                copied = name if service.replicas > 1 else owner
                count = spec.services[copied].replicas
                problems.append(
                    SpecProblem(
                        f"{first} and {second} would both run as '{replica}'",
                        source.locate(("services", name), key=True),
                        hint=f"rename one of them: service '{copied}' with {count} replicas "
                        f"runs as {', '.join(replica_names(copied, count))}",
                    )
                )
            owners.setdefault(replica, ("service", name))
    return problems


def check_parameter_variables(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    """Parameters that differ only in case share one SHIPYARD_PARAM_ variable."""
    problems = []
    seen: dict[str, str] = {}
    for name in spec.parameters:
        variable = parameter_variable(name)
        if variable in seen:
            problems.append(
                SpecProblem(
                    f"parameters '{seen[variable]}' and '{name}' would both be passed as "
                    f"${variable}: one value would be lost",
                    source.locate(("parameters", name), key=True),
                    hint="rename one of them (parameter names that differ only in case collide)",
                )
            )
        seen.setdefault(variable, name)
    return problems


def check_url_variables(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    """Services whose names differ only in case, '-', '_' or '.' share one SHIPYARD_URL_."""
    problems = []
    seen: dict[str, str] = {}
    for name, service in spec.services.items():
        for replica in replica_names(name, service.replicas):
            variable = url_variable(replica)
            other = seen.get(variable)
            if other is not None and other != replica:
                problems.append(
                    SpecProblem(
                        f"services '{other}' and '{replica}' would both be reached through "
                        f"${variable}: one URL would be lost",
                        source.locate(("services", name), key=True),
                        hint="rename one of them so that they differ in more than case, "
                        "'-', '_' and '.'",
                    )
                )
            seen.setdefault(variable, replica)
    return problems
