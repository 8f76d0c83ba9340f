"""The plan: a spec with parameters applied, resolved and ordered. Pure data, no I/O."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shipyard.spec.models import Resources, RetryPolicy, Scalar, StopPolicy

RunMode = Literal["normal", "debug", "profile", "test"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class PlannedCommand(_Frozen):
    """A command ready to exec: ``argv`` is final (a shell command is ``/bin/sh -c …``)."""

    argv: list[str]
    shell: bool = False

    @property
    def display(self) -> str:
        if self.shell:
            return self.argv[-1]
        import shlex

        return shlex.join(self.argv)


class PlannedStep(_Frozen):
    name: str
    description: str = ""
    command: PlannedCommand
    needs: list[str]
    env: dict[str, str] = Field(description="the step's own variables, parameters included")
    workdir: str
    timeout: float | None
    retries: RetryPolicy
    resources: Resources
    stop: StopPolicy
    enabled: bool
    stage: int


class Plan(_Frozen):
    """Everything needed to run, and to show what would run."""

    name: str
    description: str = ""
    spec_path: str | None
    spec_digest: str
    mode: RunMode
    parameters: dict[str, Scalar]
    env: dict[str, str] = Field(description="spec-level variables and SHIPYARD_PARAM_*")
    max_parallel: int
    failure_strategy: Literal["fail_fast", "continue"]
    timeout: float | None
    sample_interval: float
    prepare: list[PlannedCommand]
    cleanup: list[PlannedCommand]
    steps: list[PlannedStep]
    stages: list[list[str]]
    critical_path: list[str]
    critical_path_seconds: float | None = Field(
        None, description="sum of the mean durations of earlier runs; None without history"
    )

    def step(self, name: str) -> PlannedStep:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)
