"""The suite file's shape (:mod:`shipyard.spec.suitespec`): the suite's own fields, which are
the coordinator's :class:`~shipyard.coordinator.suitemodels.SuiteIn`, plus its tasks.

No ``from __future__ import annotations``: Pydantic reads the annotations.
"""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shipyard.coordinator.suitemodels import SuiteIn

Text = Annotated[str, Field(min_length=1, max_length=10_000)]


class TaskItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: list[Text] = Field(min_length=1, description="argv; no shell.")
    env: dict[str, str] = {}
    tags: list[Text] = []
    labels: dict[str, Any] = {}
    priority: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    timeout: float | None = Field(default=None, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=100)
    key: str | None = Field(default=None, min_length=1, max_length=200)


class Generate(BaseModel):
    """One task per item: of ``values``, and of ``file``'s non-empty lines."""

    model_config = ConfigDict(extra="forbid")
    command: list[Text] = Field(min_length=1, description="argv; {{ item }} is the item.")
    values: list[str | int | float] | None = None
    file: Text | None = Field(default=None, description="Relative to the suite file.")
    env: dict[str, str] = {}
    env_name: str = Field(default="ITEM", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout: float | None = Field(default=None, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=100)

    @model_validator(mode="after")
    def _some_items(self) -> "Generate":
        if self.values is None and self.file is None:
            raise ValueError("give values (a list) or file (one item a line), or both")
        return self


class SuiteSpec(SuiteIn):
    tasks: list[TaskItem] | None = None
    generate: Generate | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "SuiteSpec":
        if self.tasks is not None and self.generate is not None:
            raise ValueError("give tasks or generate, not both (submit more with suite submit)")
        return self
