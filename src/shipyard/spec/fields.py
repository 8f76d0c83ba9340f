"""Every string of a spec where ``{{ name }}`` is substituted, with its path and its kind.

One walk, shared by the checks that look at templates (names exist, secrets stay in env values),
so a new templated field is seen by all of them at once.
"""

from __future__ import annotations

from collections.abc import Iterator

from shipyard.spec.models import Spec
from shipyard.spec.yamlsource import PathKey


def template_fields(spec: Spec) -> Iterator[tuple[PathKey, str]]:
    """Every string in the spec where ``{{ name }}`` is substituted, with its path."""
    for key, value in spec.env.items():
        yield ("env", key), value
    for phase in ("prepare", "cleanup"):
        for index, hook in enumerate(getattr(spec.hooks, phase)):
            yield from _command_fields(("hooks", phase, index, "run"), hook.run)
    for name, service in spec.services.items():
        yield from _command_fields(("services", name, "run"), service.run)
        for key, value in service.env.items():
            yield ("services", name, "env", key), value
    for name, step in spec.steps.items():
        yield from _command_fields(("steps", name, "run"), step.run)
        for key, value in step.env.items():
            yield ("steps", name, "env", key), value
        if step.workdir is not None:
            yield ("steps", name, "workdir"), step.workdir
        for field in ("inputs", "outputs"):
            for index, path in enumerate(getattr(step, field)):
                yield ("steps", name, field, index), path


def _command_fields(path: PathKey, run: list[str] | str) -> Iterator[tuple[PathKey, str]]:
    if isinstance(run, str):
        yield path, run
    else:
        for index, arg in enumerate(run):
            yield (*path, index), arg


def field_kind(path: PathKey) -> str:
    """What the templated string at ``path`` is: ``env``, ``command``, ``workdir``, or
    ``declared input path`` / ``declared output path``."""
    if "run" in path:
        return "command"
    if path[-1] == "workdir":
        return "workdir"
    if len(path) >= 2 and path[-2] in ("inputs", "outputs"):
        return f"declared {str(path[-2])[:-1]} path"
    return "env"
