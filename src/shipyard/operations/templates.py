"""The template index (issue 12 §3): its operations, mixed into LocalOperations.

Each one is a thin call into :mod:`shipyard.operations.indexrepos`, imported on first use: every
command line builds LocalOperations, and only the index commands need git, YAML and specs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.operations.core import Core

if TYPE_CHECKING:
    from shipyard.templates import IndexRepo, TemplateInfo


class IndexOperations:
    def index_add(self: Core, name: str, source: str) -> IndexRepo:
        """Add a repository of templates: a local folder or a git URL (cloned)."""
        from shipyard.operations import indexrepos

        return indexrepos.add(self, name, source)

    def index_list(self: Core) -> list[IndexRepo]:
        """The builtin repository, then every added one by name."""
        from shipyard.operations import indexrepos

        return indexrepos.list_repos(self)

    def index_remove(self: Core, name: str) -> IndexRepo:
        """Forget a repository; a git one's clone in the index cache is deleted."""
        from shipyard.operations import indexrepos

        return indexrepos.remove(self, name)

    def index_update(self: Core, name: str | None = None) -> list[IndexRepo]:
        """Fetch and fast-forward git repositories (one, or all), re-read folders; an update
        whose templates do not validate is undone."""
        from shipyard.operations import indexrepos

        return indexrepos.update(self, name)

    def index_templates(self: Core, repo: str | None = None) -> list[TemplateInfo]:
        """The templates of one repository, or of all; each says whether it can run here."""
        from shipyard.operations import indexrepos

        return indexrepos.templates(self, repo)

    def index_show(self: Core, ref: str) -> TemplateInfo:
        """One template, ``REPO/NAME``: refused when it cannot run on this Shipyard."""
        from shipyard.operations import indexrepos

        return indexrepos.show(self, ref)
