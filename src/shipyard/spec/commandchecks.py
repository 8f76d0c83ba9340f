"""Checks that every command, environment and value of a spec could really be started.

``validate`` must catch what would only fail at ``plan`` or ``run``: a string command ``shlex``
cannot split, a NUL byte (no argv, environment or file name can carry one), an environment key
that ``execve`` refuses, ``shell: true`` beside an argv list. Each check is
``(spec or raw data, source) -> list[SpecProblem]`` like those of :mod:`shipyard.spec.checks`.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from shipyard.errors import SpecProblem
from shipyard.spec.fields import env_maps
from shipyard.spec.models import Spec
from shipyard.spec.templating import PLACEHOLDER
from shipyard.spec.yamlsource import PathKey, SourceMap


@dataclass(frozen=True)
class UnitCommand:
    """One command of the spec and where it is written."""

    what: str  # "step 'a'", "service 'web'", "prepare hook 1"
    path: PathKey  # of its ``run``
    run: list[str] | str
    shell: bool


def commands(spec: Spec) -> Iterator[UnitCommand]:
    """Every command the spec would start: hooks, steps and services (not health probes:
    those are argv lists, checked by the model)."""
    for phase in ("prepare", "cleanup"):
        for index, hook in enumerate(getattr(spec.hooks, phase)):
            path: PathKey = ("hooks", phase, index, "run")
            yield UnitCommand(f"{phase} hook {index + 1}", path, hook.run, hook.shell)
    for name, step in spec.steps.items():
        yield UnitCommand(f"step '{name}'", ("steps", name, "run"), step.run, step.shell)
    for name, service in spec.services.items():
        path = ("services", name, "run")
        yield UnitCommand(f"service '{name}'", path, service.run, service.shell)
    for key, units in (("steps", spec.steps), ("services", spec.services)):
        for name, unit in units.items():
            stop = unit.stop
            if stop.command is not None:
                what = f"the stop command of {key[:-1]} '{name}'"
                yield UnitCommand(what, (key, name, "stop", "command"), stop.command, stop.shell)


def split_problem(text: str) -> str | None:
    """Why a string command (run without a shell) cannot become an argv, or None.

    Placeholders stand for one word whatever their value (the plan splits around them), so a
    plain word takes their place here.
    """
    try:
        words = shlex.split(PLACEHOLDER.sub("x", text))
    except ValueError as error:  # "No closing quotation", "No escaped character"
        return str(error).lower()
    if not words:
        return "it has no words"
    if not words[0]:
        return "its first word (the program) is empty"
    return None


def check_command_strings(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    """A string run without a shell is split like a shell would: it must split."""
    problems = []
    for command in commands(spec):
        if command.shell or not isinstance(command.run, str):
            continue
        why = split_problem(command.run)
        if why is not None:
            problems.append(
                SpecProblem(
                    f"{command.what}: the command {command.run!r} cannot be split into "
                    f"words: {why}",
                    source.locate(command.path),
                    hint="close the quote (or escape it with \\), write the command as an argv "
                    'list like [echo, "it\'s"], or set shell: true to have /bin/sh read it',
                )
            )
    return problems


def check_shell_commands(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    """``shell: true`` takes one string: there is no way to hand an argv list to ``sh -c``."""
    problems = []
    for command in commands(spec):
        if command.shell and not isinstance(command.run, str):
            key = command.path[-1]  # run, or a stop's command
            problems.append(
                SpecProblem(
                    f"{command.what} says 'shell: true' but '{key}' is a list",
                    source.locate((*command.path[:-1], "shell")),
                    hint=f"with shell: true write {key} as one string; without it, as an argv list",
                )
            )
    return problems


def check_env_keys(spec: Spec, source: SourceMap) -> list[SpecProblem]:
    """An environment variable's name can be neither empty nor hold '=' (``execve`` would read
    ``A=B=x`` as A set to ``B=x``; Python refuses both outright)."""
    problems = []
    for path, env in env_maps(spec):
        for key in env:
            if key and "=" not in key:
                continue
            what = "an empty name" if not key else f"the name {key!r}, which holds '='"
            problems.append(
                SpecProblem(
                    f"{'.'.join(map(str, path))} has {what}: no process can be given it",
                    source.locate((*path, key), key=True),
                    hint="name environment variables with letters, digits and '_', like "
                    "DATA_DIR: value",
                )
            )
    return problems


# -- on the raw data: reported even when the shape is wrong elsewhere --------------------------


def _strings(node: object, path: PathKey) -> Iterator[tuple[PathKey, str, bool]]:
    """Every string of the raw data with its path; the flag says it is a mapping's key."""
    if isinstance(node, str):
        yield path, node, False
    elif isinstance(node, dict):
        for key, value in node.items():
            child = (*path, key)
            if isinstance(key, str):
                yield child, key, True
            yield from _strings(value, child)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _strings(item, (*path, index))


def _describe(path: PathKey) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the spec"


def check_no_nul(data: object, source: SourceMap) -> list[SpecProblem]:
    """No NUL byte anywhere: argv, environment and file names end at one, so a value holding
    it cannot be passed on (Python refuses it: "embedded null byte")."""
    problems = []
    for path, text, is_key in _strings(data, ()):
        if "\0" in text:
            what = f"the key {text!r} in {_describe(path[:-1])}" if is_key else _describe(path)
            problems.append(
                SpecProblem(
                    f"{what} contains a NUL byte (\\0), which no command line, environment "
                    "variable or file name can hold",
                    source.locate(path, key=is_key),
                    hint="remove the \\0 (or \\x00) escape from this string",
                )
            )
    return problems
