"""``shipyard sweep`` as a user runs it: the installed command in a subprocess."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard

SPEC = """\
name: scored
parameters:
  n: {type: int, default: 1}
  mode: {type: str, default: a, choices: [a, b]}
  label: {type: str, default: x}
  t: {type: float, default: 0}
steps:
  score:
    run: |
      sleep "$SHIPYARD_PARAM_T"
      value=$((SHIPYARD_PARAM_N * 10))
      echo "{\\"name\\": \\"score\\", \\"value\\": $value}" >> "$SHIPYARD_METRICS"
      printf '%s' "$SHIPYARD_PARAM_LABEL" > label.out
    shell: true
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "scored.yaml"
    path.write_text(SPEC)
    return path


def test_json_result_of_a_four_point_sweep(shipyard: Shipyard, spec: Path) -> None:
    done = shipyard(
        "sweep", str(spec), "-m", "n=1,2", "-m", "mode=a,b", "--max-parallel-runs", "2",
        "--objective", "score:max", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["state"] == "succeeded"
    assert [p["parameters"] for p in report["points"]] == [
        {"n": 1, "mode": "a"},
        {"n": 1, "mode": "b"},
        {"n": 2, "mode": "a"},
        {"n": 2, "mode": "b"},
    ]
    assert [p["metrics"] for p in report["points"]] == [{"score": 10.0}] * 2 + [{"score": 20.0}] * 2
    assert report["best"]["parameters"]["n"] == 2 and report["best_value"] == 20.0
    assert {(s["parameter"], s["value"], s["mean"]) for s in report["stats"]} >= {
        ("n", 1, 10.0),
        ("n", 2, 20.0),
        ("mode", "a", 15.0),
    }
    assert "4/4 done" in done.stderr  # progress went to stderr
    listed = json.loads(shipyard("sweep", "list", "--json").stdout)
    assert [r["id"] for r in listed] == [report["id"]]


def test_csv_and_plot(shipyard: Shipyard, spec: Path, tmp_path: Path) -> None:
    done = shipyard(
        "sweep", str(spec), "-m", "n=1,2,3", "--repeat", "2", "--csv", "--plot", "out.png",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [(r["n"], r["repeat"], r["state"], r["score"]) for r in rows] == [
        ("1", "1", "succeeded", "10"),
        ("1", "2", "succeeded", "10"),
        ("2", "1", "succeeded", "20"),
        ("2", "2", "succeeded", "20"),
        ("3", "1", "succeeded", "30"),
        ("3", "2", "succeeded", "30"),
    ]
    assert all(r["execution_id"].startswith("exec_scored_") for r in rows)
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"
    table = shipyard("sweep", "status")
    assert table.returncode == 0
    assert "per parameter value" in table.stdout and "succeeded" in table.stdout


def test_a_hostile_value_reaches_the_step_as_text(
    shipyard: Shipyard, spec: Path, tmp_path: Path
) -> None:
    hostile = "$(touch pwned); `touch pwned2` && touch pwned3"
    done = shipyard("sweep", str(spec), "-m", f"label={hostile}", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["points"][0]["parameters"]["label"] == hostile
    assert (tmp_path / "label.out").read_text() == hostile
    assert not any((tmp_path / name).exists() for name in ("pwned", "pwned2", "pwned3"))


def test_detach_status_and_stop(shipyard: Shipyard, spec: Path) -> None:
    started = shipyard(
        "sweep", str(spec), "-m", "t=60,61,62", "--max-parallel-runs", "2", "--detach", "--json"
    )
    assert started.returncode == 0, started.stderr
    sweep_id = json.loads(started.stdout)["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = json.loads(shipyard("sweep", "status", sweep_id, "--json").stdout)
        if [p["state"] for p in status["points"]].count("running") == 2:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"two points never ran: {status}")
    stopped = shipyard("sweep", "stop", sweep_id)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith(f"sweep {sweep_id} cancelled")
    final = json.loads(shipyard("sweep", "status", sweep_id, "--json").stdout)
    assert [p["state"] for p in final["points"]] == ["cancelled"] * 3
    again = shipyard("sweep", "stop", sweep_id)
    assert again.returncode != 0 and "already ended (cancelled)" in again.stderr


def test_ctrl_c_stops_the_sweep_and_its_points(spec: Path, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess

    from tests.acceptance.conftest import shipyard_executable

    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    command = [shipyard_executable(), "sweep", str(spec), "-m", "t=60,61", "--json"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    for line in process.stderr:  # progress lines: wait for the first point to run
        if "1 running" in line:
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    report = json.loads(out)
    assert report["state"] == "cancelled"
    assert [p["state"] for p in report["points"]] == ["cancelled", "cancelled"]


def test_failed_points_give_exit_code_1(shipyard: Shipyard, tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text(
        "name: f\nparameters:\n  n: {type: int, default: 0}\n"
        "steps:\n  s:\n    run: 'exit $SHIPYARD_PARAM_N'\n    shell: true\n"
    )
    done = shipyard("sweep", "f.yaml", "-m", "n=0,1,2,3", "--failure-threshold", "0.25")
    assert done.returncode == 1
    assert "stopped_early" in done.stdout and "past the failure threshold of 25%" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "nn=1"], "'nn' is not a parameter of the spec"),
        (["-m", "mode=c"], "must be one of a, b"),
        (["-m", "n=two"], "'n' is an int, and 'two' is not"),
        ([], "has no sweep: block"),
        (["-m", "n"], "'-m n' is not a sweep parameter"),
        (["-m", "n=1", "--zip", "n,zz"], "names 'zz'"),
        (["-m", "n=1,2", "-m", "t=1", "--zip", "n,t"], "as many values each"),
        (["-m", "n=1", "--objective", "score"], "is not METRIC:max or METRIC:min"),
        (["-m", "n=1", "--resume", "sweep_nope"], "there is no sweep 'sweep_nope'"),
        (["-m", "n=1", "-p", "n=2"], "both swept"),
        (["-m", "n=1", "--json", "--csv"], "--json and --csv"),
    ],
)
def test_bad_input(shipyard: Shipyard, spec: Path, args: list[str], message: str) -> None:
    done = shipyard("sweep", str(spec), *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and "hint:" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_spec_and_sweep(shipyard: Shipyard) -> None:
    missing = shipyard("sweep", "nothing-here", "-m", "n=1")
    assert missing.returncode == 2 and "no pipeline registered as 'nothing-here'" in missing.stderr
    none = shipyard("sweep", "status")
    assert none.returncode == 2 and "there is no sweep yet" in none.stderr
    assert "Traceback" not in missing.stderr + none.stderr
