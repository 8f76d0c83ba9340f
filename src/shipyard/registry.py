"""Named pipelines: a spec registered under a name, with stored parameter defaults (issue 12
§1). The records every front end shows; the operations are
:class:`shipyard.operations.registry.PipelineOperations`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

Scalar = str | int | float | bool


@dataclass(frozen=True, slots=True)
class ParameterInfo:
    """One parameter of a pipeline, as a typed menu entry."""

    name: str
    type: str  # str | int | float | bool
    default: Scalar | None = None  # the spec's default (None: required)
    stored: Scalar | None = None  # the default set with `pipelines set` (None: none)
    choices: list[Scalar] = field(default_factory=list)
    test: Scalar | None = None  # the value --mode test uses
    description: str = ""
    secret: bool = False

    @property
    def required(self) -> bool:
        return self.default is None and self.stored is None


@dataclass(frozen=True, slots=True)
class PipelineInfo:
    """A registered pipeline: its spec (kept in the store) and its stored defaults."""

    name: str  # the registered name
    spec_name: str  # the spec's own ``name:``
    spec_path: str | None  # where it was added from (the store keeps its content)
    spec_digest: str
    added_at: datetime
    updated_at: datetime
    description: str = ""
    steps: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    parameters: list[ParameterInfo] = field(default_factory=list)
    defaults: dict[str, Scalar] = field(default_factory=dict)  # stored overrides
    last_execution: str | None = None  # the newest execution run under this name


@dataclass(frozen=True, slots=True)
class StoredPipeline:
    """A row of the store's ``pipelines`` table, as the store gives it back."""

    name: str
    spec_name: str
    spec_path: str | None
    spec_text: str
    spec_digest: str
    defaults: dict[str, Scalar]
    added_at: float
    updated_at: float
    #: What list and show print of the spec (description, steps, services, the parameters'
    #: menu), taken when the spec was stored: reading them needs no spec load (the spec
    #: models' import alone is ~200 ms). None: work it out from spec_text.
    summary: dict[str, Any] | None = None


# -- a copy of each pipeline beside the store -----------------------------------------------------
# The store is the registry; a JSON copy of each pipeline in <home>/pipelines/ lets a store
# rebuilt from the run folders (shipyard store rebuild, or a damaged state.db) get the registered
# pipelines back with their stored defaults and edits, as it gets the executions back.

COPIES = "pipelines"


def save_copy(home: Path, pipeline: StoredPipeline) -> None:
    """Write ``pipeline``'s copy (whole or not at all: a temporary file renamed over it)."""
    import dataclasses
    import json

    from shipyard.workspace import write_private

    folder = home / COPIES
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"{pipeline.name}.json"
    partial = folder / f".{pipeline.name}.json.partial"
    write_private(partial, json.dumps(dataclasses.asdict(pipeline), indent=1))
    partial.replace(path)


def drop_copy(home: Path, name: str) -> None:
    (home / COPIES / f"{name}.json").unlink(missing_ok=True)


def read_copies(home: Path) -> list[StoredPipeline]:
    """Every readable copy; one that is not (cut short, edited by hand) is left out."""
    import json

    found = []
    for path in sorted((home / COPIES).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append(StoredPipeline(**data))
        except (OSError, ValueError, TypeError):
            continue
    return found
