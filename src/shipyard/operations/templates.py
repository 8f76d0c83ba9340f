"""The template index (issue 12 §3): its operations, mixed into LocalOperations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from shipyard.templates import IndexRepo, TemplateInfo


def _pending() -> ShipyardError:
    return ShipyardError("the template index is not available yet", hint="run a spec file")


class IndexOperations:
    def index_add(self, name: str, source: str) -> IndexRepo:
        raise _pending()

    def index_list(self) -> list[IndexRepo]:
        raise _pending()

    def index_remove(self, name: str) -> IndexRepo:
        raise _pending()

    def index_update(self, name: str | None = None) -> list[IndexRepo]:
        raise _pending()

    def index_templates(self, repo: str | None = None) -> list[TemplateInfo]:
        raise _pending()

    def index_show(self, ref: str) -> TemplateInfo:
        raise _pending()
