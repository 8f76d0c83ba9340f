"""ATOLL agent folders as they are, through the installed command (issue 17, item 3): the real
upstream files (tests/fixtures/seed-formats/atoll) are discovered by ``[agent].name`` with
ATOLL's start command; an ATOLL agent.toml whose command is overridden to a small real HTTP
agent deploys healthy on the port its deployment_servers.json starts from, and undeploys; a
broken agent.toml is reported at its line as TOML; a bad ``--command`` is one clear error."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.request
from pathlib import Path

import pytest

from shipyard.engine.liveness import pid_alive
from tests.acceptance.conftest import Shipyard

REPO = Path(__file__).resolve().parents[2]
ATOLL = REPO / "tests" / "fixtures" / "seed-formats" / "atoll"
EXAMPLES = REPO / "examples"

#: A small agent that takes its port on the command line, as ATOLL's `--port P` does.
PORT_AGENT = """\
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = sys.argv[1:]
port, name = int(args[args.index("--port") + 1]), args[args.index("--name") + 1]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"agent": name, "port": port}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


print(f"{name} listening on {port}", flush=True)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def test_discover_names_the_real_agents_with_atolls_start_command(shipyard: Shipyard) -> None:
    done = shipyard("agents", "discover", str(ATOLL))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split()[:2] for line in done.stdout.splitlines() if not line.startswith(" ")]
    assert rows[1:] == [
        ["GhidraAgent", "discovered"],
        ["GhidraAgent", "discovered"],
        ["GhidraATOLL", "discovered"],
    ], done.stdout
    runs = [line.strip() for line in done.stdout.splitlines() if line.startswith("  runs: ")]
    assert runs == [
        "runs: python -m atoll --server --port {port} --agent agent.toml",
        "runs: python -m atoll --server --port {port} --agent agent.toml",
        "runs: python -m atoll --server --port {port} --agent agent.json",
    ], done.stdout
    # Nothing dropped silently: the sections and server keys Shipyard does not map are named.
    for named in ("[llm] model", "[mcp_servers] ghidramcp", "[sub_agents] decompiler-1",
                  "[resources] cpu_limit", "module/class: not mapped", "remote_servers: no "
                  "equivalent", "api_port: no equivalent", "restart_delay 5"):  # fmt: skip
        assert named in done.stdout, f"{named!r} not in:\n{done.stdout}"

    as_json = shipyard("agents", "discover", str(ATOLL), "--json")
    assert as_json.returncode == 0, as_json.stderr
    found = json.loads(as_json.stdout)
    assert [agent["name"] for agent in found] == ["GhidraAgent", "GhidraAgent", "GhidraATOLL"]
    assert found[1]["metadata"]["version"] == "2.0.0"
    assert found[2]["metadata"]["class"] == "GhidraAgent"
    assert found[1]["service"]["restart"]["max_restarts"] == 3
    assert "base_port 8100" in as_json.stderr  # the server's notes: stdout stays one document


@pytest.fixture
def deployable(tmp_path: Path) -> Path:
    """ATOLL's own ghidra_agent/agent.toml and legacy agent.json, each with a command added
    (the one thing a user writes), beside this machine's port range."""
    root = tmp_path / "atoll"
    shutil.copytree(EXAMPLES / "agents", root / "agents")
    (root / "port_agent.py").write_text(PORT_AGENT)
    toml = root / "ghidra_agent" / "agent.toml"
    toml.parent.mkdir(parents=True)
    # [deployment] is the file's last table: the line lands in it.
    toml.write_text(
        (ATOLL / "ghidra_agent" / "agent.toml").read_text()
        + 'command = "python3 {folder}/../port_agent.py --port {port} --name {name}"\n'
    )
    legacy = json.loads((ATOLL / "ghidra_agent.example" / "agent.json").read_text())
    legacy["command"] = ["python3", "{folder}/../agents/agent.py", "spoke", "{name}"]
    (root / "ghidra_agent.example").mkdir()
    (root / "ghidra_agent.example" / "agent.json").write_text(json.dumps(legacy))
    servers = json.loads((ATOLL / "deployment_servers.json").read_text())
    servers["base_port"] = _free_port()
    (root / "deployment_servers.json").write_text(json.dumps(servers))
    return root


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port if port < 60000 else 20000


def _get(port: int, path: str) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        body: dict[str, object] = json.loads(response.read())
    return body


def test_an_atoll_folder_deploys_healthy_and_undeploys(
    shipyard: Shipyard, deployable: Path
) -> None:
    base_port = json.loads((deployable / "deployment_servers.json").read_text())["base_port"]
    done = shipyard("agents", "deploy", str(deployable), "--json", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    fleet = json.loads(done.stdout)
    units = {unit["name"]: unit for unit in fleet["units"]}
    assert sorted(units) == ["GhidraATOLL", "GhidraAgent"], units
    assert {unit["health"] for unit in units.values()} == {"healthy"}, units
    ghidra = units["GhidraAgent"]
    assert ghidra["port"] >= base_port, (ghidra["port"], base_port)  # the server's base_port
    # {port} in the command is the port Shipyard gave it, {name} the [agent].name.
    assert _get(ghidra["port"], "/") == {"agent": "GhidraAgent", "port": ghidra["port"]}
    assert _get(units["GhidraATOLL"]["port"], "/ask")["topic"] == "GhidraATOLL"
    spec = next((deployable.parent / "home" / "agents").glob("*.yaml"))  # the fleet's spec
    assert "backoff: 5.0" in spec.read_text(), spec.read_text()  # [deployment].restart_delay

    down = shipyard("agents", "undeploy", str(deployable))
    assert down.returncode == 0, down.stderr
    assert not any(pid_alive(unit["pid"]) for unit in units.values() if unit["pid"])


def test_the_servers_max_agents_is_the_default_limit(shipyard: Shipyard, deployable: Path) -> None:
    servers = deployable / "deployment_servers.json"
    servers.write_text(json.dumps({**json.loads(servers.read_text()), "max_agents": 1}))
    done = shipyard("agents", "deploy", str(deployable))
    assert done.returncode != 0, done.stdout
    assert "more than max_agents (1)" in done.stderr, done.stderr
    other = deployable.parent / "settings.json"
    other.write_text(json.dumps({"max_agents": 5, "base_port": _free_port()}))
    listed = shipyard("agents", "discover", str(deployable), "--servers", str(other))
    assert listed.returncode == 0 and "max_agents 5" in listed.stdout, listed.stdout


def test_a_broken_agent_toml_is_reported_at_its_line_as_toml(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    folder = tmp_path / "atoll" / "broken"
    folder.mkdir(parents=True)
    (folder / "agent.toml").write_text('[agent]\nname = "Broken"\nversion "1.0"\n')
    done = shipyard("agents", "discover", str(tmp_path / "atoll"))
    assert done.returncode == 1, done.stdout
    assert f"{folder / 'agent.toml'}:3:9: this is not valid TOML: " in done.stdout, done.stdout
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("command", ["discover", "deploy"])
def test_an_unknown_placeholder_in_command_is_a_clear_error(
    shipyard: Shipyard, command: str
) -> None:
    done = shipyard("agents", command, str(ATOLL), "--command", "python3 agent.py {agent_port}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--command: unknown placeholder {agent_port}" in done.stderr, done.stderr
    assert "{name}, {folder}, {file}, {port}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
