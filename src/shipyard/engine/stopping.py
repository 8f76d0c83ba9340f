"""Every stop of a unit goes through :func:`stop_unit`: its stop command first (while the unit
still runs), then its stop signal to every process of it, SIGKILL once its ``stop.timeout`` has
passed since the stop began.

The command is the spec's ``stop.command`` (process-compose's ``shutdown.command``): what a
server wants to be stopped with (``redis-cli shutdown``, ``nginx -s quit``). It runs on this
machine with the unit's environment (plus ``SHIPYARD_UNIT_PID``) in its workdir, its output in
the unit's log; it has the stop's timeout, then it is killed, and nothing it started outlives
it. A force stop (no grace) skips it: force means now.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.engine.runners.base import Handle
from shipyard.plan.model import PlannedCommand, StopSettings

#: Seconds a stop command still gets once its unit has ended (a client such as
#: ``redis-cli shutdown`` reading the server's last reply), before it is ended too.
AFTER_UNIT_ENDED = 0.5


@dataclass(frozen=True, slots=True)
class StopContext:
    """Where a unit's stop command runs: the unit's environment, workdir and log."""

    env: Mapping[str, str]
    cwd: str | None
    log_path: str


async def stop_unit(
    handle: Handle,
    stop: StopSettings,
    context: StopContext | None,
    *,
    grace: float | None = None,
) -> bool:
    """Stop ``handle`` as ``stop`` says; ``grace`` overrides its timeout (0: at once, without
    the command). Returns once nothing of the unit is left; True if SIGKILL was needed."""
    timeout = stop.timeout if grace is None else grace
    deadline = time.monotonic() + timeout
    if stop.command is not None and context is not None and timeout > 0 and handle.alive():
        await run_stop_command(stop.command, handle.pid, context, timeout, until=handle.exited)
    return await handle.terminate(max(0.0, deadline - time.monotonic()))


async def run_stop_command(
    command: PlannedCommand,
    pid: int,
    context: StopContext,
    timeout: float,
    *,
    until: asyncio.Future[Any] | None = None,
) -> int | None:
    """Run ``command`` for the unit whose leader is ``pid``, at most ``timeout`` seconds, and
    no longer than ``until`` (the unit's exit: once the unit is gone — it obeyed, or a force
    stop killed it meanwhile — the command has nothing left to stop and is ended with it); its
    exit code (None: it could not start, or was ended early). Its output and what happened to
    it go to the unit's log."""
    env = {**context.env, "SHIPYARD_UNIT_PID": str(pid)}
    log_fd = os.open(context.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        _note(log_fd, f"stop command: {command.display}")
        try:
            process = await asyncio.create_subprocess_exec(
                *command.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_fd,
                stderr=log_fd,
                env=env,
                cwd=context.cwd,
                start_new_session=True,  # its own group: killed whole at its timeout
            )
        except (OSError, ValueError) as error:
            why = error.strerror if isinstance(error, OSError) and error.strerror else error
            _note(log_fd, f"the stop command could not start: {why}")
            return None
        code: int | None = None
        waiting = asyncio.ensure_future(process.wait())
        try:
            watched: set[asyncio.Future[Any]] = {waiting}
            if until is not None:
                watched.add(until)
            await asyncio.wait(watched, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if waiting.done():
                code = waiting.result()
            elif until is not None and until.done():
                # It obeyed (a client's reply on its way) or was killed: a moment, not more.
                with contextlib.suppress(TimeoutError):
                    code = await asyncio.wait_for(asyncio.shield(waiting), AFTER_UNIT_ENDED)
                if code is None:
                    _note(log_fd, "the unit ended before its stop command: the command is ended")
            else:
                _note(log_fd, f"the stop command was still running after {timeout:g}s: killed")
        finally:
            waiting.cancel()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # nothing of it outlives the stop
            if process.returncode is None:
                await process.wait()
        if code is not None and code != 0:
            _note(log_fd, f"the stop command exited with code {code}")
        return code
    finally:
        os.close(log_fd)


def _note(log_fd: int, text: str) -> None:
    os.write(log_fd, f"==> shipyard: {text}\n".encode())
