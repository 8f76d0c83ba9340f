"""Secret parameters through the installed CLI: nothing it prints or writes holds the value."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.acceptance.conftest import shipyard_executable

Cli = Callable[..., subprocess.CompletedProcess[str]]

SPEC = """\
name: secret-cli
parameters:
  token: {secret: true}
steps:
  use:
    run: printf '%s|%s' "$SHIPYARD_PARAM_TOKEN" "$API_TOKEN" | sha256sum > got.txt
    shell: true
    env:
      API_TOKEN: "Bearer {{ token }}"
  after:
    run: ["sh", "-c", "test -e go"]
    needs: [use]
"""


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    executable = shipyard_executable()

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
        return subprocess.run(
            [executable, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**full, **(env or {})},
            cwd=tmp_path,
            check=False,
        )

    return run


def digest(secret: str) -> str:
    return hashlib.sha256(f"{secret}|Bearer {secret}".encode()).hexdigest()


def leaks(home: Path, secret: str) -> list[str]:
    traces = [secret.encode(), hashlib.sha256(secret.encode()).hexdigest().encode()]
    return [
        str(path.relative_to(home))
        for path in sorted(home.rglob("*"))
        if path.is_file() and any(trace in path.read_bytes() for trace in traces)
    ]


@pytest.mark.local_only(
    "a secret comes from the server's $SHIPYARD_PARAM_<NAME>: the client's environment "
    "does not cross (docs/server.md)"
)
def test_nothing_the_cli_shows_or_writes_holds_the_secret(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    (tmp_path / "go").touch()
    secret = f"pw-{secrets.token_hex(5)}"
    env = {"SHIPYARD_PARAM_TOKEN": secret}
    ran = cli("run", "spec.yaml", env=env)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "got.txt").read_text().split()[0] == digest(secret)
    outputs = {
        "run": ran,
        "plan": cli("plan", "spec.yaml", env=env),
        "plan --json": cli("plan", "spec.yaml", "--json", env=env),
        "status": cli("status", env=env),
        "status --json": cli("status", "--json", env=env),
        "list": cli("list", env=env),
        "list --json": cli("list", "--json", env=env),
        "logs": cli("logs", json.loads(cli("list", "--json").stdout)[0]["id"], env=env),
    }
    for command, result in outputs.items():
        assert result.returncode == 0, f"{command}: {result.stderr}"
        assert secret not in result.stdout + result.stderr, command
    assert '"token": "***"' in outputs["status --json"].stdout
    assert "token=***" in outputs["plan"].stdout
    assert leaks(tmp_path / "home", secret) == []


def test_a_missing_secret_says_how_to_give_it(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    result = cli("run", "spec.yaml")
    assert result.returncode != 0
    assert "secret parameter 'token' was not given" in result.stderr
    assert "SHIPYARD_PARAM_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_refuses_a_secret_on_a_command_line(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC.replace('"$SHIPYARD_PARAM_TOKEN"', "'{{ token }}'", 1))
    result = cli("validate", "spec.yaml")
    assert result.returncode != 0
    assert "spec.yaml:6:10: secret parameter 'token' is used in a command" in result.stdout
    assert '"$SHIPYARD_PARAM_TOKEN"' in result.stdout


@pytest.mark.local_only(
    "a secret comes from the server's $SHIPYARD_PARAM_<NAME>: the client's environment "
    "does not cross (docs/server.md)"
)
def test_detached_run_and_resume_take_the_secret_from_the_environment(
    cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    secret = f"pw-{secrets.token_hex(5)}"
    started = cli("run", "spec.yaml", "-d", "--json", env={"SHIPYARD_PARAM_TOKEN": secret})
    assert started.returncode == 0, started.stderr
    execution = json.loads(started.stdout)["id"]
    deadline = time.monotonic() + 60
    state = ""
    while state not in ("failed", "succeeded") and time.monotonic() < deadline:
        time.sleep(0.1)
        state = json.loads(cli("status", execution, "--json").stdout)["state"]
    assert state == "failed"  # 'after' needs the go file
    assert (tmp_path / "got.txt").read_text().split()[0] == digest(secret)
    (tmp_path / "go").touch()
    refused = cli("resume", execution)
    assert refused.returncode != 0
    assert "its value is never stored" in refused.stderr
    assert f"shipyard resume {execution}" in refused.stderr
    resumed = cli("resume", execution, "-q", env={"SHIPYARD_PARAM_TOKEN": secret})
    assert resumed.returncode == 0, resumed.stderr
    assert leaks(tmp_path / "home", secret) == []
