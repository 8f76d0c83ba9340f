"""The model registry's operations (issue 15 §4), mixed into LocalOperations.

Files go to the content-addressed store under ``SHIPYARD_HOME/models`` (:mod:`shipyard.blobstore`)
before the version is recorded: a version in the store always has its content, and a refused
registration (unknown execution, missing path, bad metrics) writes nothing, as everything is
checked first. A stage change reads the stages, decides (:mod:`shipyard.mlregistry`, pure) and
writes the new stages, the production stack and the events in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import ExecutionNotFound
from shipyard.operations.core import Core

if TYPE_CHECKING:
    from shipyard.mlregistry import (
        ModelInfo,
        ModelRow,
        ModelVersion,
        Stage,
        StageChange,
    )

#: The folder under the home that holds the registry's files.
MODELS_FOLDER = "models"


def _actor() -> str:
    """Who makes a change: the user this process runs as (a server's, through a server)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class ModelOperations:
    def model_register(
        self: Core,
        name: str,
        path: str,
        *,
        source: str | None = None,
        metrics: Mapping[str, float] | None = None,
        metrics_from: str | None = None,
    ) -> ModelVersion:
        """Store the file or folder at ``path`` as the next version of model ``name``, in
        stage ``staging``; ``source``: the ``EXEC/STEP`` that made it (checked to exist);
        ``metrics``: its figures, or ``metrics_from``: those an ``EXEC/STEP`` reported."""
        from shipyard import blobstore
        from shipyard.mlregistry import (
            ModelError,
            ModelEvent,
            ModelVersion,
            Stage,
            check_metrics,
            check_model_name,
        )

        check_model_name(name)
        if metrics is not None and metrics_from is not None:
            raise ModelError(
                "--metrics and --metrics-from were both given",
                hint="give the figures, or the EXEC/STEP that reported them, not both",
            )
        if not isinstance(path, str | Path) or not str(path).strip():
            raise ModelError("the model's path is empty", hint="give the model's file or folder")
        where = Path(path)
        if not where.exists():
            raise ModelError(
                f"{where} does not exist",
                hint="give the path of the model's file or folder (on the server's machine "
                "when --server is given)",
            )
        execution_id, step = _source(self, source, "--from") if source else (None, None)
        figures = check_metrics(metrics) if metrics is not None else {}
        if metrics_from is not None:
            figures = _reported(self, metrics_from)
        stored = blobstore.put(self.workspace.home / MODELS_FOLDER, where)
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        actor = _actor()
        record = ModelVersion(
            model=name,
            version=0,
            digest=stored.digest,
            kind=stored.kind,
            size=stored.size,
            files=stored.files,
            stage=Stage.STAGING,
            registered_at=now,
            registered_by=actor,
            source_path=str(where.resolve()),
            execution_id=execution_id,
            step=step,
            metrics=figures,
        )
        detail = f"from {execution_id}/{step}" if execution_id else ""
        event = ModelEvent(name, 0, "register", None, Stage.STAGING, actor, now, detail)
        number = self.store.model_add_version(record, event)
        return _placed(self, _version(self, name, number))

    def model_list(self: Core) -> list[ModelInfo]:
        """Every model with its versions (events left out: ``model_show`` has them)."""
        import dataclasses

        if not self._has_state():
            return []
        return [dataclasses.replace(_info(self, row), events=[]) for row in self.store.model_rows()]

    def model_show(self: Core, name: str, *, version: int | None = None) -> ModelInfo:
        """A model, its versions (only ``version``, if given) and its stage changes."""
        import dataclasses

        info = _info(self, _row(self, name))
        if version is None:
            return info
        chosen = _version(self, name, version, info.versions)
        return dataclasses.replace(
            info,
            versions=[chosen],
            events=[event for event in info.events if event.version == version],
        )

    def model_promote(self: Core, name: str, version: int) -> StageChange:
        """Put ``version`` in production; the one in production until now is archived."""
        from shipyard.mlregistry import promote

        return _change(
            self,
            name,
            "promote",
            lambda stages, stack: promote(name, stages, stack, _number(version)),
        )

    def model_rollback(self: Core, name: str, *, version: int | None = None) -> StageChange:
        """Production goes back to the version in production before the current one, or to
        ``version``; the current one is archived."""
        from shipyard.mlregistry import rollback

        wanted = None if version is None else _number(version)
        return _change(
            self, name, "rollback", lambda stages, stack: rollback(name, stages, stack, wanted)
        )

    def model_path(
        self: Core, name: str, *, stage: str = "production", version: int | None = None
    ) -> str:
        """Where the registry keeps the model's file (or folder): of ``version``, else of the
        latest version in ``stage``."""
        from shipyard.mlregistry import ModelError, Stage

        _row(self, name)
        versions = self.store.model_versions(name)
        if version is not None:
            return _placed(self, _version(self, name, version, versions)).stored_path
        if stage not in {member.value for member in Stage}:
            raise ModelError(
                f"'{stage}' is not a stage",
                hint="give --stage production, staging or archived (or --version N)",
            )
        found = [v for v in versions if v.stage.value == stage]
        if not found:
            raise ModelError(
                f"model '{name}' has no version in {stage}",
                hint=f"`shipyard models show {name}` lists its versions and stages"
                + (
                    f"; put one in production with shipyard models promote {name} --to N"
                    if stage == Stage.PRODUCTION
                    else ""
                ),
            )
        return _placed(self, found[-1]).stored_path


# -- helpers -------------------------------------------------------------------------------------


def _number(version: int) -> int:
    from shipyard.mlregistry import ModelError

    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelError(
            f"version {version!r} is not a positive whole number", hint="versions start at 1"
        )
    return version


def _row(self: Core, name: str) -> ModelRow:
    from shipyard.mlregistry import ModelNotFound, check_model_name

    check_model_name(name)
    row = self.store.model_row(name) if self._has_state() else None
    if row is None:
        known = [r.name for r in self.store.model_rows()] if self._has_state() else []
        raise ModelNotFound(
            f"no model named '{name}' in the registry",
            hint=f"registered models: {', '.join(known)}"
            if known
            else f"register one: shipyard models register {name} PATH",
        )
    return row


def _info(self: Core, row: ModelRow) -> ModelInfo:
    from shipyard.mlregistry import ModelInfo, production_of

    versions = [_placed(self, v) for v in self.store.model_versions(row.name)]
    stages = {v.version: v.stage for v in versions}
    return ModelInfo(
        name=row.name,
        created_at=row.created_at,
        production=production_of(stages),
        latest=max(stages, default=0),
        versions=versions,
        events=self.store.model_events(row.name),
    )


def _version(
    self: Core, name: str, version: int, versions: list[ModelVersion] | None = None
) -> ModelVersion:
    from shipyard.mlregistry import ModelNotFound

    number = _number(version)
    versions = versions if versions is not None else self.store.model_versions(name)
    for found in versions:
        if found.version == number:
            return found
    known = ", ".join(str(v.version) for v in versions) or "none"
    raise ModelNotFound(
        f"model '{name}' has no version {number} (its versions: {known})",
        hint=f"`shipyard models show {name}` lists them",
    )


def _placed(self: Core, version: ModelVersion) -> ModelVersion:
    """The version with the path its content is kept at."""
    import dataclasses

    from shipyard import blobstore

    root = self.workspace.home / MODELS_FOLDER
    where = (
        blobstore.tree_path(root, version.digest)
        if version.kind == "folder"
        else blobstore.blob_path(root, version.digest)
    )
    return dataclasses.replace(version, stored_path=str(where))


def _change(self: Core, name: str, action: str, decide: _Decider) -> StageChange:
    from shipyard.mlregistry import ModelEvent, StageChange

    _row(self, name)
    with self.store.transaction():  # read, decide and write with no other writer between
        row = _row(self, name)
        stages = {v.version: v.stage for v in self.store.model_versions(name)}
        decision = decide(stages, row.production_stack)
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        actor = _actor()
        events = [
            ModelEvent(
                name,
                version,
                action,
                stages[version],
                stage,
                actor,
                now,
                _detail(action, decision.previous, decision.production),
            )
            for version, stage in sorted(decision.changes.items(), key=_archived_first)
        ]
        self.store.model_set_stages(name, decision.changes, decision.stack, events)
    return StageChange(name, decision.production, decision.previous, events)


def _archived_first(item: tuple[int, Stage]) -> int:
    from shipyard.mlregistry import Stage

    return 0 if item[1] is Stage.ARCHIVED else 1


def _detail(action: str, previous: int | None, production: int) -> str:
    if previous is None:
        return f"{action}: version {production} to production (none there before)"
    return f"{action}: production {previous} → {production}"


if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from shipyard.mlregistry import Decision

    _Decider = Callable[[dict[int, Stage], Sequence[int]], Decision]


def _source(self: Core, text: str, option: str) -> tuple[str, str]:
    """``EXEC/STEP`` checked against the store: the execution and its step exist."""
    from shipyard.mlregistry import ModelError, parse_source

    execution_id, step = parse_source(text, option)
    status = self.store.get_execution(execution_id) if self._has_state() else None
    if status is None:
        raise ExecutionNotFound(
            f"{option} {text}: no execution {execution_id} in {self.workspace.home}",
            hint="`shipyard list` shows the executions",
        )
    units = [unit.name for unit in status.units]
    if step not in units:
        raise ModelError(
            f"{option} {text}: execution {execution_id} has no step '{step}'",
            hint=f"its steps: {', '.join(units)}",
        )
    return execution_id, step


def _reported(self: Core, text: str) -> dict[str, float]:
    """The figures a step reported (its latest attempt's; a name reported twice: the last)."""
    from shipyard.mlregistry import ModelError

    execution_id, step = _source(self, text, "--metrics-from")
    reported = self.store.metrics(execution_id, step)
    if not reported:
        raise ModelError(
            f"--metrics-from {text}: step '{step}' reported no metrics",
            hint="a step reports them by appending JSON lines to $SHIPYARD_METRICS; or give "
            "--metrics NAME=VALUE,…",
        )
    latest = max(metric.attempt for metric in reported)
    return {m.name: m.value for m in reported if m.attempt == latest}
