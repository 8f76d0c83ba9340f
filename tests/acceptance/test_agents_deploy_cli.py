"""`shipyard agents deploy FOLDER` through the installed command (issue 11, items 2 and 4): it
names the agents it left out as invalid, with the reason, and a second deploy of a deployed
folder is refused with the fleet that runs it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES / "agents", tmp_path / "fleet" / "agents")
    shutil.copytree(EXAMPLES / "agent-folder", tmp_path / "fleet" / "agent-folder")
    return tmp_path / "fleet" / "agent-folder"


def test_deploy_names_the_skipped_agents_and_refuses_a_second_deploy(
    shipyard: Shipyard, folder: Path
) -> None:
    done = shipyard("agents", "deploy", str(folder), "--json")
    assert done.returncode == 0, done.stderr
    fleet = json.loads(done.stdout)  # the notes go to stderr: --json stays one document
    assert sorted(unit["name"] for unit in fleet["units"]) == ["maps", "weather"]
    skipped = [line for line in done.stderr.splitlines() if line.startswith("skipped")]
    assert skipped == [
        f"skipped (invalid) broken: {folder}/broken/agent.yaml: "
        "port should be a number or 'auto', not 'eighty'"
    ], done.stderr

    again = shipyard("agents", "deploy", str(folder))
    assert again.returncode != 0, again.stdout
    assert f"already deployed, in {fleet['id']}" in again.stderr, again.stderr
    assert "agents undeploy" in again.stderr and "Traceback" not in again.stderr
    listed = shipyard("list", "--active", "--json")
    assert [row["id"] for row in json.loads(listed.stdout)] == [fleet["id"]]
    assert shipyard("agents", "undeploy", str(folder)).returncode == 0


def test_a_folder_of_invalid_agents_only_names_them(shipyard: Shipyard, folder: Path) -> None:
    for name in ("maps", "weather"):
        shutil.rmtree(folder / name)
    done = shipyard("agents", "deploy", str(folder))
    assert done.returncode != 0
    assert "no valid agent in" in done.stderr, done.stderr
    assert "broken: " in done.stderr and "not 'eighty'" in done.stderr, done.stderr
