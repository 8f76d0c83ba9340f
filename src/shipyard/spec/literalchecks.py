"""Strings a user could expect to take ``{{ name }}`` but that are used as written.

Every field that takes placeholders is listed in :mod:`shipyard.spec.fields`; a placeholder
anywhere else would reach the plan literally (a probe asking for ``/{{ p }}``, a variable named
``{{ x }}``), which is worse than an error. So these are refused here at file:line, saying where
parameters do go. Free text (``description``) is left alone: it is shown, never used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from shipyard.errors import SpecProblem
from shipyard.spec.fields import env_maps
from shipyard.spec.models import Spec
from shipyard.spec.templating import PLACEHOLDER
from shipyard.spec.yamlsource import PathKey, SourceMap

_ENV_HINT = "write the name as it is and put the parameter in the value, like DATA_DIR: '{{ dir }}'"
_HTTP_HINT = (
    "write the path as it is, or use an exec probe (its words take parameters), like "
    "exec: [curl, -fsS, 'http://127.0.0.1:8080/{{ path }}']"
)
_VALUE_HINT = (
    "a parameter's value is used as it is; put the placeholder where the value is used, "
    "like run: [tool, 'runs/{{ name }}']"
)


class _Written(NamedTuple):
    """A string used exactly as written, where it is, and what to do instead of a placeholder."""

    path: PathKey
    what: str
    text: str
    hint: str
    is_key: bool = False  # an env name: located at the key, not its value


def check_untemplated(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    """A placeholder in an env name, an http probe path or a parameter's written value."""
    problems = []
    for written in _written_strings(spec):
        match = PLACEHOLDER.search(written.text)
        if match is None:
            continue
        problems.append(
            SpecProblem(
                f"{written.what} {written.text!r} holds '{match.group(0)}', but {{{{ }}}} is not "
                "filled in there: it would be used as written",
                source.locate(written.path, key=written.is_key),
                hint=written.hint,
            )
        )
    return problems


def _written_strings(spec: Spec) -> Iterator[_Written]:
    for at, env in env_maps(spec):
        where = ".".join(map(str, at))
        for key in env:
            yield _Written((*at, key), f"the env name in {where}", key, _ENV_HINT, is_key=True)
    for name, service in spec.services.items():
        if service.health is not None and service.health.http is not None:
            what = f"service '{name}': the http probe path"
            yield _Written(
                ("services", name, "health", "http"), what, service.health.http, _HTTP_HINT
            )
    for name, parameter in spec.parameters.items():
        for field in ("default", "test"):
            value = getattr(parameter, field)
            if isinstance(value, str):
                what = f"parameter '{name}': its {field}"
                yield _Written(("parameters", name, field), what, value, _VALUE_HINT)
        for index, choice in enumerate(parameter.choices or []):
            if isinstance(choice, str):
                what = f"parameter '{name}': the choice"
                yield _Written(("parameters", name, "choices", index), what, choice, _VALUE_HINT)
