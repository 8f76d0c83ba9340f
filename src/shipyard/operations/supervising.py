"""Handing an execution to a supervisor process of its own (``run -d``, ``up -d``): by forking
this process when that is safe, else through a fresh ``python -m shipyard.supervisor``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError
from shipyard.workspace import RunDir, Workspace, open_private

if TYPE_CHECKING:
    from shipyard.operations.clock import Clock
    from shipyard.store.base import Store


def start_supervisor(
    workspace: Workspace,
    execution_id: str,
    secrets: Mapping[str, str],
    *,
    store: Callable[[], Store],
    close_store: Callable[[], None] | None,
    clock: Clock,
    wait: float = 15.0,
) -> None:
    """Start the supervisor and return once it runs (its PID is in the store). ``secrets`` go
    with it in memory (a fork) or through a pipe, never through a file. ``close_store``: how to
    close this process's store before a fork (``store`` opens it again); without it (a store
    given by the caller, which we may not close) a fresh interpreter is started instead."""
    from shipyard.engine.guard import fork_is_safe

    run_dir = workspace.run_dir(execution_id)
    if close_store is not None and fork_is_safe():
        from shipyard.supervisor import fork_supervisor

        # Forking this process saves a new interpreter's start (~0.1 s); with other threads
        # around a fork is unsafe, and a fresh interpreter is started instead. The store is
        # closed first: SQLite's locks must not be carried across a fork (it reopens).
        close_store()
        returncode = fork_supervisor(workspace.home, execution_id, secrets)
    else:
        returncode = _fresh_supervisor(workspace, run_dir, execution_id, secrets)
    deadline = clock.monotonic() + wait
    while clock.monotonic() < deadline:
        pid, _ = store().supervisor(execution_id)
        if returncode != 0 or pid is not None:
            break
        time.sleep(0.005)
    pid, _ = store().supervisor(execution_id)
    if returncode != 0 or pid is None:
        tail = (run_dir.root / "supervisor.log").read_text(errors="replace")[-1500:]
        raise ShipyardError(
            f"the supervisor of {execution_id} did not start",
            hint=f"its output ({run_dir.root / 'supervisor.log'}):\n{tail}",
        )


def _fresh_supervisor(
    workspace: Workspace, run_dir: RunDir, execution_id: str, secrets: Mapping[str, str]
) -> int:
    """``python -m shipyard.supervisor``, the secrets on its stdin; its launcher's exit status
    (it returns as soon as the supervisor has forked away)."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "shipyard.supervisor", str(workspace.home), execution_id]
    with open(open_private(run_dir.root / "supervisor.log"), "ab") as log:
        return subprocess.run(
            [*command, "--secrets-on-stdin"],
            input=json.dumps(dict(secrets)).encode(),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
