"""What issue 15 added survives the state database's loss: after real runs with an approved
gate, artifacts and a model registry with registrations, promotions and a rollback, the
database is deleted (``shipyard store rebuild``) or damaged (noticed by the next command), and
every record comes back exactly as the commands showed it before: the approval (who, why,
when, the gates), the step succeeded by approval, the artifacts' sizes and SHA-256 (those the
dependants were handed, even if the folder changed since), the model versions, stages,
production stack and stage changes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.conftest import Shipyard
from tests.conftest import SpecWriter

pytestmark = pytest.mark.local_only(
    "deletes the state database, which a server of the home would hold open"
)

PY = sys.executable
TRAIN = (
    "import os; folder = os.environ['SHIPYARD_INPUT_PREPARE'];"
    " data = open(os.path.join(folder, 'data.csv')).read();"
    " open('model.txt', 'w').write('model of ' + data);"
    " os.makedirs('weights', exist_ok=True);"
    " [open(f'weights/w{i}.bin', 'wb').write(bytes([i]) * 1000 * i) for i in range(1, 4)];"
    ' open(os.environ["SHIPYARD_METRICS"], "a").write(\'{"name": "accuracy", "value": 0.62}\\n\')'
)


def gated_spec(write_spec: SpecWriter) -> Path:
    return write_spec(
        f"""
        name: rebuilt
        steps:
          prepare: {{run: [sh, -c, "echo 1,2 > data.csv"], outputs: [data.csv]}}
          train:
            run: {json.dumps([PY, "-c", TRAIN])}
            needs: [prepare]
            outputs: [model.txt, weights]
            gates: [{{metric: accuracy, ">=": 0.85}}]
          deploy:
            run: "cat {{{{ inputs.train }}}}/model.txt > deployed.txt"
            shell: true
            needs: [train]
        """
    )


def ok(done: Any) -> Any:
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout) if done.stdout.lstrip().startswith(("{", "[")) else done.stdout


def lose_the_database(tmp_path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp_path / 'home' / 'state.db'}{suffix}").unlink(missing_ok=True)


def damage_the_database(tmp_path: Path) -> None:
    lose_the_database(tmp_path)
    (tmp_path / "home" / "state.db").write_bytes(b"not a database at all " * 100)


def gated_and_approved(shipyard: Shipyard, write_spec: SpecWriter) -> tuple[str, dict[str, Any]]:
    run = shipyard("run", str(gated_spec(write_spec)))
    assert run.returncode != 0 and "gated train" in run.stdout, run.stdout + run.stderr
    exec_id = ok(shipyard("status", "--json"))["id"]
    ok(shipyard("gate", "approve", exec_id, "train", "--reason", "offline eval: fine", "--json"))
    return exec_id, snapshot(shipyard, exec_id)


def snapshot(shipyard: Shipyard, exec_id: str) -> dict[str, Any]:
    status = ok(shipyard("status", exec_id, "--json"))
    units = {
        u["name"]: (u["state"], u["reason"], u["exit_code"], u["attempts"]) for u in status["units"]
    }
    return {
        "units": units,
        "state": status["state"],
        "approvals": status["approvals"],
        "artifacts": ok(shipyard("artifacts", exec_id, "--json")),
        "events": events_of(shipyard, exec_id),
    }


def events_of(shipyard: Shipyard, exec_id: str) -> list[tuple[float, str, str | None, Any]]:
    """The execution's events as the state database holds them (no command lists them all)."""
    home = Path(ok(shipyard("status", exec_id, "--json"))["run_dir"]).parents[1]
    with contextlib.closing(sqlite3.connect(home / "state.db")) as db:
        rows = db.execute(
            "SELECT ts, action, unit, data FROM events WHERE execution_id = ? ORDER BY id",
            (exec_id,),
        ).fetchall()
    return [(ts, action, unit, json.loads(data)) for ts, action, unit, data in rows]


def test_store_rebuild_brings_back_the_approval_and_the_artifacts(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    exec_id, before = gated_and_approved(shipyard, write_spec)
    assert before["units"]["train"][0] == "succeeded", before["units"]
    assert len(before["approvals"]) == 1 and len(before["artifacts"]) == 5
    weights = tmp_path / "home" / "runs" / exec_id / "artifacts" / "train" / "weights" / "w2.bin"
    handed = hashlib.sha256(weights.read_bytes()).hexdigest()
    # The folder changes after the dependants were handed it: the record keeps what they got.
    weights.chmod(0o644)
    weights.write_bytes(b"changed later")

    lose_the_database(tmp_path)
    report = ok(shipyard("store", "rebuild", "--json"))
    assert report["rebuilt"] == [exec_id], report
    after = snapshot(shipyard, exec_id)

    assert after["units"]["train"] == before["units"]["train"], (
        "the approved step is not succeeded-by-approval again after the rebuild: "
        f"{after['units']['train']}"
    )
    assert after["approvals"] == before["approvals"], (
        f"the approval was not brought back exactly: {after['approvals']} != {before['approvals']}"
    )
    assert after["artifacts"] == before["artifacts"], (
        f"the artifact records differ after the rebuild: {after['artifacts']} != "
        f"{before['artifacts']}"
    )
    recorded = {a["path"]: a["sha256"] for a in after["artifacts"]}
    assert recorded["weights/w2.bin"] == handed, (
        "the rebuilt digest is the folder's bytes now, not what the dependants were handed"
    )
    assert after["events"] == before["events"]
    assert after["units"] == before["units"] and after["state"] == before["state"]
    assert "artifacts (sizes, SHA-256) and approved gates" in shipyard("store", "rebuild").stdout

    # The approval holds for what follows: resume keeps the approved step (its cache key came
    # back from attempts.log) and runs its dependant; run again, it would be gated again.
    resumed = shipyard("resume", exec_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    resumed_units = snapshot(shipyard, exec_id)["units"]
    assert resumed_units["train"] == before["units"]["train"], (
        f"resume after the rebuild ran the approved step again: {resumed_units['train']}"
    )
    assert resumed_units["deploy"][0] == "succeeded", resumed_units
    assert (tmp_path / "deployed.txt").read_text() == "model of 1,2\n"


@pytest.mark.parametrize("loss", ["deleted", "damaged"])
def test_the_model_registry_survives_losing_the_state_database(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path, loss: str
) -> None:
    exec_id, _ = gated_and_approved(shipyard, write_spec)
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights " * 1000)
    bundle = tmp_path / "bundle"
    (bundle / "sub").mkdir(parents=True)
    (bundle / "sub" / "config.json").write_text('{"layers": 2}')
    ok(shipyard("models", "register", "clf", "model.bin", "--from", f"{exec_id}/train",
                "--metrics-from", f"{exec_id}/train", "--json"))  # fmt: skip
    ok(shipyard("models", "register", "clf", "bundle", "--metrics", "accuracy=0.8"))
    ok(shipyard("models", "register", "other", "model.bin"))
    ok(shipyard("models", "promote", "clf", "--to", "1"))
    ok(shipyard("models", "promote", "clf", "--to", "2"))
    ok(shipyard("models", "rollback", "clf"))
    ok(shipyard("models", "promote", "other", "--to", "1"))
    before = {name: ok(shipyard("models", "show", name, "--json")) for name in ("clf", "other")}
    listed = ok(shipyard("models", "list", "--json"))
    assert [v["stage"] for v in before["clf"]["versions"]] == ["production", "archived"]
    assert len(before["clf"]["events"]) == 7

    if loss == "deleted":
        lose_the_database(tmp_path)
        report = ok(shipyard("store", "rebuild", "--json"))
        assert report["models"] == ["clf", "other"], report
    else:
        damage_the_database(tmp_path)
        noticed = shipyard("models", "list", "--json")  # the next command rebuilds
        assert noticed.returncode == 0, noticed.stderr
        assert "model registry: 2 models" in noticed.stderr, noticed.stderr

    after = {name: ok(shipyard("models", "show", name, "--json")) for name in ("clf", "other")}
    for name in before:
        assert after[name] == before[name], (
            f"model '{name}' is not as it was before the state database was {loss}:\n"
            f"before {before[name]}\nafter  {after[name]}"
        )
    assert ok(shipyard("models", "list", "--json")) == listed
    assert (
        shipyard("models", "path", "clf").stdout.strip()
        == before["clf"]["versions"][0]["stored_path"]
    )
    # The production stack came back too: rolling back again walks back, not forth.
    refused = shipyard("models", "rollback", "clf")
    assert refused.returncode != 0 and "no version in production before" in refused.stderr, (
        refused.stdout + refused.stderr
    )
    # And the registry goes on where it was: the next version is 3.
    assert ok(shipyard("models", "register", "clf", "model.bin", "--json"))["version"] == 3


def test_artifacts_carried_into_a_resumed_run_come_back_from_their_folder(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """``run --resume-from`` copies the kept steps' artifacts with their records, and no
    ``artifacts_recorded`` event: a rebuild hashes their folder again."""
    first, _ = gated_and_approved(shipyard, write_spec)
    again = shipyard("run", str(gated_spec(write_spec)), "--resume-from", first)
    assert again.returncode == 0, again.stdout + again.stderr
    second = ok(shipyard("status", "--json"))["id"]
    assert second != first
    before = snapshot(shipyard, second)
    assert "reused" in str(before["units"]["train"][1]), before["units"]
    assert len(before["artifacts"]) == 5, before["artifacts"]

    lose_the_database(tmp_path)
    ok(shipyard("store", "rebuild", "--json"))
    after = snapshot(shipyard, second)
    assert after["artifacts"] == before["artifacts"], (
        f"the carried artifacts' records differ after the rebuild: {after['artifacts']} != "
        f"{before['artifacts']}"
    )
