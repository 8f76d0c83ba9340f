"""Named pipelines (issue 12 §1): the registry's operations, mixed into LocalOperations.

A pipeline is a spec's text kept in the store under a name, with parameter defaults of its own.
Every change (add, set, a step edit) is validated before it is stored: what the store holds
always loads, and a refused edit leaves the stored spec as it was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError
from shipyard.operations.core import Core
from shipyard.spec import editing

if TYPE_CHECKING:
    from shipyard.api import ValidationReport
    from shipyard.registry import ParameterInfo, PipelineInfo, StoredPipeline
    from shipyard.spec.loader import LoadedSpec
    from shipyard.store.base import Store

    Edit = Callable[[dict[str, Any]], dict[str, Any]]


class PipelineOperations:
    def pipeline_add(
        self: Core,
        name: str,
        spec: str | Path,
        *,
        spec_text: str | None = None,
        replace: bool = False,
    ) -> PipelineInfo:
        """Register the valid spec ``spec`` (a file, or named so with ``spec_text``)."""
        from shipyard.registry import StoredPipeline

        _raise(editing.name_problem(name))
        text, path = _read(spec, spec_text)
        loaded = _load(text, path)  # SpecError: every problem with its file:line
        now = self.clock.now()
        earlier = self.store.pipeline_get(name)
        stored = StoredPipeline(
            name=name,
            spec_name=loaded.spec.name,
            spec_path=str(path) if spec_text is None else None,
            spec_text=text,
            spec_digest=loaded.digest,
            defaults={},
            added_at=earlier.added_at if earlier and replace else now,
            updated_at=now,
            summary=summary_of(loaded),
        )
        if not _put(self, stored, replace=replace):
            raise ShipyardError(
                f"a pipeline named '{name}' is already registered",
                hint=f"--replace puts the new spec in its place (shipyard pipelines add {name} "
                f"FILE --replace), or choose another name",
            )
        return _info(self.store, stored, loaded)

    def pipeline_list(self: Core) -> list[PipelineInfo]:
        if not self._has_state():  # nothing registered, and nothing created to say so
            return []
        return [_info(self.store, stored) for stored in self.store.pipeline_list()]

    def pipeline_show(self: Core, name: str) -> PipelineInfo:
        stored = _stored(self, name)  # first: self.store would create the state it checks for
        return _info(self.store, stored)

    def pipeline_remove(self: Core, name: str) -> PipelineInfo:
        stored = _stored(self, name)
        from shipyard.registry import drop_copy

        info = _info(self.store, stored)
        self.store.pipeline_delete(name)
        drop_copy(self.workspace.home, name)
        return info

    def pipeline_set(
        self: Core, name: str, defaults: Mapping[str, Any], *, unset: list[str] | None = None
    ) -> PipelineInfo:
        """Store parameter defaults (each a parameter of the spec, of its type, one of its
        choices; never a secret one); ``unset`` drops stored ones."""
        stored = _stored(self, name)
        loaded = _load(stored.spec_text, _label(stored))
        values = editing.stored_defaults(
            loaded.spec.parameters, stored.defaults, defaults, list(unset or [])
        )
        changed = dataclasses.replace(
            stored, defaults=values, updated_at=self.clock.now(), summary=summary_of(loaded)
        )
        _put(self, changed, replace=True)
        return _info(self.store, changed, loaded)

    def pipeline_step_add(
        self: Core, name: str, step: str, definition: Mapping[str, Any]
    ) -> PipelineInfo:
        return _edit(
            self,
            name,
            f"adding step '{step}'",
            lambda data: editing.add_step(data, step, definition),
        )

    def pipeline_step_remove(self: Core, name: str, step: str) -> PipelineInfo:
        return _edit(
            self, name, f"removing step '{step}'", lambda data: editing.remove_step(data, step)
        )

    def pipeline_step_replace(
        self: Core, name: str, step: str, definition: Mapping[str, Any]
    ) -> PipelineInfo:
        return _edit(
            self,
            name,
            f"replacing step '{step}'",
            lambda data: editing.replace_step(data, step, definition),
        )

    def pipeline_validate(self: Core, name: str) -> ValidationReport:
        from shipyard.operations.plans import validate

        stored = _stored(self, name)
        return validate(_label(stored), stored.spec_text)

    def pipeline_spec(self: Core, name: str) -> str:
        return _stored(self, name).spec_text


# -- the parts ----------------------------------------------------------------------------------


def _raise(error: ShipyardError | None) -> None:
    if error is not None:
        raise error


def _put(ops: Core, stored: StoredPipeline, *, replace: bool) -> bool:
    """Store ``stored`` and its copy beside the store (what a rebuilt store takes it back
    from); False, nothing written, when the name is taken and not ``replace``."""
    from shipyard.registry import save_copy

    if not ops.store.pipeline_put(stored, replace=replace):
        return False
    save_copy(ops.workspace.home, stored)
    return True


def _read(spec: str | Path, spec_text: str | None) -> tuple[str, Path]:
    """The spec's text and the path it is named by (a file's resolved path: relative workdirs
    in it stay relative to its folder when the pipeline runs from elsewhere)."""
    from shipyard.spec.reading import read_spec_text

    if spec_text is not None:
        return spec_text, Path(spec)
    path = Path(spec)
    text = read_spec_text(path)  # a regular file of a sane size (SpecError otherwise)
    return text, path.resolve()


def _load(text: str, path: Path) -> LoadedSpec:
    from shipyard.gcpause import collection_paused
    from shipyard.spec.loader import load_spec_text

    with collection_paused():
        return load_spec_text(text, path)


def _label(stored: StoredPipeline) -> Path:
    """What the stored spec is named by: the file it was added from (for its relative paths
    and for messages), else its registered name."""
    return Path(stored.spec_path or stored.name)


def _stored(ops: Core, name: str) -> StoredPipeline:
    """The pipeline registered as ``name``; a folder without state has none, and asking does not
    create state there (issue 11 §19)."""
    if not ops._has_state():
        raise unknown_pipeline(None, name)
    stored = ops.store.pipeline_get(name)
    if stored is None:
        raise unknown_pipeline(ops.store, name)
    return stored


def unknown_pipeline(store: Store | None, name: str) -> ShipyardError:
    """No pipeline ``name``: the error names the registered ones (the closest first); ``store``
    None where there is no state, so none is."""
    import difflib

    known = [stored.name for stored in store.pipeline_list()] if store is not None else []
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        hint = f"did you mean '{close[0]}'? (shipyard pipelines list shows all)"
    elif known:
        hint = f"registered: {', '.join(known[:20])}{' …' if len(known) > 20 else ''}"
    else:
        hint = "none is registered yet: shipyard pipelines add NAME FILE"
    from shipyard.errors import PipelineNotFound

    return PipelineNotFound(f"no pipeline named '{name}'", hint=hint)


def _edit(ops: Core, name: str, what: str, change: Edit) -> PipelineInfo:
    """Apply ``change`` to the stored spec's mapping; store it only if it still validates."""
    from shipyard.errors import SpecError

    stored = _stored(ops, name)
    label = _label(stored)
    text = editing.dump(change(editing.parse(stored.spec_text, str(label))))
    try:
        loaded = _load(text, label)
    except SpecError as error:
        problems = "\n".join(f"  {problem.message}" for problem in error.problems)
        raise ShipyardError(
            f"{what} would leave pipeline '{name}' invalid; nothing was changed:\n{problems}",
            hint=f"fix the definition; shipyard pipelines spec {name} prints the stored spec",
        ) from None
    changed = dataclasses.replace(
        stored,
        spec_text=text,
        spec_digest=loaded.digest,
        updated_at=ops.clock.now(),
        summary=summary_of(loaded),
    )
    _put(ops, changed, replace=True)
    return _info(ops.store, changed, loaded)


def _info(store: Store, stored: StoredPipeline, loaded: LoadedSpec | None = None) -> PipelineInfo:
    """What a front end shows of a pipeline: from its stored summary (no spec load: list and
    show stay as quick as any command), else from its spec loaded."""
    from shipyard.registry import ParameterInfo, PipelineInfo

    summary = stored.summary if loaded is None else None
    if summary is None or not _summary_fits(summary):
        summary = summary_of(loaded or _load(stored.spec_text, _label(stored)))
    return PipelineInfo(
        name=stored.name,
        spec_name=stored.spec_name,
        spec_path=stored.spec_path,
        spec_digest=stored.spec_digest,
        added_at=datetime.fromtimestamp(stored.added_at, UTC),
        updated_at=datetime.fromtimestamp(stored.updated_at, UTC),
        description=summary["description"],
        steps=list(summary["steps"]),
        services=list(summary["services"]),
        parameters=[
            ParameterInfo(**entry, stored=stored.defaults.get(entry["name"]))
            for entry in summary["parameters"]
        ],
        defaults=dict(stored.defaults),
        last_execution=store.pipeline_latest_execution(stored.name),
    )


_SUMMARY_KEYS = {"description", "steps", "services", "parameters"}
_PARAMETER_KEYS = {"name", "type", "default", "choices", "test", "description", "secret"}


def summary_of(loaded: LoadedSpec) -> dict[str, Any]:
    """What :func:`_info` shows of a spec, as JSON the store keeps beside it."""
    menu = parameter_menu(loaded, {})
    return {
        "description": loaded.spec.description,
        "steps": list(loaded.spec.steps),
        "services": list(loaded.spec.services),
        "parameters": [
            {key: getattr(entry, key) for key in sorted(_PARAMETER_KEYS)} for entry in menu
        ],
    }


def _summary_fits(summary: Any) -> bool:
    """Whether a stored summary has the shape :func:`_info` reads (a copy edited by hand, or
    one of an older shape, is worked out again from the spec instead)."""
    return (
        isinstance(summary, dict)
        and set(summary) == _SUMMARY_KEYS
        and isinstance(summary["parameters"], list)
        and all(
            isinstance(entry, dict) and set(entry) == _PARAMETER_KEYS
            for entry in summary["parameters"]
        )
    )


def parameter_menu(loaded: LoadedSpec, stored: Mapping[str, Any]) -> list[ParameterInfo]:
    """The spec's parameters as a typed menu (a secret's default is never shown)."""
    from shipyard.registry import ParameterInfo

    return [
        ParameterInfo(
            name=name,
            type=spec.type,
            default=None if spec.secret else spec.default,
            stored=stored.get(name),
            choices=list(spec.choices or []),
            test=None if spec.secret else spec.test,
            description=spec.description,
            secret=spec.secret,
        )
        for name, spec in loaded.spec.parameters.items()
    ]
