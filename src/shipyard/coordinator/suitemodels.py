"""What a suite is made of, as Pydantic models (issue 14 §1): the body of ``POST
/api/v1/suites`` and the part of a suite spec file (:mod:`shipyard.cli.suitespec`) that is
sent as it. ``worker_schedule`` and the hooks are stored and validated now; the node managers
(issue 14 §2, next) use them.

No ``from __future__ import annotations``: FastAPI reads these models' annotations.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: The most managed workers a suite asks of one manager (Mitosis' bound).
MAX_WORKERS = 256


class Hook(BaseModel):
    """A command run around a suite on each manager: ``env_preparation`` before its first
    task, ``env_cleanup`` after its last (always)."""

    model_config = ConfigDict(extra="forbid")
    command: list[str] = Field(min_length=1, description="argv; no shell.")
    env: dict[str, str] = {}
    timeout: float = Field(default=600.0, gt=0, le=86_400, description="Seconds.")


class CpuBinding(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strategy: Literal["round-robin", "exclusive", "shared"] = "round-robin"
    cores: list[Annotated[int, Field(ge=0, le=65_535)]] = Field(
        default=[], description="CPU numbers; empty: every CPU."
    )


class WorkerSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(default=1, ge=1, le=MAX_WORKERS, description="Workers per manager.")
    cpu_binding: CpuBinding | None = None
    prefetch: int = Field(default=16, ge=1, le=10_000, description="Tasks fetched ahead.")


class SuiteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group: str = Field(min_length=1, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    tags: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default=[], description="A worker (or manager) needs them all."
    )
    labels: dict[str, Any] = {}
    priority: int = Field(default=0, ge=-(2**31), le=2**31 - 1)
    worker_schedule: WorkerSchedule = WorkerSchedule()
    env_preparation: Hook | None = None
    env_cleanup: Hook | None = None
