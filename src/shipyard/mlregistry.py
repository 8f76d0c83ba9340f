"""The model registry's records and decisions (issue 15 §4), without I/O.

A model is a name with numbered versions (1, 2, …); each version is a file or folder stored
content-addressed under the home (:mod:`shipyard.blobstore`), with the execution and step that
made it and its metrics. Each version is in one stage: ``staging`` when registered,
``production`` (at most one version of a model), or ``archived``.

Which version is production, and which one a rollback returns to, are decided here by pure
functions over the versions' stages and the model's *production stack* — the versions that
were put in production, latest last: ``promote`` pushes, ``rollback`` pops (so rolling back
twice walks two promotions back, never forth to the version just rolled back from). The
operations (:mod:`shipyard.operations.registering`) read, decide and write in one transaction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shipyard.errors import ShipyardError

__all__ = [
    "Decision",
    "ModelError",
    "ModelEvent",
    "ModelInfo",
    "ModelNotFound",
    "ModelRow",
    "ModelVersion",
    "Stage",
    "StageChange",
    "check_model_name",
    "parse_metrics",
    "parse_source",
    "promote",
    "rollback",
]


class ModelError(ShipyardError):
    """A model, version or registration the registry refuses; nothing was written."""


class ModelNotFound(ModelError):
    """No model of that name, or no such version of it (404 when served)."""


class Stage(StrEnum):
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered version: what it is (digest, size), where it came from, its figures."""

    model: str
    version: int
    digest: str  # SHA-256 (hex) of the file, or of a folder's manifest
    kind: str  # "file" or "folder"
    size: int  # bytes (a folder: all its files)
    files: int
    stage: Stage
    registered_at: datetime
    registered_by: str
    source_path: str  # the PATH it was registered from
    execution_id: str | None = None
    step: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    stored_path: str = ""  # where the registry keeps it (set when read back)


@dataclass(frozen=True, slots=True)
class ModelEvent:
    """A stage change: a version registered, promoted, archived or rolled back, by whom."""

    model: str
    version: int
    action: str  # register, promote, rollback
    from_stage: Stage | None
    to_stage: Stage
    actor: str
    at: datetime
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ModelRow:
    """A model as the store keeps it."""

    name: str
    created_at: datetime
    production_stack: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model, its versions (oldest first) and stage changes (oldest first)."""

    name: str
    created_at: datetime
    production: int | None
    latest: int
    versions: list[ModelVersion] = field(default_factory=list)
    events: list[ModelEvent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StageChange:
    """What a promote or rollback did: production before and after, and the events."""

    model: str
    production: int
    previous: int | None
    events: list[ModelEvent] = field(default_factory=list)


# -- decisions -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """The stages that change (version → new stage) and the production stack after."""

    changes: dict[int, Stage]
    stack: tuple[int, ...]
    production: int
    previous: int | None


def production_of(stages: Mapping[int, Stage]) -> int | None:
    found = [version for version, stage in stages.items() if stage is Stage.PRODUCTION]
    return max(found) if found else None


def promote(
    model: str, stages: Mapping[int, Stage], stack: Sequence[int], version: int
) -> Decision:
    """Put ``version`` in production; the version in production until now is archived."""
    _exists(model, stages, version)
    current = production_of(stages)
    if version == current:
        raise ModelError(
            f"version {version} of model '{model}' is already in production",
            hint=f"`shipyard models show {model}` lists its versions and stages",
        )
    return _moved(stages, (*_live(stack, current), version), current, version)


def rollback(
    model: str, stages: Mapping[int, Stage], stack: Sequence[int], version: int | None = None
) -> Decision:
    """Production goes back to the version in production before the current one (``version``
    None), or to ``version``; the current one is archived."""
    current = production_of(stages)
    if current is None:
        raise ModelError(
            f"model '{model}' has no version in production to roll back",
            hint=f"put one there first: shipyard models promote {model} --to VERSION",
        )
    live = _live(stack, current)
    if version is None:
        earlier = live[:-1]
        if not earlier or earlier[-1] not in stages:
            raise ModelError(
                f"model '{model}' had no version in production before version {current}",
                hint=f"name the version to go back to: shipyard models rollback {model} --to N",
            )
        return _moved(stages, earlier, current, earlier[-1])
    _exists(model, stages, version)
    if version == current:
        raise ModelError(
            f"version {version} of model '{model}' is the one in production",
            hint="name another version with --to, or leave --to out to go back one",
        )
    if version in live:
        kept = live[: len(live) - live[::-1].index(version)]
    else:
        kept = (*live[:-1], version)
    return _moved(stages, kept, current, version)


def _live(stack: Sequence[int], current: int | None) -> tuple[int, ...]:
    """The stack, ending with the current production version (a stack that lost track of it —
    a store edited by hand — gets it put back on top)."""
    live = tuple(stack)
    if current is not None and (not live or live[-1] != current):
        live = (*live, current)
    return live


def _moved(
    stages: Mapping[int, Stage], stack: Sequence[int], current: int | None, target: int
) -> Decision:
    changes = {target: Stage.PRODUCTION}
    if current is not None:
        changes[current] = Stage.ARCHIVED
    assert stack and stack[-1] == target
    return Decision(changes, tuple(stack), target, current)


def _exists(model: str, stages: Mapping[int, Stage], version: int) -> None:
    if version not in stages:
        known = ", ".join(str(number) for number in sorted(stages)) or "none"
        raise ModelNotFound(
            f"model '{model}' has no version {version} (its versions: {known})",
            hint=f"`shipyard models show {model}` lists them",
        )


# -- input ---------------------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_model_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ModelError(
            f"'{name}' is not a model name",
            hint="use letters, digits, '.', '_' and '-' (up to 100, starting with a letter "
            "or digit), e.g. churn-classifier",
        )
    return name


def parse_metrics(text: str) -> dict[str, float]:
    """``accuracy=0.91,loss=0.2`` as figures; a name twice, a value that is no finite number
    or an empty pair is refused."""
    found: dict[str, float] = {}
    for pair in text.split(","):
        name, equals, value = (part.strip() for part in pair.partition("="))
        if not pair.strip():
            continue
        if not equals or not name:
            raise ModelError(
                f"--metrics: '{pair.strip()}' is not NAME=VALUE",
                hint="give --metrics accuracy=0.91,loss=0.2",
            )
        if name in found:
            raise ModelError(f"--metrics names '{name}' twice", hint="give each metric once")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ModelError(
                f"--metrics: {name}={value!r} is not a finite number",
                hint="give numbers, e.g. accuracy=0.91",
            )
        found[name] = number
    if not found:
        raise ModelError("--metrics holds no NAME=VALUE", hint="e.g. --metrics accuracy=0.91")
    return found


def check_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """Figures given to the operation (through the API or the wire): names and finite numbers."""
    checked: dict[str, float] = {}
    for name, value in metrics.items():
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if not isinstance(name, str) or not name.strip() or number is None:
            raise ModelError(
                f"metric {name!r}={value!r} is not a name with a number",
                hint="give metrics as name → number, e.g. {'accuracy': 0.91}",
            )
        if not math.isfinite(number):
            raise ModelError(f"metric {name}={value!r} is not a finite number")
        checked[name] = float(number)
    return checked


def parse_source(text: str, option: str) -> tuple[str, str]:
    """``EXEC/STEP`` as (execution id, step)."""
    execution, slash, step = text.rpartition("/")
    if not slash or not execution.strip() or not step.strip():
        raise ModelError(
            f"{option} '{text}' is not EXEC/STEP",
            hint=f"name the execution and its step, e.g. {option} exec_20261202_ab12/train",
        )
    return execution.strip(), step.strip()
