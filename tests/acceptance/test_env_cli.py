"""`shipyard env capture|list|show|rm` and a spec's `environment:` through the installed CLI
(issue 16 §4): what a shell had reaches a step that names it, on PATH too."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard, shipyard_executable
from tests.conftest import SpecWriter


def capture(tmp_path: Path, name: str, extra_env: dict[str, str], *args: str) -> str:
    """`shipyard env capture` run from a shell with ``extra_env`` on top of this one's."""
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "NO_COLOR": "1", **extra_env}
    done = subprocess.run(
        [shipyard_executable(), "env", "capture", name, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    """A folder with a program only a captured PATH knows."""
    folder = tmp_path / "modules" / "bin"
    folder.mkdir(parents=True)
    program = folder / "mytool"
    program.write_text('#!/bin/sh\necho "mytool: GCC_ROOT=$GCC_ROOT OWN=$OWN"\n')
    program.chmod(0o755)
    return folder


def test_capture_list_show_rm(shipyard: Shipyard, tmp_path: Path, tools: Path) -> None:
    shell = {
        "PATH": f"{tools}:{os.environ['PATH']}",
        "GCC_ROOT": "/opt/gcc",
        "__LMOD_REF_COUNT_GCC_ROOT": "/opt/gcc:1",
        "LOADEDMODULES": "gcc/12",
        "OMP_NUM_THREADS": "4",
        "UNRELATED": "x",
    }
    said = capture(tmp_path, "gcc12", shell, "--var", "OMP_NUM_THREADS")
    assert said.startswith("captured gcc12: ") and said.endswith(", 2 set by modules\n"), said
    listed = json.loads(shipyard("env", "list", "--json").stdout)
    assert [item["name"] for item in listed] == ["gcc12"]
    shown = json.loads(shipyard("env", "show", "gcc12", "--json").stdout)
    wanted = {
        "GCC_ROOT": "/opt/gcc",
        "LOADEDMODULES": "gcc/12",
        "OMP_NUM_THREADS": "4",
        "PATH": shell["PATH"],
    }
    assert shown["variables"].items() >= wanted.items(), shown
    assert "UNRELATED" not in shown["variables"] and "HOME" not in shown["variables"], shown
    assert shown["from_modules"] == ["GCC_ROOT", "LOADEDMODULES"]
    stored = tmp_path / "home" / "environments" / "gcc12.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600, "the file is owner-only"
    text = shipyard("env", "show", "gcc12").stdout
    assert "export GCC_ROOT=/opt/gcc\n" in text and "# set by modules: GCC_ROOT" in text, text
    assert "gcc12" in shipyard("env", "list").stdout
    removed = shipyard("env", "rm", "gcc12")
    assert removed.returncode == 0 and removed.stdout == "removed gcc12\n", removed
    gone = shipyard("env", "show", "gcc12")
    assert gone.returncode == 2, gone
    assert "no environment named 'gcc12' (environments: none yet)" in gone.stderr, gone.stderr
    assert shipyard("env", "list").stdout == "no environments yet: shipyard env capture NAME\n"


def test_a_var_that_is_not_set_is_refused(shipyard: Shipyard) -> None:
    refused = shipyard("env", "capture", "x", "--var", "SURELY_NOT_SET_ANYWHERE")
    assert refused.returncode == 2, refused
    assert "--var SURELY_NOT_SET_ANYWHERE: the variable is not set in this shell" in (
        refused.stderr
    ), refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_step_runs_with_the_named_environment(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path, tools: Path
) -> None:
    capture(tmp_path, "mods", {"PATH": f"{tools}:{os.environ['PATH']}", "GCC_ROOT": "/opt/gcc"},
            "--var", "GCC_ROOT")  # fmt: skip
    spec = write_spec(
        """
        name: uses-env
        environment: mods
        steps:
          argv: {run: [mytool], env: {OWN: step}}
          shelled: {run: mytool, shell: true}
          elsewhere: {run: [mytool], workdir: sub}
        """
    )
    (tmp_path / "sub").mkdir()
    result = shipyard("run", str(spec), "--json")
    status = json.loads(result.stdout)
    assert status["state"] == "succeeded", (status, result.stderr)
    logs = tmp_path / "home" / "runs" / status["id"] / "logs"
    assert (logs / "argv.log").read_text() == "mytool: GCC_ROOT=/opt/gcc OWN=step\n", (
        "a program on the environment's PATH, started without a shell"
    )
    assert (logs / "shelled.log").read_text() == "mytool: GCC_ROOT=/opt/gcc OWN=\n"
    assert (logs / "elsewhere.log").read_text() == "mytool: GCC_ROOT=/opt/gcc OWN=\n"


def test_an_unknown_environment_stops_the_plan_at_its_line(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    capture(tmp_path, "gcc12", {})
    spec = write_spec(
        """
        name: unknown-env
        steps:
          a:
            run: [echo, a]
            environment: gcc13
        """
    )
    for command in ("plan", "run"):
        refused = shipyard(command, str(spec))
        assert refused.returncode == 2, refused
        assert (
            f"{spec}:5:18: steps.a.environment: no environment named 'gcc13' "
            "(environments: gcc12)" in refused.stderr
        ), refused.stderr
        assert "shipyard env capture gcc13" in refused.stderr
        assert "Traceback" not in refused.stderr
