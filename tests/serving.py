"""A real ``shipyard serve`` in a subprocess, on a free 127.0.0.1 port, for tests.

``--port 0`` lets the kernel pick the port; the server prints its URL on its first line, and
it is ready once ``/health`` answers. Stopped with SIGTERM (uvicorn's graceful shutdown), then
SIGKILL if it lingers; what it wrote to stderr is kept for a failing test's report.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Served:
    url: str
    home: Path
    process: subprocess.Popen[str]
    log: Path

    @property
    def token(self) -> str:
        return (self.home / "server.token").read_text().strip()


def _executable() -> str:
    beside = Path(sys.executable).with_name("shipyard")
    return str(beside) if beside.exists() else "shipyard"


@contextlib.contextmanager
def served(
    home: Path, *, cwd: Path | None = None, timeout: float = 30.0, args: tuple[str, ...] = ()
) -> Iterator[Served]:
    """``shipyard serve`` of ``home`` on a free port, with ``args`` (more flags) added."""
    log = home.parent / f"{home.name}-server.log"
    home.parent.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    env |= {"SHIPYARD_HOME": str(home), "NO_COLOR": "1"}
    for kept in ("SHIPYARD_SUPERVISORS_DIR", "SHIPYARD_BASE_PORT"):  # the test's (conftest.py)
        if kept in os.environ:
            env[kept] = os.environ[kept]
    with open(log, "w") as errors:
        process = subprocess.Popen(
            [_executable(), "serve", "--port", "0", "--home", str(home), *args],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=env,
            cwd=cwd or home.parent,
            start_new_session=True,  # a Ctrl-C of the test run is not the server's
        )
    try:
        url = _url(process, log)
        _wait_healthy(url, process, log, timeout)
        yield Served(url, home, process, log)
    finally:
        _stop(process)


def _url(process: subprocess.Popen[str], log: Path) -> str:
    assert process.stdout is not None
    first = process.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+", first)
    if found is None:
        process.wait(timeout=10)
        raise AssertionError(f"the server did not start: {first!r}\n{log.read_text()}")
    return found.group(0)


def _wait_healthy(url: str, process: subprocess.Popen[str], log: Path, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        time.sleep(0.02)
    raise AssertionError(f"the server did not answer /health in {timeout} s: {log.read_text()}")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()
