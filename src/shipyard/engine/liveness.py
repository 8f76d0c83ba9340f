"""Is a process alive, and is it still the one we started? Light on imports: `status` uses it."""

from __future__ import annotations

import contextlib
import os
import signal


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (an init that does not reap leaves those)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rsplit(b")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in (b"Z", b"X")


def kill_orphaned_group(pgid: int, started_at: float, *, tolerance: float = 2.0) -> bool:
    """SIGKILL the process group a unit ran in, if its leader is still the process we started
    (its creation time matches ``started_at``): a recycled PID is never touched.

    Returns True if the group was signalled.
    """
    import psutil  # only on this rare path

    try:
        created = psutil.Process(pgid).create_time()
    except psutil.Error:
        created = None
    if created is not None and abs(created - started_at) > tolerance:
        return False  # the PID now belongs to someone else
    if created is None and not _group_exists(pgid):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
        return True
    return False


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
