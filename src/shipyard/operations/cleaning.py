"""``shipyard clean``: which requests make sense, which executions are eligible and what each
run keeps (pure), then the moves to the trash and back. What a level removes inside a run
folder, and the trash itself, are :mod:`shipyard.clean`."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from shipyard.errors import ShipyardError
from shipyard.models import ExecutionStatus, ExecutionSummary
from shipyard.operations.core import Core
from shipyard.workspace import Workspace, confined_path, write_private

if TYPE_CHECKING:
    from shipyard.api import CleanedRun, CleanReport
    from shipyard.clean import Level
    from shipyard.store.base import Store


def request_problem(
    level: str,
    *,
    selectors: int,
    preserve_logs: bool,
    preserve_outputs: bool | None,
    levels: Iterable[str],
) -> ShipyardError | None:
    """What is wrong with a clean request, or None. ``selectors``: how many of an execution
    id, ``--pipeline`` and ``--all-finished`` were given (exactly one must be)."""
    levels = tuple(levels)
    if level not in levels:
        return ShipyardError(
            f"--level {level} is not a clean level", hint=f"use one of: {', '.join(levels)}"
        )
    if selectors != 1:
        return ShipyardError(
            "say what to clean: one execution id, --pipeline NAME or --all-finished"
        )
    if level == "complete" and (preserve_logs or preserve_outputs):
        return ShipyardError(
            "--level complete removes the whole run directory, logs and outputs included",
            hint="to keep them, use --level deep with --preserve-logs/--preserve-outputs",
        )
    return None


def keeps_outputs(level: str, preserve_outputs: bool | None) -> bool:
    """Declared outputs are kept unless asked otherwise — and by default not at ``complete``."""
    return level != "complete" if preserve_outputs is None else preserve_outputs


def eligible(summaries: Iterable[ExecutionSummary]) -> tuple[list[str], list[str]]:
    """(what may be cleaned: finished executions, what is left alone: active ones)."""
    summaries = list(summaries)
    return (
        [s.id for s in summaries if s.state.finished],
        [s.id for s in summaries if not s.state.finished],
    )


def declared_outputs(plan: Mapping[str, Any]) -> list[str]:
    """The outputs a plan's steps declare, relative to artifacts/ (as they were saved)."""
    return [
        f"{step['name']}/{confined_path(output)}"
        for step in plan["steps"]
        for output in step.get("outputs", [])
    ]


def clean_run(
    workspace: Workspace,
    store: Store,
    target: str,
    level: Level,
    *,
    keep_outputs: bool,
    preserve_logs: bool,
    dry_run: bool,
) -> CleanedRun | None:
    """Clean one finished execution's folder (and its records at ``complete``); None when
    there is nothing to clean (its folder is gone)."""
    from shipyard import clean
    from shipyard.api import CleanedRun

    run_root = workspace.run_dir(target).root
    if not run_root.exists() and level != "complete":
        return None
    protected = _protected(run_root) if keep_outputs else []
    items = (
        clean.candidates(run_root, level, protected=protected, preserve_logs=preserve_logs)
        if run_root.exists()
        else []
    )
    relative = [str(item.relative_to(run_root.resolve())) for item in items]
    size = sum(clean.size_of(item) for item in items)
    if not dry_run:
        batch = clean.move_to_trash(run_root, items, workspace.trash / target)
        if level == "complete":
            _trash_records(store, target, batch)
            with contextlib.suppress(OSError):
                run_root.rmdir()
    return CleanedRun(target, relative, size, records=level == "complete")


def _protected(run_root: Path) -> list[str]:
    try:
        plan = json.loads((run_root / "plan.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return declared_outputs(plan)


def _trash_records(store: Store, target: str, batch: Path) -> None:
    """The execution's store rows go to the trash too (as JSON), so `--undo` brings them back."""
    batch.mkdir(parents=True, exist_ok=True)
    write_private(batch / "records.json", json.dumps(store.export_execution(target)))
    store.delete_execution(target)


#: What an execution id or a pipeline's name looks like (the spec's NAME_PATTERN, which
#: execution ids also follow): nothing with a '/' or a leading '.', so a reference given to
#: undo always names a folder directly inside the trash (``..`` once named the home itself,
#: and undo deleted a run folder as if it were a batch).
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")


def undo_target(workspace: Workspace, store: Store, given: str) -> str:
    """The execution whose last clean :func:`undo` puts back: ``given`` when it is an
    execution id (in the trash or in the store); else a registered pipeline's name, for the
    execution of that pipeline cleaned last — as every other command takes names."""
    if not _REFERENCE.fullmatch(given):
        raise ShipyardError(
            f"{given[:80]!r} is not an execution id or a pipeline name",
            hint="`shipyard list` shows execution ids, `shipyard pipelines list` the names",
        )
    if (workspace.trash / given).is_dir() or store.execution_state(given) is not None:
        return given
    cleaned = [
        (_batch_order(_batches(entry)[-1]), entry.name)
        for entry in _trash_entries(workspace.trash)
        if _pipeline_of(store, entry) == given
    ]
    if cleaned:
        return max(cleaned)[1]
    if store.pipeline_get(given) is not None:
        raise ShipyardError(
            f"nothing of pipeline '{given}' is in the trash",
            hint="only what `shipyard clean` moved can be put back, until `clean --purge`",
        )
    return given  # undo says nothing of it is in the trash


def _trash_entries(trash: Path) -> list[Path]:
    if not trash.is_dir():
        return []
    return [entry for entry in trash.iterdir() if entry.is_dir() and _batches(entry)]


def _batches(folder: Path) -> list[Path]:
    """A trash folder's batches (``STAMP/NS``), oldest first."""
    found = [p for p in folder.glob("*/*") if p.is_dir()] if folder.is_dir() else []
    return sorted(found, key=_batch_order)


def _batch_order(batch: Path) -> tuple[str, int]:
    # The clock's second, then the monotonic ns within it (compared as numbers: as text a
    # shorter count sorted after a longer one).
    return batch.parent.name, int(batch.name) if batch.name.isdigit() else 0


def _pipeline_of(store: Store, entry: Path) -> str | None:
    """The registered pipeline an execution in the trash ran as: its record's, or when a
    complete clean took the record, the one saved in its last batch."""
    status = store.get_execution(entry.name)
    if status is not None:
        return status.pipeline
    try:
        rows = json.loads((_batches(entry)[-1] / "records.json").read_text(encoding="utf-8"))
        pipeline = rows["executions"][0].get("pipeline")
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None
    return pipeline if isinstance(pipeline, str) else None


def undo(workspace: Workspace, store: Store, execution_id: str) -> CleanedRun:
    """Put back the last batch `clean` moved to the trash (and the records, if it took them)."""
    from shipyard import clean
    from shipyard.api import CleanedRun

    execution_id = undo_target(workspace, store, execution_id)
    folder = workspace.trash / execution_id
    batches = _batches(folder)
    if not batches:
        raise ShipyardError(
            f"nothing of {execution_id} is in the trash",
            hint="only what `shipyard clean` moved can be put back, until `clean --purge`",
        )
    batch = batches[-1]
    records = batch / "records.json"
    had_records = records.exists()
    if had_records:
        store.import_execution(json.loads(records.read_text(encoding="utf-8")))
        records.unlink()
    run_root = workspace.run_dir(execution_id).root
    run_root.mkdir(parents=True, exist_ok=True)
    size = clean.size_of(batch)
    restored = clean.restore(batch, run_root)
    return CleanedRun(
        execution_id,
        [str(path.relative_to(run_root)) for path in restored],
        size,
        records=had_records,
    )


class CleanOperations:
    """The cleaning part of LocalOperations."""

    def clean(
        self: Core,
        execution_id: str | None = None,
        *,
        pipeline: str | None = None,
        all_finished: bool = False,
        level: str = "standard",
        preserve_logs: bool = False,
        preserve_outputs: bool | None = None,
        dry_run: bool = False,
    ) -> CleanReport:
        from shipyard.api import CleanReport
        from shipyard.clean import LEVELS

        selectors = sum((execution_id is not None, pipeline is not None, all_finished))
        problem = request_problem(
            level,
            selectors=selectors,
            preserve_logs=preserve_logs,
            preserve_outputs=preserve_outputs,
            levels=LEVELS,
        )
        if problem is not None:
            raise problem
        if execution_id is not None:
            targets, skipped = [_finished(self.status(execution_id))], list[str]()
        else:
            targets, skipped = eligible(self.list_executions(name=pipeline, limit=1_000_000))
        keep = keeps_outputs(level, preserve_outputs)
        runs = []
        for target in targets:
            cleaned = clean_run(
                self.workspace,
                self.store,
                target,
                cast("Level", level),  # checked against LEVELS above
                keep_outputs=keep,
                preserve_logs=preserve_logs,
                dry_run=dry_run,
            )
            if cleaned is not None:
                runs.append(cleaned)
        return CleanReport(level=level, dry_run=dry_run, runs=runs, skipped=skipped)

    def clean_undo(self: Core, execution_id: str) -> CleanedRun:
        return undo(self.workspace, self.store, execution_id)

    def clean_purge(self: Core) -> int:
        from shipyard import clean

        return clean.purge(self.workspace.trash)


def _finished(status: ExecutionStatus) -> str:
    """A single execution is cleaned only once it has finished."""
    if not status.state.finished:
        raise ShipyardError(
            f"execution {status.id} is {status.state.value}: it cannot be cleaned now",
            hint=f"stop it first: shipyard stop {status.id}",
        )
    return status.id
