"""An A2A job with remote agents, through the installed CLI, against a real sshd (tests/sshd.py:
127.0.0.1 and 127.0.0.2 on one port, a generated key; issue 17 §2).

The job file, written by the test in agentic-deployment-engine's format, has a hub here and two
agents with ``deployment.target: remote`` on the server's two addresses (its ssh ``port``,
``user``, ``ssh_key``, ``python``, ``workdir``): ``shipyard up -d job.yaml`` starts them through
the ssh runner, probes them at their host's address, wires the hub to them by their hosts' URLs,
and ``shipyard down`` leaves nothing of them on the host.

The remote agents' module lives only in their ``workdir`` (the "remote side"), the hub's only
in the job file's folder. A remote agent re-executes itself without ``SHIPYARD_EXECUTION_ID``,
so that the engine's final sweep of marked processes (which would find it here, not on a real
remote host) cannot stop it in the ssh runner's place.

An A2A file cannot say how its hosts' keys are checked: that is the user's ssh_config. OpenSSH
reads ``~/.ssh/config`` from the passwd entry (not ``$HOME``), so the test puts an ``ssh`` first
on PATH that adds ``-F`` with the server's host-key settings, in the server's folder (its end
kills every client of that folder)."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard
from tests.sshd import ADDRESSES, SshServer, sshd

#: A tiny agent in the A2A deployer's style: its card at /.well-known/agent-configuration and
#: /health (name = AGENT_NAME, as upstream's agents set it from config.name), listening on its
#: host's address (that of SHIPYARD_SERVICE_URL), the URLs it talks to from CONNECTED_AGENTS.
AGENT = '''"""A tiny A2A-style agent (written by tests/acceptance/test_a2a_remote.py)."""

import json
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

if "SSH_CONNECTION" in os.environ and "SHIPYARD_EXECUTION_ID" in os.environ:
    # On the "remote" host: only the ssh runner may stop it (see the test's doc).
    env = {k: v for k, v in os.environ.items() if k != "SHIPYARD_EXECUTION_ID"}
    os.execve(sys.executable, [sys.executable, "-m", __spec__.name], env)

CONNECTED = [u for u in os.environ.get("CONNECTED_AGENTS", "").split(",") if u]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path not in ("/.well-known/agent-configuration", "/health"):
            self.send_error(404)
            return
        card = {
            "name": os.environ.get("AGENT_NAME", ""),
            "agent_id": os.environ.get("AGENT_ID", ""),
            "url": os.environ.get("SHIPYARD_SERVICE_URL", ""),
            "connected": CONNECTED,
            "remote": os.environ.get("SSH_CONNECTION", ""),
            "cwd": os.getcwd(),
        }
        body = json.dumps(card).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    host = urllib.parse.urlsplit(os.environ["SHIPYARD_SERVICE_URL"]).hostname
    print("CONNECTED_AGENTS=" + ",".join(CONNECTED), flush=True)
    ThreadingHTTPServer((host, int(os.environ["AGENT_PORT"])), Handler).serve_forever()
'''

#: The job: a hub here, a spoke on each of the server's addresses.
JOB = """job:
  name: remote-agents
  version: "0.1.0"
  description: A hub here and two agents on remote hosts over ssh
agents:
  - id: hub
    type: Tiny
    module: {hub}
    config: {{port: auto, name: Hub}}
  - id: remote-a
    type: Tiny
    module: {remote}
    config: {{port: auto, name: Remote A}}
    deployment:
      target: remote
      host: {address_a}
      port: {ssh_port}
      user: {user}
      ssh_key: {key}
      python: {python}
      workdir: {workdir}
  - id: remote-b
    type: Tiny
    module: {remote}
    config: {{port: auto, name: Remote B}}
    deployment:
      target: remote
      host: {address_b}
      port: {ssh_port}
      user: {user}
      ssh_key: {key}
      python: {python}
      workdir: {workdir}
topology:
  type: hub-spoke
  hub: hub
  spokes: [remote-a, remote-b]
deployment:
  strategy: staged
  timeout: 30
  health_check: {{enabled: true, interval: 1, retries: 120}}
  ssh: {{timeout: 5}}
"""

#: A remote agent on a port nothing listens on.
UNREACHABLE = """job:
  name: unreachable
  description: One agent on a host that does not answer
agents:
  - id: lost
    module: {remote}
    config: {{port: auto, name: Lost}}
    deployment:
      target: remote
      host: 127.0.0.1
      port: {closed}
      user: {user}
      ssh_key: {key}
      python: {python}
      workdir: {workdir}
deployment:
  timeout: 20
  ssh: {{timeout: 5}}
"""


@pytest.fixture(scope="module")
def server() -> Iterator[SshServer]:
    with sshd() as running:
        yield running


@pytest.fixture(scope="module", autouse=True)
def known_hosts(server: SshServer) -> Iterator[None]:
    """The user's ssh_config for the server's hosts (see the module's doc): their host key is
    not checked (it is generated per run), nothing is written to a known_hosts file. Module-wide
    and set first, so that a ``shipyard serve`` of SHIPYARD_SERVER_CHECK=1 has it too."""
    config = server.folder / "client.ssh_config"
    config.write_text(
        f"Host {' '.join(ADDRESSES.values())}\n"
        "  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n"
        "  LogLevel ERROR\n"
    )
    real = shutil.which("ssh")
    assert real is not None, "the sshd fixture checked for an ssh client"
    bin_dir = server.folder / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec {real} -F {config} "$@"\n')
    wrapper.chmod(0o755)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        yield


def agents(module: str) -> list[int]:
    """Live processes running ``python -m module`` (the remote check of tests/acceptance/
    test_ssh_cli.py: whole arguments of /proc/PID/cmdline, zombies left out; the ssh client,
    whose script names the module inside one argument, is not one)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")[:-1]
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                state = stat.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in (b"Z", b"X") and argv[1:3] == [b"-m", module.encode()]:
            found.append(int(entry.name))
    return found


def wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def card(url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/.well-known/agent-configuration", timeout=5) as answer:
        found: dict[str, object] = json.load(answer)
    return found


def write_job(tmp_path: Path, template: str, server: SshServer) -> tuple[Path, Path, str]:
    """The job file (in ``job/``, with the hub's module) and the remote workdir (with the
    remote agents' module); the remote module's name is unique to the test."""
    tag = uuid.uuid4().hex[:8]
    hub, remote = f"a2a_hub_{tag}", f"a2a_remote_{tag}"
    folder, workdir = tmp_path / "job", tmp_path / "remote"
    folder.mkdir()
    workdir.mkdir()
    (folder / f"{hub}.py").write_text(AGENT)
    (workdir / f"{remote}.py").write_text(AGENT)
    job = folder / "job.yaml"
    job.write_text(
        template.format(
            hub=hub,
            remote=remote,
            address_a=ADDRESSES["node1"],
            address_b=ADDRESSES["node2"],
            ssh_port=server.port,
            closed=server.closed_port,
            user=getpass.getuser(),
            key=server.key,
            python=sys.executable,
            workdir=workdir,
        )
    )
    return job, workdir, remote


def test_remote_agents_come_up_over_ssh_and_go_down(
    server: SshServer, shipyard: Shipyard, tmp_path: Path
) -> None:
    job, workdir, remote = write_job(tmp_path, JOB, server)
    up = shipyard("up", "-d", str(job), "--json", timeout=120)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        execution = json.loads(up.stdout)["id"]
        ps = shipyard("ps", execution, "--json")
        assert ps.returncode == 0, ps.stderr
        units = {u["name"]: u for u in json.loads(ps.stdout)}
        nodes = {name: unit["node"] for name, unit in units.items()}
        assert nodes == {"hub": None, "remote-a": "127.0.0.1", "remote-b": "127.0.0.2"}, (
            "ps --json's node is each agent's host"
        )
        for unit in units.values():
            assert unit["health"] == "healthy", unit
        urls = {name: unit["url"] for name, unit in units.items()}
        assert urls["remote-b"].startswith("http://127.0.0.2:"), (
            f"ps shows remote-b's URL off its host's address: {urls}"
        )
        for name in ("remote-a", "remote-b"):
            shown = card(urls[name])
            assert shown["name"] == f"Remote {name[-1].upper()}", "config.name as AGENT_NAME"
            assert shown["url"] == urls[name], "its URL is built from its host"
            assert shown["remote"], f"{name} was not started over ssh: {shown}"
            assert shown["cwd"] == str(workdir), "deployment.workdir on the host"
        hub = card(urls["hub"])
        assert hub["name"] == "Hub" and not hub["remote"], hub
        connected = hub["connected"]
        assert isinstance(connected, list), hub
        assert set(connected) == {urls["remote-a"], urls["remote-b"]}, (
            f"the hub's CONNECTED_AGENTS are not the remote agents' URLs: {hub}"
        )
        log = shipyard("logs", execution, "hub").stdout
        logged = [
            line.split("CONNECTED_AGENTS=", 1)[1]
            for line in log.splitlines()
            if "CONNECTED_AGENTS=" in line
        ]
        assert logged and set(logged[0].split(",")) == {urls["remote-a"], urls["remote-b"]}, (
            f"the hub's log: {log}"
        )
        assert len(agents(remote)) == 2, "one process per remote agent on the host"
        down = shipyard("down", execution, timeout=120)
        assert down.returncode == 0, down.stdout + down.stderr
        gone = wait_for(lambda: not agents(remote))
        assert gone, f"remote agents outlived shipyard down on the host: {agents(remote)}"
    finally:
        for pid in agents(remote):
            os.kill(pid, signal.SIGKILL)


def test_an_unreachable_remote_host_is_named(
    server: SshServer, shipyard: Shipyard, tmp_path: Path
) -> None:
    job, _, remote = write_job(tmp_path, UNREACHABLE, server)
    try:
        up = shipyard("up", "-d", str(job), timeout=120)
        output = up.stdout + up.stderr
        assert up.returncode != 0, output
        named = f"ssh to host '127.0.0.1' (127.0.0.1, port {server.closed_port}) failed"
        assert named in output and "Connection refused" in output, (
            f"the unreachable host is not named: {output}"
        )
        assert "Traceback" not in output, output
        # Found when its ports are checked, before anything starts: the fleet's own reason
        # names the host (not a failed health probe after restarts), and no agent was started.
        status = json.loads(shipyard("status", "--json").stdout)
        assert status["state"] == "failed" and named in (status["reason"] or ""), (
            f"the fleet's reason does not name the unreachable host: {status['reason']}"
        )
        started = [u["name"] for u in status["units"] if u["attempts"]]
        assert started == [], f"services started although a host cannot be reached: {started}"
    finally:
        down = shipyard("down")
        assert down.returncode == 0 or "no fleet is running" in down.stderr, down.stderr
        for pid in agents(remote):
            os.kill(pid, signal.SIGKILL)
