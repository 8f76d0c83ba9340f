"""The cleanup primitives must never hit anything but what an execution started."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from shipyard.engine.liveness import kill_marked, kill_orphaned_group, marked_processes, pid_alive


def test_never_our_own_group_nor_pid_0_or_1() -> None:
    assert not kill_orphaned_group(0, 0.0)
    assert not kill_orphaned_group(1, 0.0)
    assert not kill_orphaned_group(os.getpgrp(), time.time())
    assert pid_alive(os.getpid())  # still here


def test_a_recycled_pid_is_left_alone() -> None:
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert not kill_orphaned_group(child.pid, time.time() - 3600)  # started "an hour ago"
        assert child.poll() is None
        assert kill_orphaned_group(child.pid, time.time())
        assert child.wait(timeout=10) == -9
    finally:
        child.kill()
        child.wait()


def test_processes_are_found_by_their_execution_marker() -> None:
    env = {**os.environ, "SHIPYARD_EXECUTION_ID": "exec_marker_test", "SHIPYARD_STEP": "s"}
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=env)
    try:
        deadline = time.monotonic() + 10
        while (child.pid, "s") not in marked_processes("exec_marker_test"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert marked_processes("exec_other") == [] or all(
            pid != child.pid for pid, _ in marked_processes("exec_other")
        )
        assert kill_marked("exec_marker_test") == [(child.pid, "s")]
        assert child.wait(timeout=10) == -9
    finally:
        child.kill()
        child.wait()
