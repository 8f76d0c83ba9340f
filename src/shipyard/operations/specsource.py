"""Where a spec comes from when an operation is given one: a file, its text, a registered
pipeline's name (issue 12 §1) or a template of the index, ``index:REPO/NAME`` (§3).

Every operation that takes a spec (validate, plan, run, up, sweep) resolves it here first, so
the name forms work through every front end alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import ShipyardError

#: The prefix of a template reference: ``index:REPO/NAME``.
INDEX_PREFIX = "index:"


@dataclass(frozen=True, slots=True)
class SpecSource:
    """A spec, resolved: what to name it by (its path, for messages and the record), its text
    (None: read the file), the parameter defaults that come with it (a registered pipeline's
    stored ones; the caller's ``-p`` win over them) and the registered name it runs as."""

    spec: str | Path
    spec_text: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    pipeline: str | None = None


def resolve(ops: Any, spec: str | Path, spec_text: str | None) -> SpecSource:
    """``spec`` as given when it is a file (or comes with its text); else the template or the
    registered pipeline it names. ``ops``: the LocalOperations asking (its store, workspace).
    Names that are neither are left as given, for the file-not-found error to name them."""
    if spec_text is not None:
        return SpecSource(spec, spec_text)
    text = str(spec)
    if not text.strip():
        # Path("") is Path("."): the error named "." as a folder, not the empty argument.
        raise ShipyardError(
            "no spec given: the spec argument is empty",
            hint="give a spec file, a registered pipeline's name (shipyard pipelines list) or "
            "index:REPO/NAME",
        )
    if text.startswith(INDEX_PREFIX):
        return _from_index(ops, text[len(INDEX_PREFIX) :])
    if Path(text).exists():
        return _file(spec)
    return _from_registry(ops, text) or SpecSource(spec)


def _file(spec: str | Path) -> SpecSource:
    """A spec file; another tool's file (process-compose, ...) as its Shipyard equivalent's
    text, named by the file's path (docs/importing.md)."""
    from shipyard.formats.hook import foreign_spec_text

    path = Path(spec)
    if not path.is_file():
        return SpecSource(spec)  # a folder or a FIFO: read_spec_text's own error names it
    converted = foreign_spec_text(path)
    return SpecSource(spec) if converted is None else SpecSource(path.resolve(), converted)


def _from_index(ops: Any, ref: str) -> SpecSource:
    """The template ``REPO/NAME``: its spec file, which the execution records as its spec
    path. Refused (by ``index_show``) when unknown, invalid or needing a newer Shipyard."""
    from shipyard.spec.reading import read_spec_text

    info = ops.index_show(ref)
    return SpecSource(info.path, read_spec_text(Path(info.path)))


def _from_registry(ops: Any, name: str) -> SpecSource | None:
    """The registered pipeline ``name``: its stored text, named by the file it was added from
    (relative paths in it stay relative to that folder), with its stored defaults. None when
    ``name`` cannot be a pipeline's; a SpecError when it could but none is registered so."""
    from shipyard.spec.editing import name_problem

    if name_problem(name) is not None:
        return None  # a path ('specs/x.yaml'): the file-not-found error names it
    # No state database, no pipelines: a mistyped file name must not create a home folder.
    stored = ops.store.pipeline_get(name) if ops.workspace.state_db.exists() else None
    if stored is None:
        raise _neither(ops, name)
    return SpecSource(
        stored.spec_path or name, stored.spec_text, dict(stored.defaults), pipeline=name
    )


def _neither(ops: Any, name: str) -> Exception:
    """``name`` is neither a spec file nor a registered pipeline: say both, and what is known."""
    from shipyard.errors import SpecError, SpecProblem

    known = [p.name for p in ops.store.pipeline_list()] if ops.workspace.state_db.exists() else []
    registered = f"registered pipelines: {', '.join(known[:20])}" if known else "none registered"
    return SpecError(
        [
            SpecProblem(
                f"no spec file at {name}, and no pipeline registered as '{name}'",
                hint=f"check the path; {registered} (shipyard pipelines list)",
            )
        ]
    )
