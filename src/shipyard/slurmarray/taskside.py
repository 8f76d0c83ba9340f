"""The task's side of a Slurm job array: ``python -m shipyard.slurmarray HOME FOLDER`` (the
package's ``__main__``, the command :func:`shipyard.slurmarray.jobs.task_command` writes into
the batch script), run inside each array task. :func:`main` drives the task's point's prepared
execution in the foreground, on the host that submitted the sweep only."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from shipyard.slurmarray.decisions import node_refusal
from shipyard.slurmarray.jobs import HOST_FILE, REFUSED
from shipyard.slurmarray.points import mark_started

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``python -m shipyard.slurmarray HOME FOLDER``, inside task ``$SLURM_ARRAY_TASK_ID``:
    drive that point's prepared execution here, in the foreground, its units on this node —
    only on the host that submitted the sweep (:func:`node_refusal`)."""
    from shipyard.engine.runners.local import LocalRunner
    from shipyard.operations.clock import SystemClock
    from shipyard.plan.placement import SLURM
    from shipyard.supervisor import _open_store, _redirect, _supervise
    from shipyard.workspace import Workspace

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or "SLURM_ARRAY_TASK_ID" not in os.environ:
        sys.stderr.write(
            "usage (in a Slurm array task): python -m shipyard.slurmarray HOME FOLDER\n"
        )
        return 2
    home, folder = Path(args[0]), Path(args[1])
    index = int(os.environ["SLURM_ARRAY_TASK_ID"])
    try:
        home_host: str | None = (folder / HOST_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        home_host = None  # an array submitted before the host was recorded
    refusal = node_refusal(socket.gethostname(), home_host)
    if refusal is not None:
        # Before anything opens the store: to the task's output file, and for the sweep.
        sys.stderr.write(f"shipyard: {refusal}\n")
        (folder / REFUSED.format(index=index)).write_text(refusal + "\n", encoding="utf-8")
        return 1
    execution_id = (folder / "tasks").read_text(encoding="utf-8").split()[index]
    workspace = Workspace(home)
    store = _open_store(workspace)
    state = store.execution_state(execution_id)
    if state is not None and state.finished:  # stopped (cancel_queued) as its task started
        store.close()
        return 0
    sweep_id = folder.parent.name  # FOLDER is jobs.array_folder: HOME/sweeps/<sweep id>/array
    mark_started(store, sweep_id, execution_id, at=SystemClock().now())
    # From here on, what the supervisor says goes where a detached one's goes.
    _redirect(workspace.run_dir(execution_id))
    # A `runner: slurm` unit is already in its Slurm job: it runs here, on this node.
    _supervise(workspace, store, execution_id, {}, runners={SLURM: LocalRunner})
    return 0
