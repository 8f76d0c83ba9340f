"""The model registry's journal: ``SHIPYARD_HOME/models/journal.jsonl`` (issue 15 §4).

The registry's records (models, versions, stages, stage changes) live in the state database,
its files under ``models/sha256``. So that a database rebuilt from the home
(``shipyard store rebuild``, or a damaged ``state.db``) gets the records back too, every
change is also one JSON line here, replayed by :mod:`shipyard.recovery`:

- ``{"op": "register", "model", "version": {…the version's fields…}, "events": [{…, "id"}]}``
- ``{"op": "stages", "model", "stages": {"2": "production", "1": "archived"}, "stack": [1, 2],
  "events": [{…, "id"}]}``
- ``{"op": "void", "ids": [...]}``: the line before it never reached the store (see below);
- ``{"op": "snapshot", "models": [{name, created_at, stack, versions, events}, …]}``: the whole
  registry, the journal's first line when the store had models before there was a journal
  (a home of a Shipyard from before it): written with the first change instead of that
  change's own line, so a rebuild never gets a registry missing its older part.

**Written ahead, inside the store's transaction.** The store writes the line (and fsyncs it)
after its statements and before its COMMIT, while it holds the database's write lock. So the
journal's order is the commits' order, even with several processes registering at once (a line
written after the commit, lock released, could land after a later change's line, and a replay
would then undo a promotion), and a change the user was told about is in the journal, on disk:
the command answers only after the commit. The one case the other way round — the process
killed, or the COMMIT refused, between the fsync and the commit — leaves a line the store never
took. The next change notices it (its events' ids, given by the store, are not above that line's
ones: uncommitted ids are handed out again) and writes a ``void`` line, which a replay obeys. A
store lost before any later change would bring that one change back: its files are stored, so
the version is whole, just one the user was not told of.

Events keep the store's ids, so a rebuilt registry lists them in the same order. Reading is
bounded by a line (:func:`shipyard.jsonlines.read_json_lines`); :func:`fold` is pure.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipyard.errors import from_os_error
from shipyard.jsonlines import read_json_lines
from shipyard.mlregistry import ModelEvent, ModelRow, ModelVersion, Stage

__all__ = [
    "JOURNAL",
    "Restored",
    "append",
    "event_line",
    "fold",
    "read",
    "snapshot_line",
    "version_line",
]

#: Its name under the registry's folder (``models/``), beside ``sha256/`` and ``trees/``.
JOURNAL = "journal.jsonl"
#: How much of the journal's end is read to find its last line (a line is far smaller).
_TAIL = 1 << 16


# -- lines -------------------------------------------------------------------------------------


def version_line(version: ModelVersion, number: int) -> dict[str, Any]:
    return {
        "model": version.model,
        "version": number,
        "digest": version.digest,
        "kind": version.kind,
        "size": version.size,
        "files": version.files,
        "stage": version.stage.value,
        "registered_at": version.registered_at.timestamp(),
        "registered_by": version.registered_by,
        "source_path": version.source_path,
        "execution_id": version.execution_id,
        "step": version.step,
        "metrics": dict(version.metrics),
    }


def event_line(event: ModelEvent, event_id: int, version: int | None = None) -> dict[str, Any]:
    return {
        "id": event_id,
        "version": event.version if version is None else version,
        "action": event.action,
        "from": event.from_stage.value if event.from_stage else None,
        "to": event.to_stage.value,
        "actor": event.actor,
        "at": event.at.timestamp(),
        "detail": event.detail,
    }


def _version(model: str, data: dict[str, Any]) -> ModelVersion:
    return ModelVersion(
        model=model,
        version=int(data["version"]),
        digest=str(data["digest"]),
        kind=str(data["kind"]),
        size=int(data["size"]),
        files=int(data["files"]),
        stage=Stage(data["stage"]),
        registered_at=datetime.fromtimestamp(float(data["registered_at"]), UTC),
        registered_by=str(data["registered_by"]),
        source_path=str(data["source_path"]),
        execution_id=data.get("execution_id"),
        step=data.get("step"),
        metrics={str(k): float(v) for k, v in dict(data.get("metrics") or {}).items()},
    )


def _event(model: str, data: dict[str, Any]) -> tuple[int, ModelEvent]:
    return int(data["id"]), ModelEvent(
        model=model,
        version=int(data["version"]),
        action=str(data["action"]),
        from_stage=Stage(data["from"]) if data.get("from") else None,
        to_stage=Stage(data["to"]),
        actor=str(data["actor"]),
        at=datetime.fromtimestamp(float(data["at"]), UTC),
        detail=str(data.get("detail") or ""),
    )


# -- writing ------------------------------------------------------------------------------------


def append(path: Path, line: dict[str, Any]) -> None:
    """Append ``line`` (with its events' store ids) and fsync it. A last line the store never
    took (see the module's doc) gets a ``void`` line first; a last line cut short by a crash
    gets its newline, so the new line is not glued to it. Raises a ShipyardError (the
    caller's transaction then rolls back: nothing the user is told of is missing here)."""
    import json

    ours = _ids(line)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            text = _prefix(fd, ours) + json.dumps(line, separators=(",", ":")) + "\n"
            data = text.encode("utf-8")
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:  # the file's name reaches the disk too
            directory = os.open(path.parent, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
    except OSError as error:
        raise from_os_error(error, "write the model registry's journal", path) from None


def _prefix(fd: int, ours: Sequence[int]) -> str:
    """What goes before the new line: a newline ending a cut line, and a ``void`` line for a
    last line whose events' ids the store has handed out again (it never committed them)."""
    import json

    size = os.fstat(fd).st_size
    if size == 0:
        return ""
    start = max(0, size - _TAIL)
    tail = os.pread(fd, size - start, start)
    prefix = "" if tail.endswith(b"\n") else "\n"
    lines = tail.rstrip(b"\n").split(b"\n")
    last: Any = None
    with contextlib.suppress(ValueError):
        last = json.loads(lines[-1])  # a cut line may still parse: cut just before "\n"
    if isinstance(last, dict) and last.get("op") != "void" and ours:
        theirs = _ids(last)
        if theirs and max(theirs) >= min(ours):
            prefix += json.dumps({"op": "void", "ids": theirs}, separators=(",", ":")) + "\n"
    return prefix


def _ids(line: dict[str, Any]) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError):
        if line.get("op") == "snapshot":
            events = [event for model in line["models"] for event in model["events"]]
        else:
            events = list(line.get("events", []))
        found = [int(event["id"]) for event in events]
    return found


def snapshot_line(
    models: Sequence[tuple[ModelRow, Sequence[ModelVersion], Sequence[tuple[int, ModelEvent]]]],
) -> dict[str, Any]:
    """The whole registry as one line: what a journal begins with when the store already had
    models before there was a journal (a home of a Shipyard from before it)."""
    return {
        "op": "snapshot",
        "models": [
            {
                "name": row.name,
                "created_at": row.created_at.timestamp(),
                "stack": list(row.production_stack),
                "versions": [version_line(version, version.version) for version in versions],
                "events": [event_line(event, event_id) for event_id, event in events],
            }
            for row, versions, events in models
        ],
    }


# -- reading and replaying ----------------------------------------------------------------------


@dataclass
class Restored:
    """One model as the journal leaves it: its row, versions (by number), events (id, event)."""

    row: ModelRow
    versions: dict[int, ModelVersion] = field(default_factory=dict)
    events: list[tuple[int, ModelEvent]] = field(default_factory=list)


def read(path: Path) -> Iterator[dict[str, Any]]:
    """The journal's lines, oldest first (bounded memory); a missing journal has none."""
    return read_json_lines(path, dict)


def fold(lines: Iterable[dict[str, Any]]) -> dict[str, Restored]:
    """The registry the journal's lines describe, by model name (pure). A ``void`` line cancels
    the change before it; a line that is unreadable (a crash cut it) is passed over."""
    ops: list[dict[str, Any]] = []
    for line in lines:
        if line.get("op") == "void":
            void = set(line.get("ids") or [])
            if ops and void and void == set(_ids(ops[-1])):
                ops.pop()
            continue
        ops.append(line)
    models: dict[str, Restored] = {}
    for op in ops:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            _apply(models, op)
    return models


def _apply(models: dict[str, Restored], op: dict[str, Any]) -> None:
    if op.get("op") == "snapshot":
        for model in op["models"]:
            name = str(model["name"])
            row = ModelRow(
                name,
                datetime.fromtimestamp(float(model["created_at"]), UTC),
                [int(number) for number in model["stack"]],
            )
            versions = [_version(name, data) for data in model["versions"]]
            models[name] = Restored(
                row,
                {version.version: version for version in versions},
                [_event(name, data) for data in model["events"]],
            )
        return
    name = str(op["model"])
    events = [_event(name, data) for data in op.get("events", [])]
    if op.get("op") == "register":
        version = _version(name, op["version"])
        model = models.get(name)
        if model is None:
            model = models[name] = Restored(ModelRow(name, version.registered_at, []))
        model.versions[version.version] = version
        model.events.extend(events)
    elif op.get("op") == "stages" and name in models:
        model = models[name]
        changes = {int(number): Stage(stage) for number, stage in dict(op["stages"]).items()}
        for number, stage in changes.items():
            if number in model.versions:
                model.versions[number] = replace(model.versions[number], stage=stage)
        stack = [int(number) for number in op["stack"]]
        model.row = replace(model.row, production_stack=stack)
        model.events.extend(events)
