"""Issue 11 §18–21 through the installed command: where the CLI did not do what the docs say,
and the small things a new user hit (wording, read-only commands, services-only specs)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard

TWO_STEPS = """\
name: two
steps:
  a: {run: [echo, "a step's output line that is long enough to be wrapped on a narrow screen"]}
  b: {run: [echo, b], needs: [a]}
"""


def test_debug_mode_prints_each_event_as_one_json_line(
    shipyard: Shipyard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "two.yaml").write_text(TWO_STEPS)
    monkeypatch.setenv("COLUMNS", "40")  # a narrow screen must not wrap a line either
    ran = shipyard("run", "two.yaml", "--mode", "debug")
    assert ran.returncode == 0, ran.stderr
    lines = [line for line in ran.stdout.splitlines() if line.startswith("{")]
    actions = [_one_json_line(line)["action"] for line in lines]
    assert actions[0] == "execution_started" and actions.count("unit_finished") == 2, actions


def _one_json_line(line: str) -> dict[str, object]:
    try:
        event = json.loads(line)
    except ValueError:
        pytest.fail(f"a debug event is not one JSON line: {line!r}")
    assert isinstance(event, dict), line
    return event


CHECKPOINTED = """\
name: ck
steps:
  w:
    shell: true
    run: >-
      echo 1 > state.txt; trap 'echo 2 > state.txt; touch state.ready' USR1;
      touch started; while :; do sleep 0.05; done
    checkpoint: {paths: [state.txt], signal: USR1, ready_file: state.ready, timeout: 10s}
"""


def _wait_for_file(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was never written: the step did not start"
        time.sleep(0.05)


def test_checkpoint_create_and_list_give_created_at_in_iso_8601(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    (tmp_path / "ck.yaml").write_text(CHECKPOINTED)
    started = shipyard("run", "ck.yaml", "--detach", "--json")
    assert started.returncode == 0, started.stderr
    execution_id = json.loads(started.stdout)["id"]
    try:
        _wait_for_file(tmp_path / "started")
        created = shipyard("checkpoint", "create", execution_id, "--json")
        assert created.returncode == 0, created.stderr
        listed = shipyard("checkpoint", "list", execution_id, "--json")
        assert listed.returncode == 0, listed.stderr
    finally:
        shipyard("stop", execution_id, "--force", "--yes")
    taken = json.loads(created.stdout)
    [entry] = json.loads(listed.stdout)
    for when in (taken["created_at"], entry["created_at"]):
        assert isinstance(when, str), f"created_at is {when!r}, not ISO 8601 text"
        assert datetime.fromisoformat(when).tzinfo is not None
    assert entry["created_at"] == taken["created_at"]


WORDS = """\
name: words
parameters:
  word: {type: str, default: x}
  loud: false
steps:
  "off":
    run: "echo {{ word }} {{ loud }} $COUNTRY > out.txt"
    shell: yes
    env: {COUNTRY: NO}
  later: {run: [echo, never], enabled: no}
"""


def test_yes_and_no_are_booleans_only_where_a_boolean_stands(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    (tmp_path / "words.yaml").write_text(WORDS)
    ran = shipyard("run", "words.yaml", "-p", "word=no", "-p", "loud=yes", "--json")
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "out.txt").read_text() == "no true NO\n"  # shell: yes ran it with sh
    states = {unit["name"]: unit["state"] for unit in json.loads(ran.stdout)["units"]}
    assert states == {"off": "succeeded", "later": "disabled"}, states
    refused = shipyard("run", "words.yaml", "-p", "loud=maybe")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "parameter 'loud' is a bool, and 'maybe' is not" in refused.stderr
    (tmp_path / "words.yaml").write_text(WORDS.replace("enabled: no", "enabled: y"))
    invalid = shipyard("validate", "words.yaml")
    assert invalid.returncode != 0 and "Traceback" not in invalid.stderr + invalid.stdout
    assert "words.yaml:10:" in invalid.stdout + invalid.stderr
    assert "steps.later.enabled should be true or false, not 'y'" in invalid.stdout + invalid.stderr


def test_plan_spells_a_boolean_parameter_as_yaml_does(shipyard: Shipyard, tmp_path: Path) -> None:
    (tmp_path / "words.yaml").write_text(WORDS)
    for given, shown in (("yes", "true"), ("off", "false")):
        planned = shipyard("plan", "words.yaml", "-p", f"loud={given}")
        assert planned.returncode == 0, planned.stderr
        assert f"parameters: word=x, loud={shown}\n" in planned.stdout, planned.stdout


@pytest.mark.local_only("a server makes its home when it starts")
def test_read_only_commands_in_a_folder_without_state_create_none(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    read_only = (["list"], ["list", "--json"], ["pipelines", "list"], ["index", "list"])
    for command in read_only:
        listed = shipyard(*command)
        assert listed.returncode == 0, listed.stderr
    assert json.loads(shipyard("list", "--json").stdout) == []
    asked = {
        ("status",): "there are no executions yet",
        ("status", "--json"): "there are no executions yet",
        ("status", "exec_x"): "exec_x",
        ("ps",): "no fleet has been brought up yet",
        ("history", "x"): "no executions of a pipeline or spec named 'x'",
        ("sweep", "status", "x"): "there is no sweep 'x'",
        ("sweep", "status"): "there is no sweep yet",
        ("pipelines", "show", "x"): "no pipeline named 'x'",
    }
    for words, answer in asked.items():
        refused = shipyard(*words)
        assert refused.returncode != 0 and "Traceback" not in refused.stderr
        assert answer in refused.stderr, (words, refused.stderr)
        assert not home.exists(), f"{words} created {sorted(home.rglob('*'))}"
    assert not home.exists(), f"a read-only command created {sorted(home.rglob('*'))}"
    said = shipyard("status").stderr
    assert f"there are no executions yet in {home}" in said, said


FLEET = """\
name: fleet
services:
  db: {run: "exec sleep 30", shell: true}
  web: {run: "exec sleep 30", shell: true, depends_on: {db: started}}
"""


def test_a_services_only_spec_is_validated_planned_and_refused_by_run_as_a_fleet(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    (tmp_path / "fleet.yaml").write_text(FLEET)
    valid = shipyard("validate", "fleet.yaml")
    assert valid.returncode == 0, valid.stderr
    assert "'fleet' is valid (2 services)" in valid.stdout, valid.stdout
    planned = shipyard("plan", "fleet.yaml")
    assert planned.returncode == 0, planned.stderr
    assert "deployment: 2 start stages (db → web)" in planned.stdout, planned.stdout
    assert "max_parallel" not in planned.stdout and "failure_strategy" not in planned.stdout
    # -d: were it not refused, the run would return at once (in the foreground it would run
    # until stopped, the very thing refused).
    refused = shipyard("run", "fleet.yaml", "--detach")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "fleet.yaml has only services" in refused.stderr
    assert "hint: bring the fleet up with: shipyard up fleet.yaml" in refused.stderr
    assert json.loads(shipyard("list", "--json").stdout) == []  # nothing was started


def test_status_gives_cpu_time_and_cpu_peak_each_in_a_column_of_its_own(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    (tmp_path / "two.yaml").write_text(TWO_STEPS)
    ran = shipyard("run", "two.yaml", "-q")
    assert ran.returncode == 0, ran.stderr
    shown = shipyard("status").stdout
    header = next(line for line in shown.splitlines() if "unit" in line and "state" in line)
    assert "cpu time" in header and "cpu peak" in header, header
    assert "s cpu" not in shown and "% peak" not in shown, shown  # one measure per column
