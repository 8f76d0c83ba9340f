"""`shipyard pipelines …` and names where specs and execution ids go, through the installed
command (issue 12 §1)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard

SPEC = """
name: demo
parameters:
  size: {type: int, default: 1, choices: [1, 2, 4], test: 2, description: block count}
  label: hello
steps:
  write:
    run: 'echo "size=$SHIPYARD_PARAM_SIZE label=$SHIPYARD_PARAM_LABEL"'
    shell: true
  check:
    run: [true]
    needs: [write]
"""


@pytest.fixture
def added(shipyard: Shipyard, tmp_path: Path) -> Path:
    spec = tmp_path / "demo.yaml"
    spec.write_text(textwrap.dedent(SPEC).lstrip())
    done = shipyard("pipelines", "add", "demo", "demo.yaml")
    assert done.returncode == 0, done.stderr
    return spec


def test_add_show_set_run_by_name_and_status_by_name(shipyard: Shipyard, added: Path) -> None:
    shown = shipyard("pipelines", "show", "demo")
    assert shown.returncode == 0, shown.stderr
    assert "size" in shown.stdout and "1, 2, 4" in shown.stdout and "block count" in shown.stdout
    assert shipyard("pipelines", "set", "demo", "-p", "size=4").returncode == 0
    menu = json.loads(shipyard("pipelines", "show", "demo", "--json").stdout)
    size = next(p for p in menu["parameters"] if p["name"] == "size")
    assert (size["type"], size["default"], size["stored"], size["test"]) == ("int", 1, 4, 2)

    ran = shipyard("run", "demo", "-p", "label=given", "--json")
    assert ran.returncode == 0, ran.stderr
    status = json.loads(ran.stdout)
    assert status["pipeline"] == "demo"
    assert status["parameters"] == {"size": 4, "label": "given"}
    by_name = json.loads(shipyard("status", "demo", "--json").stdout)  # the fast path
    assert by_name["id"] == status["id"]
    header = shipyard("status", "demo").stdout
    assert f"pipeline: demo ({added})" in header
    logs = shipyard("logs", "demo", "write")
    assert logs.stdout.strip() == "size=4 label=given"
    listed = json.loads(shipyard("pipelines", "list", "--json").stdout)
    assert [(p["name"], p["last_execution"]) for p in listed] == [("demo", status["id"])]
    assert shipyard("validate", "demo").returncode == 0
    assert json.loads(shipyard("plan", "demo", "--json").stdout)["parameters"]["size"] == 4


def test_step_edits_through_the_cli(shipyard: Shipyard, added: Path, tmp_path: Path) -> None:
    (tmp_path / "step.yaml").write_text("run: [echo, report]\nneeds: [check]\n")
    done = shipyard("pipelines", "step", "add", "demo", "report", "--file", "step.yaml")
    assert done.returncode == 0, done.stderr
    replaced = shipyard(
        "pipelines", "step", "replace", "demo", "report", "--yaml", "{run: [echo, again]}"
    )
    assert replaced.returncode == 0, replaced.stderr
    spec = shipyard("pipelines", "spec", "demo").stdout
    assert "report:" in spec and "again" in spec
    assert shipyard("pipelines", "validate", "demo", "--json").returncode == 0
    removed = json.loads(shipyard("pipelines", "step", "remove", "demo", "report", "--json").stdout)
    assert removed["steps"] == ["write", "check"]


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (("pipelines", "show", "dmeo"), "no pipeline named 'dmeo'", "did you mean 'demo'?"),
        (("run", "dmeo"), "no pipeline registered as 'dmeo'", "registered pipelines: demo"),
        (
            ("status", "nothing"),
            "no execution 'nothing' and no pipeline",
            "shipyard pipelines list",
        ),
        (("logs", "nothing"), "no execution 'nothing' and no pipeline", "shipyard list"),
        (("status", "demo"), "pipeline 'demo' has not run yet", "shipyard run demo"),
        (
            ("pipelines", "set", "demo", "-p", "sise=2"),
            "'sise' is not a parameter of the spec",
            "did you mean 'size'?",
        ),
        (
            ("pipelines", "set", "demo", "-p", "size=3"),
            "must be one of 1, 2, 4; got 3",
            "give 'size' one of 1, 2, 4",
        ),
        (("pipelines", "set", "demo", "-p", "size=big"), "is an int, and 'big' is not", "int"),
        (("pipelines", "set", "demo"), "nothing to set", "--unset"),
        (("pipelines", "add", "demo", "demo.yaml"), "already registered", "--replace"),
        (("pipelines", "add", "../etc", "demo.yaml"), "'../etc' is not valid", "fio-bench"),
        (("pipelines", "add", "$(reboot)", "demo.yaml"), "is not valid", "fio-bench"),
        (
            ("pipelines", "step", "remove", "demo", "write"),
            "cannot remove step 'write': check needs it",
            "needs",
        ),
        (
            ("pipelines", "step", "add", "demo", "x", "--yaml", "{run: [true], needs: [nope]}"),
            "step 'x' needs 'nope', which is not a step",
            "pipelines spec demo",
        ),
        (
            ("pipelines", "step", "replace", "demo", "check", "--yaml", "{run: [], timeout: x}"),
            "steps.check.run",
            "",
        ),
        (("pipelines", "step", "add", "demo", "x"), "--file FILE or with --yaml TEXT", "--yaml"),
        (("pipelines", "step", "add", "demo", "x", "--yaml", "- a"), "not a YAML mapping", "run"),
    ],
)
def test_bad_input_is_one_clear_error(
    shipyard: Shipyard, added: Path, args: tuple[str, ...], message: str, hint: str
) -> None:
    done = shipyard(*args)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert message in done.stderr
    assert "hint: " in done.stderr and hint in done.stderr.split("hint: ", 1)[1]


def test_a_refused_edit_leaves_the_stored_spec_as_it_was(shipyard: Shipyard, added: Path) -> None:
    before = shipyard("pipelines", "spec", "demo").stdout
    refused = shipyard("pipelines", "step", "add", "demo", "x", "--yaml", "{run: 5}")
    assert refused.returncode != 0
    assert shipyard("pipelines", "spec", "demo").stdout == before


def test_an_invalid_spec_is_refused_with_its_file_and_line(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    (tmp_path / "bad.yaml").write_text("name: bad\nsteps:\n  a: {run: [true], needs: [zz]}\n")
    done = shipyard("pipelines", "add", "bad", "bad.yaml")
    assert done.returncode != 0
    assert f"{tmp_path / 'bad.yaml'}:3" in done.stderr
    assert json.loads(shipyard("pipelines", "list", "--json").stdout) == []


def test_remove_keeps_the_executions(shipyard: Shipyard, added: Path) -> None:
    ran = json.loads(shipyard("run", "demo", "--json").stdout)
    removed = json.loads(shipyard("pipelines", "remove", "demo", "--json").stdout)
    assert removed["last_execution"] == ran["id"]
    assert json.loads(shipyard("status", ran["id"], "--json").stdout)["pipeline"] == "demo"
    # The name still finds the executions it ran (they keep it), but no longer runs.
    assert json.loads(shipyard("status", "demo", "--json").stdout)["id"] == ran["id"]
    refused = shipyard("run", "demo")
    assert refused.returncode != 0 and "no pipeline registered as 'demo'" in refused.stderr
