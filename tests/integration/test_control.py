"""The control socket of a running execution: owner-only, one JSON request per connection,
answered by the supervisor itself (real detached supervisors, real Unix sockets)."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

import shipyard
from shipyard import control, unixsocket
from shipyard.api import Operations
from shipyard.engine.liveness import pid_alive
from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState, UnitState
from tests.conftest import SpecWriter
from tests.integration.test_lifecycle import wait_for

FLEET = """
name: ctl
services:
  web: {run: [sleep, '60'], restart: {policy: 'no'}}
  other: {run: [sleep, '60']}
"""


def detached_fleet(ops: Operations, write_spec: SpecWriter) -> tuple[str, Path]:
    """A fleet brought up in the background: its id and its control socket, once it exists."""
    status = ops.up(write_spec(FLEET), detach=True)
    path = ops.workspace.run_dir(status.id).control
    wait_for(path.exists)
    return status.id, path


def test_the_socket_is_owner_only_while_the_run_lasts_and_gone_after(
    ops: Operations, write_spec: SpecWriter
) -> None:
    execution_id, path = detached_fleet(ops, write_spec)
    mode = path.stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    pid, _ = ops.store.supervisor(execution_id)
    assert control.request(path, {"op": "ping"}) == {"ok": True, "pid": pid}
    report = ops.stop(execution_id, grace=0.0, reason="brought down by the test")
    assert report.state == ExecutionState.STOPPED
    assert ops.status(execution_id).reason == "brought down by the test"
    wait_for(lambda: not path.exists(), timeout=10)  # removed as the supervisor leaves


def test_bad_requests_get_an_answer_that_says_what_is_wrong(
    ops: Operations, write_spec: SpecWriter
) -> None:
    _, path = detached_fleet(ops, write_spec)
    with pytest.raises(ShipyardError, match="unknown request 'launch'"):
        control.request(path, {"op": "launch"})
    with pytest.raises(ShipyardError, match="no service 'wbe' here") as caught:
        control.request(path, {"op": "service", "action": "stop", "name": "wbe"})
    assert caught.value.hint == "services: web, other"
    with socket.socket(socket.AF_UNIX) as raw, unixsocket.unix_address(path) as address:
        raw.connect(address)
        raw.sendall(b"not json\n")
        assert b"one JSON object on one line" in raw.recv(4096)
    # The supervisor is none the worse for it.
    assert control.request(path, {"op": "ping"})["ok"]


def test_restart_goes_through_the_supervisor_not_the_crash_policy(
    ops: Operations, write_spec: SpecWriter
) -> None:
    # restart policy 'no' would leave a crashed service down: a restart still brings it back.
    status = ops.up(write_spec(FLEET), detach=True)
    ops.wait_healthy(status.id, timeout=30)
    before = ops.status(status.id).unit("web")
    after = ops.restart_service(status.id, "web")
    assert after.state == UnitState.RUNNING and after.restarts == 1
    assert after.pid != before.pid and before.pid is not None and not pid_alive(before.pid)


def test_a_run_folder_deeper_than_a_socket_path_allows_still_works(
    tmp_path: Path, write_spec: SpecWriter
) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    ops = shipyard.connect(deep)
    try:
        status = ops.run(write_spec("name: deep\nsteps:\n  s: {run: [sleep, '30']}\n"), detach=True)
        path = ops.workspace.run_dir(status.id).control
        assert len(str(path)) > 108
        wait_for(path.exists)
        assert control.request(path, {"op": "ping"})["ok"]
        report = ops.stop(status.id, grace=0.0)
        assert report.state == ExecutionState.CANCELLED
    finally:
        for summary in ops.list_executions(active_only=True):
            ops.stop(summary.id, force=True)
        ops.close()


def test_nobody_answering_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ShipyardError, match="does not answer"):
        control.request(tmp_path / "control.sock", {"op": "ping"})


def test_status_names_the_process_running_it_only_while_it_runs(
    ops: Operations, write_spec: SpecWriter
) -> None:
    status = ops.up(write_spec(FLEET), detach=True)
    running = ops.status(status.id)
    pid, _ = ops.store.supervisor(status.id)
    assert running.supervisor_pid == pid and pid is not None and pid_alive(pid)
    ops.stop(status.id, grace=0.0)
    assert ops.status(status.id).supervisor_pid is None
