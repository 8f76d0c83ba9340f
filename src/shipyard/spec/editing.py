"""Editing a registered pipeline's spec (issue 12 §1): pure decisions on the YAML mapping and on
stored parameter defaults. Each returns a new value or raises a ShipyardError that names the key;
the caller dumps, validates and only then stores (an edit that would not validate is refused).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ParameterError, ShipyardError

if TYPE_CHECKING:
    from shipyard.spec.models import ParameterSpec, Scalar

#: A registered name: the spec's own name rule (letters, digits, ``_.-``), 64 characters at most.
NAME_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NAME_MAX = 64


def name_problem(name: str, what: str = "pipeline name") -> ShipyardError | None:
    """Why ``name`` cannot name a pipeline (or a step), or None."""
    if len(name) > NAME_MAX or not NAME_RULE.match(name):
        shown = name if len(name) <= NAME_MAX else name[:NAME_MAX] + "…"
        return ShipyardError(
            f"{what} {shown!r} is not valid: it starts with a letter or digit and holds only "
            f"letters, digits, '_', '.' and '-' ({NAME_MAX} characters at most)",
            hint="for example: fio-bench",
        )
    return None


# -- the document -------------------------------------------------------------------------------


def parse(text: str, label: str) -> dict[str, Any]:
    """The spec's mapping (as the loader reads it: YAML 1.2 booleans, no duplicate keys)."""
    from shipyard.errors import SpecError
    from shipyard.spec.yamlsource import YamlProblems, read_yaml

    try:
        data, _ = read_yaml(text, Path(label))
    except YamlProblems as error:
        raise SpecError(error.problems) from None
    if not isinstance(data, dict):
        raise ShipyardError(f"the spec of {label} is not a YAML mapping")
    return data


def dump(data: Mapping[str, Any]) -> str:
    """YAML text of ``data``, keys in their order. Strings PyYAML would read as booleans or
    numbers (``off``, ``1e3``) are quoted, so the loader reads back what was dumped."""
    import yaml

    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, width=100)


def definition_of(text: str, label: str) -> dict[str, Any]:
    """A step's definition given as YAML text (``--yaml``, ``--file``): a mapping."""
    data = _yaml_value(text, label)
    if not isinstance(data, dict):
        raise ShipyardError(
            f"the step definition in {label} is not a YAML mapping",
            hint="write it as in a spec's steps: section, e.g. run: [echo, hi]",
        )
    return data


def _yaml_value(text: str, label: str) -> Any:
    from shipyard.errors import SpecError
    from shipyard.spec.yamlsource import YamlProblems, read_yaml

    try:
        data, _ = read_yaml(text, Path(label))
    except YamlProblems as error:
        raise SpecError(error.problems) from None
    return data


def _steps(data: Mapping[str, Any]) -> dict[str, Any]:
    steps = data.get("steps") or {}
    if not isinstance(steps, dict):
        raise ShipyardError("the spec's 'steps' is not a mapping", hint="fix it in the YAML")
    return steps


def _with_steps(data: Mapping[str, Any], steps: dict[str, Any]) -> dict[str, Any]:
    return {**data, "steps": steps}


def add_step(data: Mapping[str, Any], step: str, definition: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with a new step ``step`` (after the others)."""
    _check_definition(step, definition)
    steps = _steps(data)
    if step in steps:
        raise ShipyardError(
            f"step '{step}' already exists",
            hint=f"replace it: shipyard pipelines step replace … {step}",
        )
    return _with_steps(data, {**steps, step: dict(definition)})


def replace_step(
    data: Mapping[str, Any], step: str, definition: Mapping[str, Any]
) -> dict[str, Any]:
    """``data`` with step ``step``'s definition replaced (in its place)."""
    _check_definition(step, definition)
    steps = _steps(data)
    _known(steps, step)
    return _with_steps(
        data, {name: dict(definition) if name == step else value for name, value in steps.items()}
    )


def remove_step(data: Mapping[str, Any], step: str) -> dict[str, Any]:
    """``data`` without step ``step``; refused while another unit ``needs`` it."""
    steps = _steps(data)
    _known(steps, step)
    dependants = needing(data, step)
    if dependants:
        raise ShipyardError(
            f"cannot remove step '{step}': {', '.join(dependants)} "
            f"{'needs' if len(dependants) == 1 else 'need'} it",
            hint="remove or change those first (their needs: lists)",
        )
    return _with_steps(data, {name: value for name, value in steps.items() if name != step})


def needing(data: Mapping[str, Any], unit: str) -> list[str]:
    """The steps and services whose ``needs`` (or ``depends_on``) name ``unit``."""
    found = []
    for section, key in (("steps", "needs"), ("services", "depends_on"), ("services", "needs")):
        units = data.get(section) or {}
        if not isinstance(units, dict):
            continue
        for name, body in units.items():
            wanted = body.get(key) if isinstance(body, dict) else None
            if isinstance(wanted, list | dict) and unit in wanted and name not in found:
                found.append(name)
    return found


def _known(steps: Mapping[str, Any], step: str) -> None:
    if step not in steps:
        raise ShipyardError(
            f"no step '{step}' in the spec",
            hint=f"its steps: {', '.join(steps) or 'none'}",
        )


def _check_definition(step: str, definition: Mapping[str, Any]) -> None:
    problem = name_problem(step, "step name")
    if problem is not None:
        raise problem
    if not isinstance(definition, Mapping):
        raise ShipyardError(
            f"the definition of step '{step}' is not a mapping",
            hint="give it as in a spec's steps: section, e.g. {run: [echo, hi]}",
        )


# -- stored parameter defaults ------------------------------------------------------------------


def stored_defaults(
    declared: Mapping[str, ParameterSpec],
    current: Mapping[str, Scalar],
    given: Mapping[str, object],
    unset: list[str],
) -> dict[str, Scalar]:
    """The stored defaults after ``pipelines set``: ``given`` coerced to each parameter's type
    and checked against its choices, ``unset`` dropped. ParameterError names the parameter."""
    result = dict(current)
    for name in unset:
        _declared(declared, name)
        if name not in result:
            raise ParameterError(
                f"parameter '{name}' has no stored default to unset",
                hint=f"stored: {', '.join(sorted(result)) or 'none'}",
            )
        del result[name]
    for name, raw in given.items():
        result[name] = checked_value(_declared(declared, name), name, raw)
    return result


def _declared(declared: Mapping[str, ParameterSpec], name: str) -> ParameterSpec:
    spec = declared.get(name)
    if spec is None:
        import difflib

        close = difflib.get_close_matches(name, list(declared), n=1)
        hint = (
            f"did you mean '{close[0]}'?"
            if close
            else f"the spec declares: {', '.join(sorted(declared)) or 'no parameters'}"
        )
        raise ParameterError(f"'{name}' is not a parameter of the spec", hint=hint)
    return spec


def checked_value(spec: ParameterSpec, name: str, raw: object) -> Scalar:
    """``raw`` as parameter ``name``'s value: its type, one of its choices, never a secret."""
    from shipyard.spec.params import A_TYPE, choices_hint, coerce, render_value, type_hint

    if spec.secret:
        raise ParameterError(
            f"parameter '{name}' is secret: its value is never stored",
            hint=f"give it at each run (or in $SHIPYARD_PARAM_{name.upper()})",
        )
    try:
        value = coerce(raw, spec.type)
    except ValueError:
        raise ParameterError(
            f"parameter '{name}' is {A_TYPE[spec.type]}, and {raw!r} is not",
            hint=type_hint(name, spec.type),
        ) from None
    if isinstance(value, str) and "\0" in value:
        raise ParameterError(f"the value of parameter '{name}' contains a NUL byte")
    if spec.choices is not None and value not in spec.choices:
        allowed = ", ".join(render_value(choice) for choice in spec.choices)
        raise ParameterError(
            f"parameter '{name}' must be one of {allowed}; got {render_value(value)}",
            hint=choices_hint(name, allowed),
        )
    return value
