"""Declared paths stay inside their step's working folder.

``inputs``, ``outputs``, ``checkpoint.paths`` and ``checkpoint.ready_file`` name files Shipyard
itself reads, copies or deletes on the step's behalf. Were they allowed to be absolute or to climb
out with ``..``, a spec (or a ``-p`` value) could make Shipyard hash, copy or unlink any file the
user can reach. So they are checked twice, without I/O:

- at validation, the literal text (placeholders stand for a plain name): file:line:col;
- at plan time, the text with the parameters' values in it (a value can bring its own ``..``).

Symlinks cannot be judged here: the engine resolves them at run time (``shipyard.confinement``).
A step's ``workdir`` written literally by the spec's author may point anywhere (it is their file);
one that takes a parameter's value must stay inside the folder the author wrote around it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from pathlib import Path

from shipyard.errors import ParameterError, SpecProblem
from shipyard.spec.models import Spec, StepSpec
from shipyard.spec.templating import PLACEHOLDER, references, substitute
from shipyard.spec.yamlsource import PathKey, SourceMap

HINT = (
    "declared paths are relative to the step's workdir and stay inside it; to use a file from "
    "elsewhere, point the step's workdir there or copy the file in from the step's command"
)


def escape(path: str) -> str | None:
    """Why ``path`` would leave the folder it is relative to, or None when it stays inside."""
    if path.startswith("/"):
        return "is absolute"
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        return "climbs out with '..'"
    return None


def inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies in ``folder`` (or is it), lexically: both are normalised first."""
    path, folder = posixpath.normpath(path), posixpath.normpath(folder)
    if path.startswith("/") != folder.startswith("/"):
        return False  # one relative to somewhere unknown: never taken as inside
    if folder == ".":
        return escape(path) is None
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _declared(step: StepSpec) -> Iterator[tuple[PathKey, str, str]]:
    """(path in the spec below the step, what it is, its text) of every confined path."""
    for field, what in (("inputs", "input"), ("outputs", "output")):
        for index, text in enumerate(getattr(step, field)):
            yield (field, index), what, text
    if step.checkpoint is not None:
        for index, text in enumerate(step.checkpoint.paths):
            yield ("checkpoint", "paths", index), "checkpoint path", text
        if step.checkpoint.ready_file is not None:
            yield ("checkpoint", "ready_file"), "checkpoint ready_file", step.checkpoint.ready_file


def check_confined_paths(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    """Literal declared paths that are absolute or climb out of the step's workdir."""
    problems = []
    for name, step in spec.steps.items():
        for where, what, text in _declared(step):
            # A placeholder stands for a plain name here; its real value is checked at plan time.
            reason = escape(PLACEHOLDER.sub("x", text))
            if reason is not None:
                problems.append(
                    SpecProblem(
                        f"step '{name}': {what} '{text}' {reason}; it must stay inside the "
                        "step's workdir",
                        source.locate(("steps", name, *where)),
                        hint=HINT,
                    )
                )
    return problems


def resolved_path(step: str, what: str, template: str, values: Mapping[str, str]) -> str:
    """``template`` with the parameters' values in it; ParameterError if it leaves the workdir."""
    value = substitute(template, values)
    reason = escape(value)
    if reason is None:
        return value
    raise ParameterError(
        f"step '{step}': {what} '{template}' is '{value}'{_from(template)}, which {reason}; "
        "it must stay inside the step's workdir",
        hint="pass a relative path with no '..' that leaves the folder",
    )


def resolved_workdir(
    step: str, template: str, values: Mapping[str, str], base: Path, *, kind: str = "step"
) -> Path:
    """The working folder of step (or ``kind``) ``step``. A parameter's value may not move it
    out of the folder the spec's author wrote around the placeholder (the spec's folder for a
    bare ``{{ dir }}``)."""
    value = substitute(template, values)
    workdir = base / value
    first = PLACEHOLDER.search(template)
    if first is None:
        return workdir  # literal: the author's choice, absolute or not
    literal = template[: first.start()]
    anchor = base / (literal[: literal.rfind("/") + 1] or ".")  # up to its last '/'
    if inside(str(workdir), str(anchor)):
        return workdir
    raise ParameterError(
        f"{kind} '{step}': workdir '{template}' is '{value}'{_from(template)}, which leaves "
        f"{posixpath.normpath(anchor)}",
        hint="a workdir taken from a parameter stays inside the spec's folder (or the folder "
        "written before the placeholder); pass a relative path with no '..' that leaves it",
    )


def _from(template: str) -> str:
    names = list(dict.fromkeys(references(template)))
    if not names:
        return ""
    quoted = ", ".join(f"'{name}'" for name in names)
    return f" (from parameter {quoted})" if len(names) == 1 else f" (from parameters {quoted})"


__all__ = ["check_confined_paths", "escape", "inside", "resolved_path", "resolved_workdir"]
