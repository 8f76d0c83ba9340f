"""Plans for LocalOperations: built through the plan cache, read back from a run folder, and an
execution's folder and record prepared for an engine to take."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError
from shipyard.workspace import RunDir, Workspace, new_execution_id, write_private

if TYPE_CHECKING:
    from shipyard.api import ValidationReport
    from shipyard.errors import SpecError
    from shipyard.plan.model import Plan, RunMode
    from shipyard.store.base import Store


#: In a run folder: the registered pipeline's name the execution ran as, if any.
PIPELINE_FILE = "pipeline"


def cached_plan(
    workspace: Workspace,
    store: Store,
    spec_path: str | Path,
    params: Mapping[str, Any] | None,
    *,
    spec_text: str | None = None,
    mode: RunMode,
    max_parallel: int | None,
) -> Plan:
    """The plan of ``spec_path``: from the cache when the spec, the overrides and the machine
    are the same (no Pydantic imported), else built and cached; with the store's history.
    With ``spec_text`` the spec is that text and ``spec_path`` only names it."""
    from shipyard.plan.cache import PlanCache, plan_key
    from shipyard.plan.model import with_history
    from shipyard.spec.reading import read_spec_text

    # A regular file of a sane size in UTF-8 (SpecError otherwise): never /dev/zero or a FIFO.
    if spec_text is None:
        text = read_spec_text(Path(spec_path))
        path = Path(spec_path).resolve()
    else:  # a name, not a file: messages say `name:line`, and nothing is read from disk
        text, path = spec_text, Path(spec_path)
    overrides = dict(params or {})
    cores = os.cpu_count() or 1  # as the engine counts them (machine_capacity)
    cache = PlanCache(workspace.plan_cache)
    environments = named_environments(workspace, text)
    key = plan_key(
        spec_text=text,
        spec_path=str(path),
        overrides=overrides,
        mode=mode,
        max_parallel=max_parallel,
        cores=cores,
        secret=cache.secret(),
        base_port=os.environ.get("SHIPYARD_BASE_PORT", ""),
        environments=environments,
    )
    plan = cache.get(key)
    if plan is None:
        from shipyard.errors import SpecError
        from shipyard.gcpause import collection_paused
        from shipyard.plan.build import build_plan
        from shipyard.spec.loader import load_spec_text
        from shipyard.spec.shown import as_given

        with collection_paused():  # about half the CPU of a large build otherwise (gcpause)
            try:
                loaded = load_spec_text(text, path)
                plan = build_plan(
                    loaded,
                    overrides,
                    mode=mode,
                    cores=cores,
                    max_parallel=max_parallel,
                    environments=environments,
                )
            except SpecError as error:  # named by the path as given, not the resolved one
                raise as_given(error, spec_path) from None
            cache.put(key, plan)  # its encoding allocates as much again
    return with_history(plan, store.mean_durations(plan.name))


def named_environments(workspace: Workspace, text: str) -> dict[str, dict[str, str]]:
    """The home's named environments (name → variables) for a spec that may use one: none read
    for a spec that never says ``environment``."""
    if "environment" not in text:
        return {}
    from shipyard.environments import EnvironmentStore

    return {name: info.variables for name, info in EnvironmentStore(workspace.home).all().items()}


def load_plan(run_dir: RunDir) -> Plan:
    """The plan an execution was run with (its ``plan.json``); PlanFormatError, saying which
    Shipyard made it, for a plan of a format this one does not read."""
    from shipyard.plan.codec import read_plan

    return read_plan(run_dir.root / "plan.json")


def save_plan(run_dir: RunDir, plan: Plan) -> None:
    """``plan.json``, and ``nodes.json`` beside it when some unit runs off this machine."""
    from shipyard.nodes import write_nodes
    from shipyard.plan.codec import encode

    write_private(run_dir.root / "plan.json", json.dumps(encode(plan)))
    write_nodes(run_dir.root, plan)


def prepare(
    workspace: Workspace,
    store: Store,
    plan: Plan,
    spec_path: Path,
    now: float,
    *,
    spec_text: str | None = None,
    pipeline: str | None = None,
) -> tuple[str, RunDir]:
    """The execution's folder and its record (pending), ready for an engine to take.
    ``spec_text``: the spec's text when it was given as text (else read from ``spec_path``);
    ``pipeline``: the registered pipeline it runs as."""
    created = datetime.fromtimestamp(now, UTC)
    execution_id = new_execution_id(plan.name, created)
    run_dir = workspace.run_dir(execution_id)
    if spec_text is None:
        spec_text = spec_path.read_text(encoding="utf-8")
    with _no_half_run(run_dir):
        _record_new(store, plan, execution_id, run_dir, spec_text, now, pipeline)
    return execution_id, run_dir


def _record_new(
    store: Store,
    plan: Plan,
    execution_id: str,
    run_dir: RunDir,
    spec_text: str,
    now: float,
    pipeline: str | None = None,
) -> None:
    run_dir.create()
    write_private(run_dir.root / "spec.yaml", spec_text)
    if pipeline is not None:  # for a rebuild of the store from the run folders (recovery)
        write_private(run_dir.root / PIPELINE_FILE, pipeline)
    save_plan(run_dir, plan)
    store.insert_execution(
        execution_id=execution_id,
        name=plan.name,
        mode=plan.mode,
        spec_path=plan.spec_path,
        spec_digest=plan.spec_digest,
        spec_text=spec_text,
        parameters=dict(plan.parameters),
        run_dir=str(run_dir.root),
        created_at=now,
        units=_units(run_dir, plan),
        pipeline=pipeline,
    )


def _units(run_dir: RunDir, plan: Plan) -> list[tuple[str, str, str]]:
    """(name, kind, log path) of every unit, steps first."""
    kinds = [(step.name, "step") for step in plan.steps]
    kinds += [(service.name, "service") for service in plan.services]
    paths = run_dir.log_paths(name for name, _ in kinds)
    return [(name, kind, path) for (name, kind), path in zip(kinds, paths, strict=True)]


@contextlib.contextmanager
def _no_half_run(run_dir: RunDir) -> Iterator[None]:
    """A run folder that could not be completed (disk full, read-only home) is removed, and
    the disk's error becomes one the user can act on: no folder without a record is left."""
    import shutil

    from shipyard.errors import from_os_error

    try:
        yield
    except OSError as error:
        shutil.rmtree(run_dir.root, ignore_errors=True)
        raise from_os_error(error, "write the run folder", run_dir.root) from None
    except ShipyardError:
        shutil.rmtree(run_dir.root, ignore_errors=True)
        raise


def secrets_of(
    plan: Plan, params: Mapping[str, Any] | None, *, again: str | None = None
) -> dict[str, str]:
    """The values of ``plan``'s secret parameters: ``-p``, else the caller's environment."""
    if not plan.secrets:
        return {}
    from shipyard.plan.secrets import gather

    return gather(plan, params or {}, os.environ, again=again)


def secrets_again(plan: Plan, params: Mapping[str, Any] | None, command: str) -> dict[str, str]:
    """The secrets of an execution run again (resume, restore): only they may be given."""
    from shipyard.errors import ParameterError

    other = sorted(set(params or {}) - set(plan.secrets))
    if other:
        raise ParameterError(
            f"'{other[0]}' is not a secret parameter: {command} runs with the parameters "
            "the execution had (only secret ones, which are never stored, are given again)",
            hint="to change parameters, start a new run with them",
        )
    return secrets_of(plan, params, again=command)


def validate(spec_path: str | Path, spec_text: str | None = None) -> ValidationReport:
    """Load ``spec_path`` (or ``spec_text``, named ``spec_path`` in messages) and report every
    problem found (file, line, column, hint)."""
    from shipyard.api import ValidationReport
    from shipyard.errors import SpecError
    from shipyard.gcpause import collection_paused
    from shipyard.spec.loader import load_spec, load_spec_text

    try:
        with collection_paused():  # see cached_plan
            if spec_text is None:
                loaded = load_spec(spec_path)
            else:
                loaded = load_spec_text(spec_text, Path(spec_path))
    except SpecError as error:
        return invalid_report(spec_path, error)
    return ValidationReport(
        path=str(spec_path),
        valid=True,
        name=loaded.spec.name,
        steps=len(loaded.spec.steps),
        parameters=list(loaded.spec.parameters),
        services=len(loaded.spec.services),
    )


def invalid_report(spec_path: str | Path, error: SpecError) -> ValidationReport:
    """The report of a spec that cannot be loaded: every problem, with its file:line:column."""
    from shipyard.api import Problem, ValidationReport

    return ValidationReport(
        path=str(spec_path),
        valid=False,
        problems=[
            Problem(
                message=problem.message,
                file=str(problem.location.path) if problem.location else None,
                line=problem.location.line if problem.location else None,
                column=problem.location.column if problem.location else None,
                hint=problem.hint,
            )
            for problem in error.problems
        ],
    )


def schema() -> dict[str, Any]:
    """The spec's JSON Schema."""
    from shipyard.spec.models import Spec

    result = Spec.model_json_schema()
    result["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    result["title"] = "Shipyard spec"
    return result
