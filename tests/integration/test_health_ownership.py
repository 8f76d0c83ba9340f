"""Health tied to the unit (issue 8 item 12): a port answered by another process is not the
service being healthy. Real impostors — tiny HTTP servers on 127.0.0.1 in sessions of their
own — and real fleets."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.engine.ownership import port_ownership
from shipyard.models import ExecutionState
from tests.acceptance.conftest import shipyard_executable
from tests.conftest import SpecWriter
from tests.integration.test_lifecycle import wait_for

PY = sys.executable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def impostor_on(port: int, folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Another user's-style server on ``port``: not started by Shipyard, in its own session."""
    (folder / "imp").mkdir(exist_ok=True)
    server = subprocess.Popen(
        [PY, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=folder / "imp",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: answers(port) or server.poll() is not None)
        assert server.poll() is None, "the impostor could not bind its port"
        yield server
    finally:
        server.kill()
        server.wait()


def healthy_events(ops: Operations, execution_id: str, unit: str) -> int:
    return sum(
        1
        for _, e in ops.store.events(execution_id)
        if (e.action, e.unit) == ("service_healthy", unit)
    )


def test_a_port_taken_before_up_is_refused_before_anything_starts(
    tmp_path: Path, write_spec: SpecWriter
) -> None:
    port = free_port()
    spec = write_spec(
        f"""
        name: taken
        services:
          web: {{run: 'exec {PY} -m http.server --bind 127.0.0.1 $PORT', shell: true,
                port: {port}, health: {{http: /, interval: 0.1s}}}}
        """
    )
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / ".shipyard"), "NO_COLOR": "1"}
    with impostor_on(port, tmp_path) as impostor:
        up = subprocess.run(
            [shipyard_executable(), "up", "-d", str(spec)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert up.returncode != 0, f"up -d succeeded on a taken port:\n{up.stdout}{up.stderr}"
        assert f"port {port}" in up.stdout + up.stderr and "Traceback" not in up.stderr
        assert impostor.poll() is None and answers(port), "the impostor was touched"


@pytest.mark.slow
def test_a_service_that_dies_of_eaddrinuse_does_not_come_up_healthy(
    ops: Operations, tmp_path: Path, write_spec: SpecWriter
) -> None:
    """The port is free when `up` allocates it; the impostor takes it before the service starts
    (the service waits for a step the test lets finish). The impostor answers every probe; the
    service dies of EADDRINUSE. `up -d` must fail, saying so."""
    port = free_port()
    spec = write_spec(
        f"""
        name: stolen
        steps:
          gate:
            run: >-
              touch gate-running; for i in $(seq 1200); do [ -e go ] && exit 0; sleep 0.05; done;
              exit 1
            shell: true
        services:
          web:
            run: 'exec {PY} -m http.server --bind 127.0.0.1 $PORT'
            shell: true
            port: {port}
            health: {{http: /, interval: 0.1s}}
            restart: {{max_restarts: 1, backoff: 0.2s}}
            depends_on: [gate]
        """
    )
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / ".shipyard"), "NO_COLOR": "1"}
    up = subprocess.Popen(
        [shipyard_executable(), "up", "-d", str(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        wait_for(lambda: (tmp_path / "gate-running").exists() or up.poll() is not None, 60)
        with impostor_on(port, tmp_path) as impostor:
            (tmp_path / "go").touch()
            output, _ = up.communicate(timeout=90)
            assert up.returncode != 0, (
                f"up -d returned 0 with its port answered by another:\n{output}"
            )
            assert impostor.poll() is None and answers(port), "the impostor was touched"
    finally:
        if up.poll() is None:
            up.kill()
    assert "Traceback" not in output
    assert f"port {port}" in output, output
    assert "Address already in use" in output, output  # the service's last words are shown
    execution_id = ops.latest_fleet(active=False)
    status = ops.status(execution_id)
    web = status.unit("web")
    assert status.state == ExecutionState.FAILED
    assert web.health != "healthy"
    assert healthy_events(ops, execution_id, "web") == 0, "web was reported healthy"
    assert f"port {port}" in (web.reason or ""), web.reason


@pytest.mark.slow
def test_a_service_whose_process_died_is_not_healthy_while_an_impostor_answers(
    ops: Operations, tmp_path: Path, write_spec: SpecWriter
) -> None:
    """web is healthy on its port; its process is killed; an impostor takes the port; web's
    next start stays alive without listening. Every probe gets an answer — never web's."""
    port = free_port()
    spec = write_spec(
        f"""
        name: orphaned
        services:
          web:
            run: >-
              if [ -e started-once ]; then exec sleep 60; fi;
              touch started-once; exec {PY} -m http.server --bind 127.0.0.1 $PORT
            shell: true
            port: {port}
            health: {{http: /, interval: 0.1s}}
            restart: {{backoff: 0.2s}}
        """
    )
    status = ops.up(spec, detach=True)
    assert ops.wait_healthy(status.id, timeout=60).state == ExecutionState.RUNNING
    first = ops.status(status.id).unit("web").pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    with impostor_on(port, tmp_path) as impostor:
        deadline = time.monotonic() + 60
        while True:
            actions = [(e.action, e.unit) for _, e in ops.store.events(status.id)]
            refused = ("service_port_not_its_own", "web") in actions
            if refused or healthy_events(ops, status.id, "web") > 1:
                break
            assert time.monotonic() < deadline, f"web neither refused nor healthy: {actions}"
            time.sleep(0.05)
        time.sleep(0.5)  # several more probes, all answered by the impostor
        web = ops.status(status.id).unit("web")
        assert healthy_events(ops, status.id, "web") == 1, "healthy on the impostor's answer"
        assert web.health != "healthy" and web.pid != first
        event = next(
            e for _, e in ops.store.events(status.id) if e.action == "service_port_not_its_own"
        )
        assert f"pid {impostor.pid}" in str(event.data.get("holder")), event.data
        ops.stop(status.id, grace=0)
        assert impostor.poll() is None and answers(port), "the impostor was touched"


def test_port_ownership_tells_the_listener_of_a_process_tree(tmp_path: Path) -> None:
    """The verdicts on real sockets: own (also through a shell that did not exec), foreign,
    none."""
    port, wrapped = free_port(), free_port()
    server = subprocess.Popen(
        [PY, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    shell = subprocess.Popen(
        ["sh", "-c", f"{PY} -m http.server --bind 127.0.0.1 {wrapped}; true"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: answers(port) and answers(wrapped))
        assert port_ownership(port, server.pid).verdict == "own"
        assert port_ownership(wrapped, shell.pid).verdict == "own"
        foreign = port_ownership(port, shell.pid)
        assert foreign.verdict == "foreign" and f"port {port}" in foreign.detail
        assert port_ownership(free_port(), server.pid).verdict == "none"
    finally:
        for process in (server, shell):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_a_listener_that_left_the_tree_with_a_double_fork_is_still_the_services(
    ops: Operations, write_spec: SpecWriter
) -> None:
    """The server is a double-forked, setsid'd grandchild (no longer a descendant of the
    service's leader): the unit's containment still knows it, so the service is healthy."""
    spec = write_spec(
        f"""
        name: daemonized
        services:
          web:
            run: '( setsid {PY} -m http.server --bind 127.0.0.1 $PORT & ); exec sleep 60'
            shell: true
            port: auto
            health: {{tcp: true, interval: 0.1s}}
            readiness_timeout: 15s
        """
    )
    status = ops.up(spec, detach=True)
    try:
        up = ops.wait_healthy(status.id, timeout=60)
        assert up.state == ExecutionState.RUNNING, up.reason
        web = ops.status(status.id).unit("web")
        assert web.port is not None and answers(web.port)
        assert port_ownership(web.port, web.pid or 0).verdict == "foreign"  # not in its tree
    finally:
        ops.stop(status.id, grace=0)
