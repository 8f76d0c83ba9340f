"""ATOLL agent files mapped onto Shipyard services (shipyard.formats.atoll): the real upstream
files (tests/fixtures/seed-formats/atoll), each ATOLL key's mapping as a table, the start
command template, and deployment_servers.json."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from shipyard.agents import discover, server_settings, shown_command
from shipyard.errors import ShipyardError
from shipyard.formats.atoll import (
    Mapped,
    ServerSettings,
    Template,
    map_agent,
    read_servers,
)
from shipyard.spec.models import ServiceSpec

ATOLL = Path(__file__).resolve().parents[1] / "fixtures" / "seed-formats" / "atoll"
FOLDER = Path("/agents/one")
FILE = FOLDER / "agent.toml"


def _map(text: str, settings: ServerSettings | None = None, command: str | None = None) -> Mapped:
    template = Template(command, "--command") if command is not None else None
    return map_agent(
        tomllib.loads(text),
        folder=FOLDER,
        file=FILE,
        settings=settings or ServerSettings(),
        command=template,
    )


def test_the_three_real_agents_are_named_by_their_files() -> None:
    found = discover(ATOLL)
    assert [(a.name, a.state, Path(a.file).parent.name) for a in found] == [
        ("GhidraAgent", "discovered", "docs-example"),
        ("GhidraAgent", "discovered", "ghidra_agent"),
        ("GhidraATOLL", "discovered", "ghidra_agent.example"),
    ]
    commands = {Path(a.file).parent.name: shown_command(a.service) for a in found}
    assert commands == {
        "docs-example": "python -m atoll --server --port {port} --agent agent.toml",
        "ghidra_agent": "python -m atoll --server --port {port} --agent agent.toml",
        "ghidra_agent.example": "python -m atoll --server --port {port} --agent agent.json",
    }
    ghidra = found[1]
    # [deployment] over the folder's deployment_servers.json (restart_on_failure, 3 restarts).
    assert ghidra.service["restart"] == {
        "policy": "on-failure",
        "max_restarts": 3,
        "backoff": 5.0,
        "max_backoff": 5.0,
    }
    assert ghidra.service["health"] == {"tcp": True, "start_interval": "0.5s", "interval": 30.0}
    assert ghidra.metadata["version"] == "2.0.0" and "capabilities" in ghidra.metadata
    assert found[2].metadata["module"] == "ghidra_agent"
    for agent in found:
        ServiceSpec.model_validate(agent.service)


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ('[agent]\nname = "a"\n[deployment]\nport = 0\n', "port", "auto"),
        ('[agent]\nname = "a"\n[deployment]\nport = 9100\n', "port", 9100),
        ('[agent]\nname = "a"\n[deployment]\nauto_restart = false\n', "restart", {"policy": "no"}),
        (
            '[agent]\nname = "a"\n[deployment]\nauto_restart = true\nmax_restarts = 0\n',
            "restart",
            {"policy": "on-failure", "max_restarts": 0},
        ),
        (
            '[agent]\nname = "a"\n[deployment]\nrestart_delay = 2.5\n',
            "restart",
            {"backoff": 2.5, "max_backoff": 2.5},
        ),
        ('[agent]\nname = "a"\ndescription = "d"\n', "description", "d"),
        ('[agent]\nname = "a"\n', "workdir", str(FOLDER)),
        # A Shipyard service key written in the ATOLL file wins over the mapping.
        ('env = {A = "1"}\n[agent]\nname = "a"\n', "env", {"A": "1"}),
        ('[agent]\nname = "a"\n[health]\nhttp = "/health"\n', "health", {"http": "/health"}),
    ],
)
def test_each_atoll_key_maps_onto_the_service(text: str, key: str, expected: Any) -> None:
    mapped = _map(text)
    assert mapped.service.get(key) == expected, mapped.service
    ServiceSpec.model_validate(mapped.service)


@pytest.mark.parametrize(
    ("text", "note"),
    [
        ('[agent]\nname = "a"\n[llm]\nmodel = "m"\n', "[llm] model: agent-internal"),
        ('[agent]\nname = "a"\n[mcp_servers.g]\ntype = "stdio"\n', "[mcp_servers] g: "),
        ('[agent]\nname = "a"\n[sub_agents.s]\nurl = "u"\n', "[sub_agents] s: remote child"),
        ('[agent]\nname = "a"\n[resources]\ncpu_limit = 2.0\n', "[resources] cpu_limit: no equiv"),
        ('[agent]\nname = "a"\n[dependencies]\npython = "3"\n', "[dependencies] python: not map"),
        ('[agent]\nname = "a"\nversion = "1"\n', "[agent] version: kept as metadata"),
        ('[agent]\nname = "a"\nicon = "x"\n', "[agent] icon: not ATOLL keys"),
        ('[agent]\nname = "a"\n[deployment]\ngpus = 1\n', "[deployment] gpus: not ATOLL keys"),
        ('[agent]\nname = "a"\n[extra]\nx = 1\n', "extra: not ATOLL or Shipyard keys"),
        ('[agent]\nname = "a"\n', "command: none in the file: ATOLL's start command"),
        ('[agent]\nname = "my agent"\n', "'my agent' is not a valid Shipyard unit name"),
        ("[agent]\n", "[agent].name: missing; named after its folder"),
    ],
)
def test_what_shipyard_does_not_map_is_named(text: str, note: str) -> None:
    notes = _map(text).notes
    assert any(note in line for line in notes), notes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[agent]\nname = "a"\n[deployment]\nport = "x"\n', "port should be 0 or 'auto'"),
        ('[agent]\nname = "a"\n[deployment]\nauto_restart = "yes"\n', "true or false"),
        ('[agent]\nname = "a"\n[deployment]\nmax_restarts = -1\n', "0 or more"),
        ('[agent]\nname = "a"\n[deployment]\nrestart_delay = "5s"\n', "should be seconds"),
        ("[agent]\nname = 3\n", "[agent].name should be a non-empty string"),
        ('command = "x"\n[agent]\nname = "a"\n[deployment]\ncommand = "y"\n', "given twice"),
    ],
)
def test_bad_atoll_values_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=r".*" + message.replace("[", r"\[").replace("]", r"\]")):
        _map(text)


def test_the_name_is_made_a_valid_unit_name() -> None:
    assert _map('[agent]\nname = "Ghidra Agent (v2)"\n').name == "Ghidra-Agent--v2"
    assert _map("[agent]\n").name == "one"  # the folder's


@pytest.mark.parametrize(
    ("template", "port", "argv"),
    [
        ("run {name} --port {port}", 9000, ["run", "a", "--port", "9000"]),
        ("run {folder}/x {file}", None, ["run", "/agents/one/x", "agent.toml"]),
        ("run '{name} two' {{literal}}", 1, ["run", "a two", "{literal}"]),
        (
            "run --port={port} {{x}}",
            None,
            [sys.executable, "-m", "shipyard.portexec", "run", "--port={port}", "{lb}x{rb}"],
        ),
    ],
)
def test_the_command_template_fills_its_placeholders(
    template: str, port: int | None, argv: list[str]
) -> None:
    text = '[agent]\nname = "a"\n' + (f"[deployment]\nport = {port}\n" if port else "")
    assert _map(text, command=template).service["run"] == argv


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("run {nope}", r"unknown placeholder \{nope\}"),
        ("run {port:5}", r"unknown placeholder \{port:5\}"),
        ("run {}", r"unknown placeholder \{\}"),
        ("run {port", "expected '}'"),
        ("run 'open", "cannot be split into words"),
        ("", "the command is empty"),
    ],
)
def test_a_bad_command_template_is_a_clear_error(template: str, message: str) -> None:
    with pytest.raises(ShipyardError, match=message) as raised:
        Template(template, "--command")
    assert raised.value.message.startswith("--command: ")


def test_the_file_command_overrides_the_command_option() -> None:
    text = '[agent]\nname = "a"\n[deployment]\nport = 7\ncommand = ["own", "{port}"]\n'
    assert _map(text, command="other {port}").service["run"] == ["own", "7"]
    assert _map('[agent]\nname = "a"\n', command="other").service["run"] == ["other"]


def test_deployment_servers_settings() -> None:
    settings = read_servers(ATOLL / "deployment_servers.json")
    assert (settings.base_port, settings.max_agents) == (8100, 10)
    assert settings.restart == {"policy": "on-failure", "max_restarts": 3}
    assert settings.health_interval == 30.0
    unmapped = {note.split(":")[0] for note in settings.notes if "no equivalent" in note}
    assert unmapped == {"enabled", "host", "api_port", "remote_servers"}
    # The server's restart is every agent's, unless the agent file says otherwise.
    mapped = _map('[agent]\nname = "a"\n[deployment]\nmax_restarts = 1\n', settings)
    assert mapped.service["restart"] == {"policy": "on-failure", "max_restarts": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{\n  "base_port": 8100,\n  "max_agents": ten\n}',
            r"servers.json:3:17: this is not valid JSON",
        ),
        ('{"base_port": 70000}', "base_port should be a port"),
        ('{"max_agents": 0}', "max_agents should be 1 or more"),
        ('{"restart_on_failure": "yes"}', "restart_on_failure should be true or false"),
        ("[1, 2]", "is a JSON object"),
    ],
)
def test_bad_deployment_servers_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "servers.json"
    path.write_text(text)
    with pytest.raises(ShipyardError, match=message):
        read_servers(path)
    with pytest.raises(ShipyardError, match="is not a file"):
        server_settings(tmp_path, tmp_path / "missing.json")


def test_portexec_runs_the_command_with_the_port_in_its_place() -> None:
    argv = [sys.executable, "-c", "import sys; print(sys.argv[1:])", "--port={port}", "{{x}}"]
    argv.append("{lb}y{rb}")  # the braces a command template writes (no "{{" for the spec)
    done = subprocess.run(
        [sys.executable, "-m", "shipyard.portexec", *argv],
        env={**os.environ, "PORT": "8123"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['--port=8123', '{x}', '{y}']"
