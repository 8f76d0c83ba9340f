"""``{{ name }}`` substitution: parameter names only, no expressions, no code execution."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")


class TemplateProblem(ValueError):
    """A placeholder that is not a bare name."""


def references(text: str) -> list[str]:
    """The parameter names ``text`` refers to, in order; TemplateProblem for anything else."""
    names = []
    for match in PLACEHOLDER.finditer(text):
        name = _NAME.match(match.group(1))
        if not name:
            raise TemplateProblem(
                f"'{match.group(0)}' is not a parameter reference; only '{{{{ name }}}}' is allowed"
            )
        names.append(name.group(1))
    return names


def substitute(text: str, values: Mapping[str, str], *, shell_quote: bool = False) -> str:
    """Replace every ``{{ name }}``. In shell strings each value is quoted, so it stays one word."""
    if "{{" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        value = values[name]
        return shlex.quote(value) if shell_quote else value

    return PLACEHOLDER.sub(replace, text)
