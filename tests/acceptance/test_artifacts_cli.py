"""Artifacts and quality gates as the installed ``shipyard`` shows them (issue 15 §1-2):
``artifacts`` (table and --json), ``artifacts get -o``, a path leading out refused, a gated
step in ``status``, ``gate approve`` then ``resume``, and bad gates at their file:line.
Under SHIPYARD_SERVER_CHECK=1 every command goes through a real server."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

from tests.acceptance.conftest import Shipyard
from tests.conftest import SpecWriter

PY = sys.executable
TRAIN = (
    "import os; folder = os.environ['SHIPYARD_INPUT_PREPARE'];"
    " model = open(os.path.join(folder, 'data.csv')).read();"
    " open('model.txt', 'w').write('model of ' + model);"
    ' open(os.environ["SHIPYARD_METRICS"], "a").write(\'{"name": "accuracy", "value": 0.62}\\n\')'
)


def spec(write_spec: SpecWriter, threshold: float) -> Path:
    return write_spec(
        f"""
        name: mlcli
        steps:
          prepare: {{run: [sh, -c, "echo 1,2 > data.csv"], outputs: [data.csv]}}
          train:
            run: {json.dumps([PY, "-c", TRAIN])}
            needs: [prepare]
            outputs: [model.txt]
            gates: [{{metric: accuracy, ">=": {threshold}}}]
          deploy:
            run: "cat {{{{ inputs.train }}}}/model.txt > deployed.txt"
            shell: true
            needs: [train]
        """
    )


def execution_of(shipyard: Shipyard) -> dict[str, object]:
    record = json.loads(shipyard("status", "--json").stdout)
    assert isinstance(record, dict)
    return record


def test_artifacts_are_listed_and_copied_out(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    run = shipyard("run", str(spec(write_spec, 0.5)))
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "deployed.txt").read_text() == "model of 1,2\n"
    exec_id = str(execution_of(shipyard)["id"])
    listed = json.loads(shipyard("artifacts", exec_id, "--json").stdout)
    assert [(a["unit"], a["path"], a["size"]) for a in listed] == [
        ("prepare", "data.csv", 4),
        ("train", "model.txt", 13),
    ]
    assert listed[1]["sha256"] == hashlib.sha256(b"model of 1,2\n").hexdigest()
    table = shipyard("artifacts", exec_id, "train")
    assert table.returncode == 0, table.stderr
    assert "model.txt" in table.stdout and listed[1]["sha256"] in table.stdout
    assert "data.csv" not in table.stdout
    out = tmp_path / "copied.txt"
    got = shipyard("artifacts", "get", exec_id, "train", "model.txt", "-o", str(out))
    assert got.returncode == 0, got.stderr
    assert out.read_text() == "model of 1,2\n"
    refused = shipyard("artifacts", "get", exec_id, "train", "../prepare/../../state.db", "-o",
                       str(tmp_path / "stolen"))  # fmt: skip
    assert refused.returncode != 0
    assert "leads out of the step's artifacts folder: refused" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "stolen").exists()


def test_a_gated_step_is_approved_by_hand_and_resume_runs_its_dependants(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    run = shipyard("run", str(spec(write_spec, 0.85)))
    assert run.returncode != 0
    assert "gated train" in run.stdout
    record = execution_of(shipyard)
    exec_id = str(record["id"])
    assert record["state"] == "failed"
    units = {u["name"]: u for u in record["units"]}  # type: ignore[attr-defined]
    assert units["train"]["state"] == "gated"
    assert "measured accuracy = 0.62, threshold >= 0.85" in units["train"]["reason"]
    assert units["deploy"]["state"] == "skipped"
    assert "gate accuracy >= 0.85 failed" in str(record["reason"])
    status = shipyard("status")
    assert "gated" in status.stdout
    approve = shipyard(
        "gate", "approve", exec_id, "train", "--reason", "offline eval says fine", "--json"
    )
    assert approve.returncode == 0, approve.stderr
    approval = json.loads(approve.stdout)
    assert approval["unit"] == "train" and approval["reason"] == "offline eval says fine"
    assert approval["approved_by"]
    again = shipyard("gate", "approve", exec_id, "train", "--reason", "twice")
    assert again.returncode != 0 and "not gated" in again.stderr
    resumed = shipyard("resume", exec_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (tmp_path / "deployed.txt").read_text() == "model of 1,2\n"
    shown = shipyard("status", exec_id)
    assert "gate approved: train by" in shown.stdout and "offline eval says fine" in shown.stdout
    assert execution_of(shipyard)["approvals"][0]["reason"] == "offline eval says fine"  # type: ignore[index]


def test_a_bad_gate_is_refused_before_anything_runs_with_its_file_and_line(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    path = write_spec(
        """
        name: bad
        steps:
          train:
            run: [touch, ran]
            gates:
              - {metric: accuracy, "=>": 0.85}
        """
    )
    run = shipyard("run", str(path))
    assert run.returncode != 0
    assert f"{path}:6" in run.stderr
    assert "'=>' is not a comparison" in run.stderr
    assert not (tmp_path / "ran").exists()


def test_the_ml_example_publishes_a_good_model_and_gates_an_untrained_one(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    """examples/ml as docs/ml.md runs it (a copy, so its work folder lands in the test's)."""
    example = tmp_path / "ml"
    shutil.copytree(Path(__file__).parents[2] / "examples" / "ml", example)
    good = shipyard("run", str(example / "pipeline.yaml"), "-p", "rows=400")
    assert good.returncode == 0, good.stdout + good.stderr
    assert json.loads((example / "ml.work" / "published" / "model.json").read_text())["w1"] > 0
    record = execution_of(shipyard)
    accuracy = [m["value"] for m in record["metrics"] if m["name"] == "accuracy"]  # type: ignore[union-attr,index]
    assert accuracy and accuracy[0] >= 0.85
    (example / "ml.work" / "published" / "model.json").unlink()
    bad = shipyard("run", str(example / "pipeline.yaml"), "-p", "rows=400", "-p", "epochs=0")
    assert bad.returncode == 1
    assert "gated evaluate" in bad.stdout and "threshold >= 0.85" in bad.stdout
    assert not (example / "ml.work" / "published" / "model.json").exists()
