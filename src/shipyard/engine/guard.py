"""Starting and stopping the watchdog of an execution (see :mod:`shipyard.engine.watchdog`)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

from shipyard.workspace import RunDir


def fork_is_safe() -> bool:
    """May this process fork and go on running Python in the child? Only while it has one
    thread: a lock another thread holds at the fork stays held in the child for ever."""
    return threading.active_count() == 1 and threading.current_thread() is threading.main_thread()


def start_watchdog(run_dir: RunDir) -> int:
    """A watchdog process, in its own session, that kills this execution's process groups if
    this process dies without stopping it first. Returns its PID.

    Forked from this process when that is safe (one thread: a fork costs ~1 ms where a fresh
    interpreter costs ~20 ms of CPU, just when a fleet's services are starting), else a new
    ``python -m shipyard.watchdog``."""
    if fork_is_safe():
        return _fork_watchdog(run_dir)
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


_RESET = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGHUP)


def _fork_watchdog(run_dir: RunDir) -> int:
    parent = os.getpid()
    # Signals stay blocked across the fork: a SIGTERM (stop_watchdog) reaching the child before
    # it dropped the parent's handlers would be swallowed by them, and the child never end.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _RESET)
    child = os.fork()
    if child != 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return child
    code = 1  # pragma: no cover - runs in the forked watchdog
    try:
        os.setsid()
        # Nothing of the parent's event loop may reach the child: its signal wake-up pipe,
        # its handlers, its descriptors (sockets, the store, pidfds).
        signal.set_wakeup_fd(-1)
        for sig in _RESET:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        from shipyard.engine.watchdog import watch

        code = watch(run_dir.root, parent)
    finally:
        os._exit(code)


def stop_watchdog(pid: int) -> None:
    """The execution ended normally: the watchdog has nothing to do; reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
