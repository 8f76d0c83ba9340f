"""The template index: repositories of pipeline templates (a local folder or a git URL) and
the builtin one that ships with Shipyard (issue 12 §3). The records every front end shows; the
operations are :class:`shipyard.operations.templates.IndexOperations`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shipyard.registry import ParameterInfo


@dataclass(frozen=True, slots=True)
class IndexRepo:
    name: str
    source: str  # the folder or the git URL it was added from ("builtin" for the builtin one)
    kind: str  # builtin | folder | git
    path: str  # where its templates are read (a git repository's clone in the index cache)
    templates: int = 0
    added_at: datetime | None = None
    updated_at: datetime | None = None
    revision: str | None = None  # a git repository's commit


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    repo: str
    name: str  # run it as index:REPO/NAME
    path: str  # its spec file
    description: str = ""
    requires: str | None = None  # the minimum Shipyard version it needs
    parameters: list[ParameterInfo] = field(default_factory=list)
    usable: bool = True  # False when it needs a newer Shipyard (``problem`` says which)
    problem: str | None = None
    kind: str = "pipeline"  # pipeline | fleet | mixed (steps beside services)
    steps: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
