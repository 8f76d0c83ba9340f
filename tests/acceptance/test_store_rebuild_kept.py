"""Steps a new execution keeps from an earlier one — ``run --resume-from`` (same cache key) or
``checkpoint restore`` (succeeded before the checkpoint) — survive the state database's loss:
after ``shipyard store rebuild`` they read exactly as the commands showed them before (state,
reason, attempts, times, their ``unit_reused`` events), and their cache keys are back, so a
``resume`` of the new execution still does not run them again."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.conftest import Shipyard
from tests.acceptance.test_store_rebuild_ml import events_of, lose_the_database, ok
from tests.conftest import SpecWriter

pytestmark = pytest.mark.local_only(
    "deletes the state database, which a server of the home would hold open"
)

KEPT = ("prepare", "train")


def kept_spec(write_spec: SpecWriter) -> Path:
    """Two steps that count their runs, and a last one that waits while ``hold`` exists (to be
    checkpointed), then succeeds only once ``go`` exists."""
    return write_spec(
        """
        name: kept
        steps:
          prepare:
            run: [sh, -c, "echo x >> prepare.count; echo 1,2 > data.csv"]
            outputs: [data.csv]
          train: {run: [sh, -c, "echo x >> train.count"], needs: [prepare]}
          deploy:
            run: [sh, -c, "if test -f hold; then exec sleep 30; fi; test -f go"]
            needs: [train]
        """
    )


def runs_of(tmp_path: Path) -> dict[str, int]:
    """How many times each kept step really ran."""
    return {
        name: len((tmp_path / f"{name}.count").read_text().splitlines())
        if (tmp_path / f"{name}.count").exists()
        else 0
        for name in KEPT
    }


def snapshot(shipyard: Shipyard, exec_id: str) -> dict[str, Any]:
    status = ok(shipyard("status", exec_id, "--json"))
    return {
        "state": status["state"],
        "units": {unit["name"]: unit for unit in status["units"]},
        "artifacts": ok(shipyard("artifacts", exec_id, "--json")),
        "events": events_of(shipyard, exec_id),
    }


def latest(shipyard: Shipyard) -> str:
    return str(ok(shipyard("status", "--json"))["id"])


def rebuilt_exactly(shipyard: Shipyard, tmp_path: Path, exec_id: str, how: str) -> None:
    """Lose the state database, rebuild it, and find ``exec_id`` as it was; then resume it
    (``go`` now exists): the kept steps do not run again, the failed one does."""
    before = snapshot(shipyard, exec_id)
    assert before["state"] == "failed", before
    assert runs_of(tmp_path) == {"prepare": 1, "train": 1}, "the kept steps ran again"

    lose_the_database(tmp_path)
    report = ok(shipyard("store", "rebuild", "--json"))
    assert exec_id in report["rebuilt"], report
    assert "cache keys of steps kept" not in report["not_rebuilt"], report
    after = snapshot(shipyard, exec_id)

    for name in KEPT:
        assert after["units"][name] == before["units"][name], (
            f"step '{name}', kept by {how}, does not read as before after the rebuild:\n"
            f"before {before['units'][name]}\nafter  {after['units'][name]}"
        )
    assert after["events"] == before["events"], (
        f"the events of {how} differ after the rebuild:\n"
        f"before {before['events']}\nafter  {after['events']}"
    )
    # The step that ran is as the older rebuild tests see it (its times come from the
    # journal's stamps, a few microseconds from the store's, and its resources are not kept).
    ran = ("state", "reason", "exit_code", "attempts")
    assert [after["units"]["deploy"][k] for k in ran] == [before["units"]["deploy"][k] for k in ran]
    assert (after["state"], after["artifacts"]) == (before["state"], before["artifacts"])

    (tmp_path / "go").touch()
    resumed = shipyard("resume", exec_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert runs_of(tmp_path) == {"prepare": 1, "train": 1}, (
        f"resume after the rebuild ran steps kept by {how} again (their cache keys were lost): "
        f"{runs_of(tmp_path)}"
    )
    final = snapshot(shipyard, exec_id)
    assert final["state"] == "succeeded", final["units"]
    for name in KEPT:
        assert final["units"][name] == before["units"][name], final["units"][name]


def test_steps_kept_by_run_resume_from_survive_a_store_rebuild(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = str(kept_spec(write_spec))
    first = shipyard("run", spec)
    assert first.returncode != 0, first.stdout + first.stderr  # deploy: no `go` yet
    first_id = latest(shipyard)
    again = shipyard("run", spec, "--resume-from", first_id)
    assert again.returncode != 0, again.stdout + again.stderr
    second = latest(shipyard)
    assert second != first_id
    units = snapshot(shipyard, second)["units"]
    for name in KEPT:
        assert units[name]["state"] == "succeeded", units[name]
        assert units[name]["reason"] == f"reused from {first_id} (same cache key)", units[name]
    rebuilt_exactly(shipyard, tmp_path, second, "run --resume-from")


def test_steps_kept_by_a_checkpoint_restore_survive_a_store_rebuild(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = str(kept_spec(write_spec))
    (tmp_path / "hold").touch()
    ok(shipyard("run", spec, "--detach", "--json"))
    first = latest(shipyard)
    deadline = time.monotonic() + 20
    while True:
        units = {u["name"]: u["state"] for u in ok(shipyard("status", first, "--json"))["units"]}
        if units["deploy"] == "running":
            break
        assert time.monotonic() < deadline, f"deploy never started: {units}"
        time.sleep(0.1)
    taken = ok(shipyard("checkpoint", "create", first, "--json"))
    ok(shipyard("stop", first, "--force", "--yes", "--json"))
    (tmp_path / "hold").unlink()

    restore = shipyard("checkpoint", "restore", taken["id"])
    assert restore.returncode != 0, restore.stdout + restore.stderr  # deploy: no `go` yet
    restored = latest(shipyard)
    assert restored != first
    units = snapshot(shipyard, restored)["units"]
    for name in KEPT:
        assert units[name]["state"] == "succeeded", units[name]
        assert units[name]["reason"] == f"done before {taken['id']}", units[name]
    rebuilt_exactly(shipyard, tmp_path, restored, "checkpoint restore")
