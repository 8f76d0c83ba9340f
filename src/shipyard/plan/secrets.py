"""Secret parameters: values that reach the units' environment and nothing else.

A plan never holds a secret's value. Where one is used, the plan shows :data:`MASK`
(``parameters``, ``env``), and each unit keeps the spec's own template of every environment
variable that uses a secret (``secret_env``: ``{"API_TOKEN": "Bearer {{ token }}"}``). So the
plan can be shown, written to ``plan.json`` and cached as it is. The values are gathered at
the start of a run (:func:`gather`: ``-p``, else ``$SHIPYARD_PARAM_<NAME>`` of the caller),
travel in memory only (to a detached supervisor through a pipe), and are put in just before the
engine starts (:func:`reveal`). Validation refuses a secret anywhere but in an environment
value: argv is readable by every user in /proc.

Pure: no I/O; the caller passes the environment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from shipyard.errors import ParameterError
from shipyard.plan.model import Plan
from shipyard.spec.params import render_value
from shipyard.spec.templating import references, substitute

#: What a secret's value looks like wherever Shipyard shows or writes it.
MASK = "***"


def variable(name: str) -> str:
    """The environment variable a parameter's value reaches every unit by."""
    return f"SHIPYARD_PARAM_{name.upper()}"


def gather(
    plan: Plan,
    given: Mapping[str, object],
    environ: Mapping[str, str],
    *,
    again: str | None = None,
) -> dict[str, str]:
    """The value of each secret of ``plan``: from ``given`` (``-p``), else from the caller's
    ``$SHIPYARD_PARAM_<NAME>``. ``again`` names the command that must be given it again (a
    resume): Shipyard never stored it. ParameterError, never showing a value, if one is missing."""
    values: dict[str, str] = {}
    for name in plan.secrets:
        value = given.get(name)
        text = render_value(value) if isinstance(value, str | int | float | bool) else None
        if text is None:
            text = environ.get(variable(name))
        if text is None:
            how = f"{variable(name)}=… {again}" if again else f"export {variable(name)}=…"
            why = " (its value is never stored)" if again else ""
            raise ParameterError(
                f"secret parameter '{name}' was not given{why}",
                hint=f"pass it in the environment: {how} (a value among the parameters works "
                "too, but on a command line other users can read it)",
            )
        if "\0" in text:
            raise ParameterError(
                f"the value of secret parameter '{name}' contains a NUL byte (\\0), which no "
                "environment variable can hold"
            )
        values[name] = text
    return values


def reveal(plan: Plan, values: Mapping[str, str]) -> Plan:
    """``plan`` with the secrets' values in its units' environment, for the engine only: this
    copy is never shown or written."""
    if not plan.secrets:
        return plan
    missing = [name for name in plan.secrets if name not in values]
    if missing:
        raise ParameterError(
            f"secret parameter '{missing[0]}' has no value here",
            hint=f"pass it in the environment: export {variable(missing[0])}=…",
        )
    rendered = {
        name: render_value(value)
        for name, value in plan.parameters.items()
        if name not in plan.secrets
    }
    rendered.update(values)

    def env(base: dict[str, str], templates: dict[str, str]) -> dict[str, str]:
        return {**base, **{key: substitute(text, rendered) for key, text in templates.items()}}

    steps = [
        dataclasses.replace(step, env=env(step.env, step.secret_env)) if step.secret_env else step
        for step in plan.steps
    ]
    services = [
        dataclasses.replace(svc, env=env(svc.env, svc.secret_env)) if svc.secret_env else svc
        for svc in plan.services
    ]
    return dataclasses.replace(
        plan, env=env(plan.env, plan.secret_env), steps=steps, services=services
    )


def secret_templates(env: Mapping[str, str], secrets: frozenset[str]) -> dict[str, str]:
    """The entries of ``env`` (templates as the spec wrote them) that use a secret."""
    return {
        key: text
        for key, text in env.items()
        if "{{" in text and not secrets.isdisjoint(references(text))
    }
