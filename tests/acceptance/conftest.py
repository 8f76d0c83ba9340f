"""Acceptance tests drive the installed ``shipyard`` command as a user would: a subprocess."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

Shipyard = Callable[..., subprocess.CompletedProcess[str]]


def shipyard_executable() -> str:
    beside_python = Path(sys.executable).with_name("shipyard")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("shipyard")
    if found is None:
        pytest.fail("the shipyard command is not installed (run scripts/setup.sh)")
    return found


@pytest.fixture(autouse=True)
def through_a_server(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """With ``SHIPYARD_SERVER_CHECK=1`` (``make test``'s third pass) every command of the test
    goes through a real ``shipyard serve`` of the test's home (tests/serving.py): the proof
    that the CLI works against a server with the same commands and output (docs/server.md).
    A test that cannot is marked ``local_only`` with its reason."""
    if os.environ.get("SHIPYARD_SERVER_CHECK") != "1":
        yield
        return
    marker = request.node.get_closest_marker("local_only")
    if marker is not None:
        pytest.skip(f"not through a server: {marker.args[0]}")
    from tests.serving import served

    with served(tmp_path / "home", cwd=tmp_path) as server:
        monkeypatch.setenv("SHIPYARD_SERVER", server.url)
        yield


@pytest.fixture
def shipyard(tmp_path: Path) -> Iterator[Shipyard]:
    executable = shipyard_executable()

    def run(*args: str, timeout: float = 60, **kwargs: object) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
        return subprocess.run(
            [executable, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=tmp_path,
            check=False,
            **kwargs,  # type: ignore[arg-type]
        )

    yield run
    # Whatever a failed test left running in the background is stopped here.
    import shipyard

    leftovers = shipyard.connect(tmp_path / "home")
    if (tmp_path / "home" / "state.db").exists():
        for summary in leftovers.list_executions(active_only=True):
            with contextlib.suppress(Exception):
                leftovers.stop(summary.id, force=True)
    leftovers.close()
