"""The named environments' operations (issue 16 §4), over the home's EnvironmentStore."""

from __future__ import annotations

from collections.abc import Mapping

from shipyard.environments import EnvironmentInfo, EnvironmentStore
from shipyard.operations.core import Core


class EnvironmentOperations:
    def environment_save(
        self: Core,
        name: str,
        variables: Mapping[str, str],
        *,
        from_modules: list[str] | None = None,
    ) -> EnvironmentInfo:
        store = EnvironmentStore(self.workspace.home)
        return store.save(name, variables, from_modules=from_modules, now=self.clock.now())

    def environment_list(self: Core) -> list[EnvironmentInfo]:
        return list(EnvironmentStore(self.workspace.home).all().values())

    def environment_show(self: Core, name: str) -> EnvironmentInfo:
        return EnvironmentStore(self.workspace.home).get(name)

    def environment_remove(self: Core, name: str) -> EnvironmentInfo:
        return EnvironmentStore(self.workspace.home).remove(name)
