"""The model registry's journal (models/journal.jsonl): its replay as a table of cases (pure),
and, with the real store, a change the store never committed — the process killed between the
journal's fsync and the COMMIT — voided by the next change, so a rebuilt registry does not
bring it back; a line a crash cut short does not spoil the next one."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import shipyard
from shipyard import modeljournal
from shipyard.api import Operations
from shipyard.mlregistry import Stage


def register(
    model: str, version: int, event_id: int, at: float = 1_800_000_000.0
) -> dict[str, Any]:
    return {
        "op": "register",
        "model": model,
        "version": {
            "model": model,
            "version": version,
            "digest": f"{version:064x}",
            "kind": "file",
            "size": 10 * version,
            "files": 1,
            "stage": "staging",
            "registered_at": at + version,
            "registered_by": "ann",
            "source_path": f"/m/{version}.bin",
            "execution_id": None,
            "step": None,
            "metrics": {"accuracy": 0.5 + version / 10},
        },
        "events": [
            {"id": event_id, "version": version, "action": "register", "from": None,
             "to": "staging", "actor": "ann", "at": at + version, "detail": ""}
        ],
    }  # fmt: skip


def stages(model: str, changes: dict[int, str], stack: list[int], ids: list[int]) -> dict[str, Any]:
    return {
        "op": "stages",
        "model": model,
        "stages": {str(v): s for v, s in changes.items()},
        "stack": stack,
        "events": [
            {"id": i, "version": v, "action": "promote", "from": "staging", "to": s,
             "actor": "bob", "at": 1_900_000_000.0 + i, "detail": ""}
            for i, (v, s) in zip(ids, changes.items(), strict=True)
        ],
    }  # fmt: skip


def summary(lines: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        name: (
            {v: m.versions[v].stage.value for v in sorted(m.versions)},
            m.row.production_stack,
            [i for i, _ in m.events],
        )
        for name, m in modeljournal.fold(lines).items()
    }


CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = [
    ("nothing", [], {}),
    (
        "registered twice",
        [register("a", 1, 1), register("a", 2, 2)],
        {"a": ({1: "staging", 2: "staging"}, [], [1, 2])},
    ),
    (
        "promoted then moved on",
        [
            register("a", 1, 1),
            register("a", 2, 2),
            stages("a", {1: "production"}, [1], [3]),
            stages("a", {1: "archived", 2: "production"}, [1, 2], [4, 5]),
        ],
        {"a": ({1: "archived", 2: "production"}, [1, 2], [1, 2, 3, 4, 5])},
    ),
    (
        "a void cancels the change before it",
        [register("a", 1, 1), register("a", 2, 2), {"op": "void", "ids": [2]}, register("a", 2, 2)],
        {"a": ({1: "staging", 2: "staging"}, [], [1, 2])},
    ),
    (
        "a void of other ids cancels nothing",
        [register("a", 1, 1), {"op": "void", "ids": [7]}],
        {"a": ({1: "staging"}, [], [1])},
    ),
    (
        "stages of an unknown model are passed over",
        [stages("ghost", {1: "production"}, [1], [1]), register("b", 1, 2)],
        {"b": ({1: "staging"}, [], [2])},
    ),
    (
        "a malformed line is passed over",
        [register("a", 1, 1), {"op": "register", "model": "a"}, register("c", 1, 2)],
        {"a": ({1: "staging"}, [], [1]), "c": ({1: "staging"}, [], [2])},
    ),
]


@pytest.mark.parametrize(("lines", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_fold(lines: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    assert summary(lines) == expected


def test_a_folded_version_keeps_every_field() -> None:
    version = modeljournal.fold([register("a", 3, 9)])["a"].versions[3]
    assert (version.digest, version.size, version.metrics) == (f"{3:064x}", 30, {"accuracy": 0.8})
    assert version.registered_at.timestamp() == 1_800_000_003.0
    assert version.stage is Stage.STAGING and version.registered_by == "ann"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "home"


def journal_lines(home: Path) -> list[dict[str, Any]]:
    text = (home / "models" / "journal.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def rebuilt(home: Path) -> Operations:
    before = shipyard.connect(home)
    try:
        before.rebuild_store()
    finally:
        before.close()
    return shipyard.connect(home)


def test_a_change_the_store_never_committed_is_voided_by_the_next(
    home: Path, tmp_path: Path
) -> None:
    (tmp_path / "m.bin").write_bytes(b"weights")
    ops = shipyard.connect(home)
    try:
        ops.model_register("clf", str(tmp_path / "m.bin"))
        # What a process killed after the journal's fsync and before its COMMIT leaves: a line
        # whose event id (2) the store hands out again.
        modeljournal.append(home / "models" / "journal.jsonl", register("clf", 2, 2))
        ops.model_promote("clf", 1)
        ops.model_register("clf", str(tmp_path / "m.bin"))
        shown = ops.model_show("clf")
    finally:
        ops.close()
    assert [line["op"] for line in journal_lines(home)] == [
        "register",
        "register",
        "void",
        "stages",
        "register",
    ], "the next change did not void the line its store never took"

    again = rebuilt(home)
    try:
        after = again.model_show("clf")
    finally:
        again.close()
    assert after == shown, (
        f"the rebuilt registry differs from the one the store had:\n{after}\n{shown}"
    )
    assert [(v.version, v.stage.value, v.source_path) for v in after.versions] == [
        (1, "production", str(tmp_path / "m.bin")),
        (2, "staging", str(tmp_path / "m.bin")),
    ]


def test_a_line_cut_short_does_not_spoil_the_next(home: Path, tmp_path: Path) -> None:
    (tmp_path / "m.bin").write_bytes(b"weights")
    ops = shipyard.connect(home)
    try:
        ops.model_register("clf", str(tmp_path / "m.bin"))
        with (home / "models" / "journal.jsonl").open("a") as journal:
            journal.write('{"op": "register", "model": "clf", "vers')  # the disk filled up
        ops.model_register("clf", str(tmp_path / "m.bin"))
        shown = ops.model_show("clf")
    finally:
        ops.close()
    lines = (home / "models" / "journal.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["op"] == "register", (
        f"the registration after a cut line was glued to it: {lines}"
    )
    again = rebuilt(home)
    try:
        assert again.model_show("clf") == shown
    finally:
        again.close()


def test_a_journal_the_disk_refuses_refuses_the_change(home: Path, tmp_path: Path) -> None:
    """What the user is told was registered is in the journal: a journal that cannot be
    written leaves the store unchanged and the command refused."""
    (tmp_path / "m.bin").write_bytes(b"weights")
    ops = shipyard.connect(home)
    try:
        ops.model_register("clf", str(tmp_path / "m.bin"))
        journal = home / "models" / "journal.jsonl"
        journal.unlink()
        journal.mkdir()  # not a file: appending to it fails, as a full or read-only disk would
        with pytest.raises(shipyard.ShipyardError) as refused:
            ops.model_register("clf", str(tmp_path / "m.bin"))
        assert "journal" in str(refused.value)
        assert [v.version for v in ops.model_show("clf").versions] == [1]
    finally:
        with contextlib.suppress(Exception):
            ops.close()


def test_a_registry_from_before_the_journal_is_kept_whole(home: Path, tmp_path: Path) -> None:
    """A home whose store had models before there was a journal (a Shipyard from before it):
    the first change writes the whole registry, so a rebuild does not get only what came
    after."""
    (tmp_path / "m.bin").write_bytes(b"weights")
    ops = shipyard.connect(home)
    try:
        ops.model_register("clf", str(tmp_path / "m.bin"))
        ops.model_register("clf", str(tmp_path / "m.bin"))
        ops.model_promote("clf", 1)
        ops.model_register("old", str(tmp_path / "m.bin"))
        (home / "models" / "journal.jsonl").unlink()  # as a home from before the journal
        ops.model_promote("clf", 2)
        shown = {name: ops.model_show(name) for name in ("clf", "old")}
    finally:
        ops.close()
    again = rebuilt(home)
    try:
        after = {name: again.model_show(name) for name in ("clf", "old")}
    finally:
        again.close()
    assert after == shown, (
        f"the registry from before the journal is not whole after a rebuild:\n{after}\n{shown}"
    )
    assert [line["op"] for line in journal_lines(home)] == ["snapshot"]
