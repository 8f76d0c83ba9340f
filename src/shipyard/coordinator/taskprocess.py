"""One task as a real subprocess (``shipyard worker`` and a node manager's managed workers, and
a suite's hooks): argv, no shell, in its own session so its whole process group can be killed,
its output to a log file of which only the tail is reported.

Kept apart from :mod:`shipyard.coordinator.worker` so both kinds of worker kill, time out and
read tails the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

#: After a timeout's SIGTERM, how long the task has before SIGKILL (seconds).
KILL_GRACE = 10.0
#: The tail of the output sent with the report (bytes; the whole log stays here).
TAIL = 64 * 1024
#: The exit status reported for a task killed at its timeout (as timeout(1) has it).
TIMED_OUT = 124
#: The exit status of a command that could not be started (as a shell has it).
NOT_STARTED = 127


def start(
    command: list[str], cwd: Path, env: Mapping[str, str], log: Path, *, who: str
) -> subprocess.Popen[bytes] | None:
    """Start ``command`` in a session of its own, its output (both streams) to ``log``; None
    when it cannot start (said in the log, in ``who``'s name)."""
    with log.open("wb") as output:
        try:
            return subprocess.Popen(
                command, cwd=cwd, env=dict(env), stdout=output, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        except OSError as error:
            output.write(f"{who}: cannot start {command[0]}: {error}\n".encode())
            return None


def kill_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def exited(pid: int) -> bool:
    """Whether the child ended, without reaping it (a Popen.wait elsewhere does)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True  # reaped already


def end(process: subprocess.Popen[bytes], grace: float = KILL_GRACE) -> None:
    """A timeout (or a stop): SIGTERM to the group, SIGKILL after the grace."""
    kill_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        kill_group(process, signal.SIGKILL)
        process.wait()


def wait(process: subprocess.Popen[bytes], timeout: float | None,
         grace: float = KILL_GRACE) -> int:  # fmt: skip
    """Its exit status (a signal N as 128 + N), or ``TIMED_OUT`` once ended at ``timeout``."""
    try:
        status = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        end(process, grace)
        return TIMED_OUT
    return exit_status(status)


def exit_status(returncode: int) -> int:
    """Popen's returncode as a shell says it: killed by signal N is 128 + N."""
    return returncode if returncode >= 0 else 128 - returncode


def tail(log: Path, size: int = TAIL) -> str:
    """The last ``size`` bytes of ``log`` (read from the end: a log may be large)."""
    with log.open("rb") as data:
        length = data.seek(0, os.SEEK_END)
        data.seek(max(0, length - size))
        return data.read().decode("utf-8", errors="replace")
