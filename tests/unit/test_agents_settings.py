"""The server's agents settings (agents by name): agents_dir and max_agents from the TOML file,
the environment and flags, and the values refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import ShipyardError
from shipyard.server.settings import load_settings


def test_agents_settings_from_each_layer(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(f'[server]\nagents_dir = "{tmp_path}"\nmax_agents = 4\n')
    from_file = load_settings(config, {}, {})
    assert (from_file.agents_dir, from_file.max_agents) == (tmp_path, 4)
    environ = {"SHIPYARD_MAX_AGENTS": "3", "SHIPYARD_AGENTS_DIR": str(tmp_path)}
    assert load_settings(config, environ, {}).max_agents == 3
    assert load_settings(config, environ, {"max_agents": 2}).max_agents == 2


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SHIPYARD_MAX_AGENTS": "0"}, "max_agents 0 is below 1"),
        ({"SHIPYARD_MAX_AGENTS": "ten"}, "is not a whole number"),
        ({"SHIPYARD_AGENTS_DIR": "/nonexistent/agents"}, "is not a folder"),
    ],
)
def test_bad_agents_settings_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ShipyardError, match=message):
        load_settings(None, environ, {})
