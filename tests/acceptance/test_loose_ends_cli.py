"""Issue 12's loose ends through the installed command: what a demanding user tried with
names, sweeps and bad input, and what each now answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard

SPEC = "name: tidy\nsteps:\n  a: {run: [echo, hi]}\n"


@pytest.fixture
def registered(shipyard: Shipyard, tmp_path: Path) -> Path:
    (tmp_path / "tidy.yaml").write_text(SPEC)
    added = shipyard("pipelines", "add", "nightly", "tidy.yaml")
    assert added.returncode == 0, added.stderr
    return tmp_path / "home"


def test_clean_undo_takes_a_pipeline_name(shipyard: Shipyard, registered: Path) -> None:
    ran = json.loads(shipyard("run", "nightly", "--json").stdout)
    cleaned = shipyard("clean", "nightly", "--level", "complete")
    assert cleaned.returncode == 0, cleaned.stderr
    undone = shipyard("clean", "--undo", "nightly")
    assert undone.returncode == 0, undone.stderr
    assert undone.stdout.startswith(f"{ran['id']}: ") and "its records" in undone.stdout
    status = json.loads(shipyard("status", "nightly", "--json").stdout)
    assert status["id"] == ran["id"] and status["state"] == "succeeded"
    empty = shipyard("clean", "--undo", "nightly")
    assert empty.returncode != 0 and "Traceback" not in empty.stderr
    assert "nothing of pipeline 'nightly' is in the trash" in empty.stderr


@pytest.mark.parametrize("hostile", ["..", "../runs", "/tmp"])
def test_clean_undo_of_a_path_is_refused_and_the_runs_stay(
    shipyard: Shipyard, registered: Path, hostile: str
) -> None:
    ran = json.loads(shipyard("run", "nightly", "--json").stdout)
    refused = shipyard("clean", "--undo", hostile)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "is not an execution id or a pipeline name" in refused.stderr
    assert "hint:" in refused.stderr
    assert (registered / "runs" / ran["id"] / "logs").is_dir()


SWEPT = """\
name: swept
parameters:
  n: {type: int, default: 1}
steps:
  a: {run: [echo, hi]}
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--plot", "swept.yaml/x.png"], "swept.yaml is a file, not a folder"),
        (["--plot", "."], "--plot .: a folder, not a file"),
        (["--plot", "x.png", "--detach"], "--plot with --detach"),
    ],
)
def test_a_sweep_plot_that_cannot_be_drawn_is_refused_before_any_point_runs(
    shipyard: Shipyard, tmp_path: Path, extra: list[str], message: str
) -> None:
    (tmp_path / "swept.yaml").write_text(SWEPT)
    refused = shipyard("sweep", "swept.yaml", "-m", "n=1,2", *extra)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert message in refused.stderr and "hint:" in refused.stderr
    assert json.loads(shipyard("list", "--json").stdout) == []


def test_a_plot_that_fails_after_the_sweep_leaves_its_results_shown(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    (tmp_path / "swept.yaml").write_text(SWEPT)
    ran = shipyard("sweep", "swept.yaml", "-m", "n=1,2", "--json", "--plot", "new/x.png")
    assert ran.returncode != 0 and "has no metrics to plot" in ran.stderr
    report = json.loads(ran.stdout)
    assert [point["state"] for point in report["points"]] == ["succeeded", "succeeded"]


def test_run_refuses_a_checkpoint_interval_of_zero(shipyard: Shipyard, tmp_path: Path) -> None:
    (tmp_path / "tidy.yaml").write_text(SPEC)
    refused = shipyard("run", "tidy.yaml", "--checkpoint-every", "0")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "must be a positive number of seconds" in refused.stderr
    assert json.loads(shipyard("list", "--json").stdout) == []


MEASURED = """\
name: measured
parameters:
  n: {type: int, default: 1}
steps:
  a:
    shell: true
    run: |
      echo "{\\"name\\": \\"n\\", \\"value\\": $SHIPYARD_PARAM_N}" >> "$SHIPYARD_METRICS"
"""


def test_a_plot_into_a_missing_folder_makes_it(shipyard: Shipyard, tmp_path: Path) -> None:
    (tmp_path / "measured.yaml").write_text(MEASURED)
    ran = shipyard("sweep", "measured.yaml", "-m", "n=1,2", "--plot", "plots/a/sweep.png")
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "plots" / "a" / "sweep.png").read_bytes().startswith(b"\x89PNG")


def test_a_folder_given_as_the_spec_gets_a_hint(shipyard: Shipyard) -> None:
    refused = shipyard("run", ".")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "is a folder, not a spec file" in refused.stderr
    assert "hint: give the spec file's path" in refused.stderr


@pytest.mark.parametrize("command", [["status"], ["pipelines", "list"], ["list"]])
def test_a_home_that_is_a_file_is_one_message(
    shipyard: Shipyard, tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "afile").write_text("not a folder")
    refused = shipyard(*command, "--home", str(tmp_path / "afile"))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"the Shipyard home {tmp_path / 'afile'} is not a folder" in refused.stderr
    assert "hint: point --home" in refused.stderr


@pytest.mark.parametrize(
    "command",
    [("history", "tidy"), ("list",), ("sweep", "list"), ("metrics", "tidy")],
)
def test_a_limit_past_what_a_listing_takes_is_a_message(
    shipyard: Shipyard, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """A --limit past 64 bits reached SQLite as an OverflowError traceback."""
    (tmp_path / "tidy.yaml").write_text(SPEC)
    assert shipyard("run", "tidy.yaml").returncode == 0
    answer = shipyard(*command, "--limit", "99999999999999999999")
    assert answer.returncode != 0 and "Traceback" not in answer.stderr, answer.stderr
    assert "--limit" in answer.stderr and "100000" in answer.stderr.replace(",", ""), answer.stderr
