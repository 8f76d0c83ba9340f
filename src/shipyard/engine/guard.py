"""Starting and stopping the watchdog of an execution (see :mod:`shipyard.watchdog`)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from shipyard.workspace import RunDir


def start_watchdog(run_dir: RunDir) -> int:
    """A watchdog process, in its own session, that kills this execution's process groups if
    this process dies without stopping it first. Returns its PID."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        return os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", "shipyard.watchdog", str(run_dir.root), str(os.getpid())],
            dict(os.environ),
            file_actions=[(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)],
            setsid=True,
        )
    finally:
        os.close(devnull)


def stop_watchdog(pid: int) -> None:
    """The execution ended normally: the watchdog has nothing to do; reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
