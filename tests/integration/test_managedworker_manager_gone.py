"""A managed worker whose manager dies while it starts a task: the task dies with it.

A manager killed with the worker's ``started`` message unread resets the Unix socket (Linux
does so when a socket closes with data in its queue), so the worker's read of the answer
raises instead of returning nothing. The worker then died of that error and its task ran on,
orphaned (seen in CI as a task still alive 15 s after its manager was SIGKILLed). Here the
manager's side is a real socket closed unread, the task a real process.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from pathlib import Path
from typing import Any

from shipyard.manager import managedworker


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_manager_gone_before_reading_started_takes_the_task_with_it(tmp_path: Path) -> None:
    worker_side, manager_side = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    stream = worker_side.makefile("rwb")
    pid_file = tmp_path / "task.pid"
    task = {
        "uuid": "t1",
        "attempt": 1,
        "command": ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 60"],
    }
    (tmp_path / "logs").mkdir()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["status"] = managedworker._run(task, tmp_path, "s1", 0, worker_side, stream)
        except BaseException as error:  # what the worker died of before the fix
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    readable, _, _ = select.select([manager_side], [], [], 30)
    assert readable, "the worker never said 'started'"
    for _ in range(600):  # the task is really running before its manager goes
        if pid_file.exists() and pid_file.read_text().strip():
            break
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    manager_side.close()  # "started" unread: the worker's side is reset
    thread.join(30)
    try:
        assert not thread.is_alive(), "the worker never noticed its manager was gone"
        assert "error" not in outcome, f"the worker died of {outcome.get('error')!r}"
        assert outcome == {"status": None}, outcome
        for _ in range(100):
            if not _alive(pid):
                break
            time.sleep(0.05)
        assert not _alive(pid), f"task {pid} outlived its manager"
    finally:
        if _alive(pid):
            os.kill(pid, 9)
        worker_side.close()
