"""The layout of a template repository, read without running anything (issue 12 §3).

A repository is a folder (or a git repository's clone) with ``shipyard-index.yaml`` at its top:

    templates:
      fio:
        file: fio/fio.yaml            # the spec, relative to the repository, inside it
        description: I/O bandwidth    # optional: else the spec's own description
        requires: ">=0.1"             # optional: the oldest Shipyard that runs it

Everything here is pure: parsing that text into entries (every problem at once, each with its
file:line), the version decision, and the names a user may give. The operations that read
files, clone and store are in :mod:`shipyard.operations.templates`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from shipyard.errors import Location, ShipyardError, SpecProblem

INDEX_FILE = "shipyard-index.yaml"
BUILTIN = "builtin"
#: Names of repositories and templates: as spec names (they end up in folder names and refs).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENTRY_KEYS = ("file", "description", "requires")
_VERSION = re.compile(r"^\s*(?:>=\s*)?(\d+(?:\.\d+){0,3})\s*$")
INDEX_EXAMPLE = (
    f"write {INDEX_FILE} at the repository's top: "
    "templates: {NAME: {file: NAME.yaml, requires: '>=0.1'}} (see docs/templates.md)"
)


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One template as its repository's index lists it."""

    name: str
    file: str  # relative to the repository, checked to stay inside it
    description: str = ""
    requires: str | None = None
    line: int = 0  # where the entry starts in the index file, for messages


def check_name(name: str, what: str) -> None:
    """A repository's or template's name: letters, digits, ``_ - .``, at most 64 characters."""
    if not NAME_PATTERN.match(name):
        raise ShipyardError(
            f"{what} name {name!r} is not allowed",
            hint="use letters, digits, '_', '-' and '.', starting with a letter or digit "
            "(at most 64 characters)",
        )


def split_ref(ref: str) -> tuple[str, str]:
    """``REPO/NAME`` → (repo, name); a bare ``NAME`` is a template of the builtin repository."""
    repo, slash, name = ref.partition("/")
    if not slash:
        repo, name = BUILTIN, ref
    if not repo or not name:
        raise ShipyardError(
            f"template reference {ref!r} is not REPO/NAME",
            hint="for example index:builtin/fio (shipyard index templates lists them)",
        )
    return repo, name


def parse_version(text: str) -> tuple[int, ...] | None:
    """``0.1``, ``>=0.1.2`` → (0, 1) or (0, 1, 2); None for anything else."""
    found = _VERSION.match(text)
    return tuple(int(part) for part in found.group(1).split(".")) if found else None


def newer_needed(requires: str | None, version: str) -> str | None:
    """Why a template needing ``requires`` cannot run on Shipyard ``version``, or None when it
    can. Versions compare part by part as numbers, missing parts being 0 (0.1 == 0.1.0); a
    suffix of ``version`` after its numbers (0.2.0rc1, 0.2.0+local) is ignored."""
    if requires is None:
        return None
    needed = parse_version(requires)
    if needed is None:
        return f"its 'requires: {requires}' is not a version like '>=0.1'"
    have = _leading_numbers(version)
    width = max(len(needed), len(have))
    if _padded(have, width) >= _padded(needed, width):
        return None
    shown = requires.strip().removeprefix(">=").strip()
    return f"it needs Shipyard >= {shown}, and this is Shipyard {version}"


def _leading_numbers(version: str) -> tuple[int, ...]:
    found = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(part) for part in found.group(0).split(".")) if found else (0,)


def _padded(numbers: tuple[int, ...], width: int) -> tuple[int, ...]:
    return numbers + (0,) * (width - len(numbers))


def parse_index(text: str, file: str) -> tuple[list[IndexEntry], list[SpecProblem]]:
    """The entries of an index file's ``text`` and every problem found in it (each with its
    file:line); the entries are the valid ones."""
    from pathlib import Path

    from shipyard.spec.yamlsource import YamlProblems, read_yaml

    try:
        data, source = read_yaml(text, Path(file))
    except YamlProblems as error:
        return [], list(error.problems)
    top = source.locate(())
    if not isinstance(data, dict) or not isinstance(data.get("templates"), dict):
        return [], [SpecProblem("the index has no 'templates' mapping", top, hint=INDEX_EXAMPLE)]
    problems = [
        SpecProblem(f"unknown key {key!r}", source.locate((key,), key=True), hint=INDEX_EXAMPLE)
        for key in data
        if key != "templates"
    ]
    if not data["templates"]:
        problems.append(SpecProblem("the index lists no templates", source.locate(("templates",))))
    entries: list[IndexEntry] = []
    for name, body in data["templates"].items():
        where = source.locate(("templates", name), key=True)
        entry, found = _entry(str(name), body, where, source)
        problems += found
        if entry is not None:
            entries.append(entry)
    return entries, problems


def _entry(
    name: str, body: Any, where: Location | None, source: Any
) -> tuple[IndexEntry | None, list[SpecProblem]]:
    if not NAME_PATTERN.match(name):
        hint = "letters, digits, '_', '-' and '.', at most 64 characters"
        return None, [SpecProblem(f"template name {name!r} is not allowed", where, hint=hint)]
    if not isinstance(body, dict):
        return None, [SpecProblem(f"template {name!r} is not a mapping", where, hint=INDEX_EXAMPLE)]
    problems = [
        SpecProblem(
            f"template {name!r}: unknown key {key!r}",
            source.locate(("templates", name, key), key=True),
            hint=f"an entry has: {', '.join(_ENTRY_KEYS)}",
        )
        for key in body
        if key not in _ENTRY_KEYS
    ]
    for key in _ENTRY_KEYS:
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            at = source.locate(("templates", name, key))
            problems.append(SpecProblem(f"template {name!r}: {key} must be a string", at))
    file = body.get("file")
    file_problem = _file_problem(file) if isinstance(file, str) or file is None else None
    if file_problem:
        at = source.locate(("templates", name, "file"))
        problems.append(SpecProblem(f"template {name!r}: {file_problem}", at))
    requires = body.get("requires")
    if isinstance(requires, str) and parse_version(requires) is None:
        at = source.locate(("templates", name, "requires"))
        problems.append(
            SpecProblem(
                f"template {name!r}: requires {requires!r} is not a version",
                at,
                hint="write the oldest Shipyard that runs it: '>=0.1' (or just '0.1')",
            )
        )
    if problems:
        return None, problems
    line = where.line if where else 0
    description = str(body.get("description") or "")
    return IndexEntry(name, str(file), description, requires, line), []


def _file_problem(file: str | None) -> str | None:
    """Why ``file`` cannot name a spec inside the repository (None: it can, as written)."""
    if not file:
        return "'file' is missing: the spec's path inside the repository"
    path = PurePosixPath(file)
    if path.is_absolute() or ".." in path.parts or "\0" in file:
        return f"file {file!r} must be a relative path inside the repository (no '..')"
    return None
