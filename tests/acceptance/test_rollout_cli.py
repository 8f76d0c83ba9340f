"""shipyard rollout through the installed CLI: a canary started with --env and --wait is
promoted, status shows it (text and --json), and mistakes are told without a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.acceptance.conftest import shipyard_executable
from tests.integration.test_rollout import SERVER

Cli = Callable[..., subprocess.CompletedProcess[str]]

SPEC = """
name: canary-cli
services:
  web:
    run: [python, server.py]
    port: auto
    env: {VERSION: '1'}
    health: {http: /health, interval: 0.1s}
    stop: {timeout: 2s}
    rollout: {steps: [100], interval: 0.5s, min_requests: 1}
"""


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    executable = shipyard_executable()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
        return subprocess.run(
            [executable, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=tmp_path,
            check=False,
        )

    return run


@pytest.fixture
def fleet(tmp_path: Path, cli: Cli) -> Iterator[tuple[str, int]]:
    (tmp_path / "server.py").write_text(SERVER, encoding="utf-8")
    (tmp_path / "spec.yaml").write_text(textwrap.dedent(SPEC).lstrip("\n"), encoding="utf-8")
    done = cli("up", "spec.yaml", "--detach", "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    port = next(u["port"] for u in status["units"] if u["name"] == "web")
    yield status["id"], port
    cli("down", status["id"])


def test_start_wait_promotes_and_status_tells_it(
    cli: Cli, fleet: tuple[str, int], tmp_path: Path
) -> None:
    import httpx

    execution_id, port = fleet
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    command = [shipyard_executable(), "rollout", "start", execution_id, "web"]
    with httpx.Client(trust_env=False) as client:
        # the one step needs a request in its window: traffic while the rollout runs
        process = subprocess.Popen(
            [*command, "-e", "VERSION=2", "--wait", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        while process.poll() is None:
            client.get(f"http://127.0.0.1:{port}/")
        out, err = process.communicate()
    assert process.returncode == 0, err
    view = json.loads(out)[0]
    assert (view["state"], view["changes"]) == ("promoted", {"VERSION": "2"})
    shown = cli("rollout", "status", execution_id)
    assert shown.returncode == 0 and "web: promoted" in shown.stdout, shown
    assert "promote: at 100%: KPIs held" in shown.stdout, shown.stdout


def test_mistakes_are_told_without_a_traceback(cli: Cli, fleet: tuple[str, int]) -> None:
    execution_id, _ = fleet
    bad = cli("rollout", "start", execution_id, "web", "--env", "VERSION")
    assert bad.returncode != 0 and "--env 'VERSION' is not KEY=VALUE" in bad.stderr, bad
    none = cli("rollout", "abort", execution_id, "web")
    assert none.returncode != 0 and "no rollout of 'web' is running" in none.stderr, none
    for result in (bad, none):
        assert "Traceback" not in result.stderr
    listed = cli("rollout", "status", execution_id, "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["state"] == "none"
