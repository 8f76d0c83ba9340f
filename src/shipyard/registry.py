"""Named pipelines: a spec registered under a name, with stored parameter defaults (issue 12
§1). The records every front end shows; the operations are
:class:`shipyard.operations.registry.PipelineOperations`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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
