"""Detection of other tools' files from their content (shipyard.formats.detect): a table."""

from __future__ import annotations

import pytest

from shipyard.formats.detect import detect_text

CASES = [
    ("processes:\n  a:\n    command: echo\n", "process-compose"),
    ('{"processes": {"a": {"entrypoint": ["echo"]}}}', "process-compose"),
    ("name: x\npkgs:\n  - pkg_type: builtin.ior\n", "jarvis"),
    ("config:\n  name: g\n  pkgs: []\nvars: {}\n", "jarvis"),
    ("experiments:\n  - config: {}\n", "jarvis"),
    ("job: {name: j}\nagents:\n  - id: a\n", "a2a"),
    ('{"group_name": "g", "exec_hooks": {}}', "mitosis"),
    ('{"spec": {"args": ["echo"]}}', "mitosis"),
    ('{"name": "A", "module": "m", "class": "C"}', "atoll"),
    ('{"base_port": 8100, "max_agents": 10}', "atoll"),
    ('[agent]\nname = "GhidraAgent"\n', "atoll"),
    ('[coordinator]\nbind = "127.0.0.1:5000"\n', "mitosis"),
    ('coordinator_url = "https://c"\ntags = ["gpu"]\n', "mitosis"),
    ("[tool]\nx = 1\n", "toml"),
    ("name: x\nsteps:\n  a: {run: [true]}\n", "shipyard"),
    # A Shipyard spec that happens to have a 'processes' key is still Shipyard's (steps first).
    ("name: x\nsteps:\n  a: {run: [true]}\nprocesses: {a: {command: x}}\n", "shipyard"),
    ("processes:\n  a: {description: no command}\n", "shipyard"),
    ("name: [unclosed\n", "shipyard"),
    ("", "shipyard"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_detection(text: str, expected: str) -> None:
    assert detect_text(text).format == expected, text
