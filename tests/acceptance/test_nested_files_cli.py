"""JSON and TOML nested thousands of levels deep, given to each command that reads another
tool's file (Mitosis, ATOLL, TOML given to validate), through the installed CLI: refused with
"nested too deeply" at the file and a non-zero exit, never a RecursionError traceback
(Python's json and tomllib recurse once per level). ``tasks submit`` and ``suite create``
are given a closed loopback port as their server: the file must be refused before it is
asked."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.acceptance.conftest import shipyard_executable

pytestmark = pytest.mark.local_only("each command is given its own (closed) server or none")

DEEP = 5000


def _closed_port() -> int:
    """A loopback port nothing listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SHIPYARD_SERVER"}
    env.update(SHIPYARD_HOME=str(tmp_path / "home"), NO_COLOR="1")
    if args[0] in ("tasks", "suite"):  # they talk to a coordinator: one that is not there
        env["SHIPYARD_SERVER"] = f"http://127.0.0.1:{_closed_port()}"
    return subprocess.run(
        [shipyard_executable(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )


@pytest.fixture
def deep(tmp_path: Path) -> Path:
    (tmp_path / "deep.json").write_text("[" * DEEP, encoding="utf-8")
    (tmp_path / "deep.toml").write_text("a = " + "[" * DEEP + "\n", encoding="utf-8")
    (tmp_path / "agents" / "one").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize(
    ("command", "language"),
    [
        (("import", "--format", "mitosis", "deep.json"), "JSON"),
        (("import", "deep.toml"), "TOML"),
        (("tasks", "submit", "--file", "deep.json"), "JSON"),
        (("suite", "create", "deep.json"), "JSON"),
        (("manager", "--config", "deep.toml"), "TOML"),
        (("agents", "discover", "agents", "--servers", "deep.json"), "JSON"),
        (("validate", "deep.toml"), "TOML"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else value,
)
def test_a_deeply_nested_file_is_refused_at_the_file(
    deep: Path, command: tuple[str, ...], language: str
) -> None:
    done = _run(deep, *command)
    said = done.stdout + done.stderr
    assert "Traceback" not in said, f"{command}: a traceback:\n{said[-2000:]}"
    assert done.returncode != 0, f"{command} accepted a file {DEEP} levels deep:\n{said}"
    file = command[-1] if command[-1].startswith("deep") else "deep.json"
    assert f"{file}: this {language} is nested too deeply" in said, said
    assert "cannot reach" not in said, f"{command} asked the server before reading:\n{said}"


def test_an_agent_file_nested_deeply_is_that_agent_s_problem(deep: Path) -> None:
    (deep / "agents" / "one" / "agent.toml").write_text(
        "name = 'one'\nport = " + "[" * DEEP + "\n", encoding="utf-8"
    )
    done = _run(deep, "agents", "discover", "agents")
    said = done.stdout + done.stderr
    assert "Traceback" not in said, said[-2000:]
    assert "this TOML is nested too deeply" in said, said
