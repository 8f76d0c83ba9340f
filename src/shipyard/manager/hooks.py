"""A suite's hooks on a manager (``env_preparation``, ``env_cleanup``; suitemodels.Hook): argv,
no shell, in the suite's folder, in a process group of its own that its timeout kills whole;
the output to a log file there, its tail kept for the coordinator's record.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.coordinator import taskprocess

#: After a hook's timeout's SIGTERM, how long its group has before SIGKILL (seconds).
HOOK_GRACE = 5.0
#: The hook output kept for the record (characters; the protocol's bound is 100,000).
HOOK_TAIL = 32 * 1024


@dataclass(frozen=True)
class HookOutcome:
    ok: bool
    exit_status: int | None  # None: it could not start, or timed out
    seconds: float
    output: str


def hook_env(context: dict[str, str], hook: dict[str, Any]) -> dict[str, str]:
    """The hook's environment: this process's, then the suite's context, then the hook's own
    ``env`` (which overrides the context, as Mitosis has it)."""
    return {**os.environ, **context, **{str(k): str(v) for k, v in hook.get("env", {}).items()}}


def run_hook(
    name: str, hook: dict[str, Any], folder: Path, context: dict[str, str],
    started: Callable[[subprocess.Popen[bytes] | None], None] = lambda _: None,
) -> HookOutcome:  # fmt: skip
    """Run one hook to its end (or its timeout) in ``folder``; ``started`` is told its
    process (then None once it ended), so that a shutdown-now can kill its group."""
    log = folder / f"{name}.log"
    began = time.monotonic()
    process = taskprocess.start(
        list(hook["command"]), folder, hook_env(context, hook), log, who="shipyard manager"
    )
    if process is None:
        return HookOutcome(False, None, time.monotonic() - began,
                           taskprocess.tail(log, HOOK_TAIL))  # fmt: skip
    started(process)
    try:
        status = taskprocess.wait(process, float(hook.get("timeout") or 600.0), HOOK_GRACE)
    finally:
        started(None)
    seconds = time.monotonic() - began
    output = taskprocess.tail(log, HOOK_TAIL)
    if status == taskprocess.TIMED_OUT and process.returncode != taskprocess.TIMED_OUT:
        output += f"\nshipyard manager: {name} timed out after {hook.get('timeout')} s; killed"
        return HookOutcome(False, None, seconds, output)
    return HookOutcome(status == 0, status, seconds, output)
