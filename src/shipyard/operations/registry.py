"""Named pipelines (issue 12 §1): the registry's operations, mixed into LocalOperations."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from shipyard.api import ValidationReport
    from shipyard.registry import PipelineInfo


def _pending() -> ShipyardError:
    return ShipyardError("named pipelines are not available yet", hint="run a spec file")


class PipelineOperations:
    def pipeline_add(
        self, name: str, spec: str | Path, *, spec_text: str | None = None, replace: bool = False
    ) -> PipelineInfo:
        raise _pending()

    def pipeline_list(self) -> list[PipelineInfo]:
        raise _pending()

    def pipeline_show(self, name: str) -> PipelineInfo:
        raise _pending()

    def pipeline_remove(self, name: str) -> PipelineInfo:
        raise _pending()

    def pipeline_set(
        self, name: str, defaults: Mapping[str, Any], *, unset: list[str] | None = None
    ) -> PipelineInfo:
        raise _pending()

    def pipeline_step_add(
        self, name: str, step: str, definition: Mapping[str, Any]
    ) -> PipelineInfo:
        raise _pending()

    def pipeline_step_remove(self, name: str, step: str) -> PipelineInfo:
        raise _pending()

    def pipeline_step_replace(
        self, name: str, step: str, definition: Mapping[str, Any]
    ) -> PipelineInfo:
        raise _pending()

    def pipeline_validate(self, name: str) -> ValidationReport:
        raise _pending()

    def pipeline_spec(self, name: str) -> str:
        raise _pending()
