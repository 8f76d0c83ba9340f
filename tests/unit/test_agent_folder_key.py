"""The key of an agent folder: told apart by its resolved path, within a name's 64 characters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shipyard.agents import DiscoveredAgent, folder_fleet_name, skipped_lines
from shipyard.spec.models import NAME_PATTERN


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("/a/agent-folder", "/b/agent-folder"),
        ("/srv/agents", "/srv/agents/agents"),
        ("/x/" + "n" * 200, "/y/" + "n" * 200),
    ],
)
def test_two_folders_of_one_base_name_get_two_fleet_names(one: str, other: str) -> None:
    assert folder_fleet_name(Path(one)) != folder_fleet_name(Path(other))


@pytest.mark.parametrize(
    "folder", ["/a/agent-folder", "/a/" + "n" * 200, "/a/ünïcode folder!", "/a/..."]
)
def test_the_fleet_name_is_a_valid_execution_name(folder: str) -> None:
    name = folder_fleet_name(Path(folder))
    assert re.match(NAME_PATTERN, name) and len(name) <= 40, name  # room for .<agent>


def test_skipped_lines_name_each_invalid_agent_with_its_problem() -> None:
    found = [
        DiscoveredAgent("ok", "/f/ok", "/f/ok/agent.toml", "discovered"),
        DiscoveredAgent("bad", "/f/bad", "/f/bad/agent.yaml", "invalid", "it needs a 'command'"),
    ]
    assert skipped_lines(found) == ["bad: /f/bad/agent.yaml: it needs a 'command'"]
