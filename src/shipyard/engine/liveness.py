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

    if pgid <= 1 or pgid == os.getpgrp():
        return False  # 0 and 1 are not groups we started, and our own group is not a unit's
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


def marked_processes(execution_id: str) -> list[tuple[int, str | None]]:
    """Processes whose environment says they belong to ``execution_id`` (every unit gets
    SHIPYARD_EXECUTION_ID, and its children inherit it): (pid, unit name or None).

    The fallback that finds what the spawn journal cannot: a unit started in the instant before
    its journal line was written, or a grandchild that left its process group.
    """
    marker = f"SHIPYARD_EXECUTION_ID={execution_id}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                variables = handle.read().split(b"\0")
        except OSError:
            continue
        if marker not in variables:
            continue
        unit = None
        for variable in variables:
            if variable.startswith((b"SHIPYARD_STEP=", b"SHIPYARD_SERVICE=")):
                unit = variable.split(b"=", 1)[1].decode(errors="replace")
        found.append((int(entry.name), unit))
    return found


def kill_marked(execution_id: str) -> list[tuple[int, str]]:
    """SIGKILL every process marked as belonging to ``execution_id``: (pid, unit) of each."""
    killed = []
    for pid, unit in marked_processes(execution_id):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        if unit:
            killed.append((pid, unit))
    return killed
