"""A watchdog for a running execution: if the process running it dies (SIGKILL, OOM), every
process group it started is killed at once — nothing it started may outlive it.

    python -m shipyard.watchdog RUN_DIR PID

It waits on PID's pidfd (no polling); when PID is gone it kills the groups listed in the run's
spawn journal whose leaders are still the processes that were started (start times are checked,
so a recycled PID is never touched). The engine starts it in a session of its own and, when the
execution ends normally, stops it (SIGTERM) — then there is nothing to do.
"""

from __future__ import annotations

import os
import select
import signal
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python -m shipyard.watchdog RUN_DIR PID\n")
        return 2
    return watch(Path(args[0]), int(args[1]))


def watch(run_dir: Path, pid: int) -> int:
    """Wait for ``pid`` to die, then kill what the run at ``run_dir`` started."""
    execution_id = run_dir.name
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # the run ended normally
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        pass  # already gone
    else:
        select.select([pidfd], [], [])
    from shipyard.engine.liveness import kill_marked, kill_orphaned_group
    from shipyard.workspace import RunDir, open_private

    folder = RunDir(run_dir)
    for child, started, _ in folder.started():
        kill_orphaned_group(child, started)
    # Whatever the journal missed, found by its environment; noted in the journal (with start
    # time 0, so no later cleanup ever matches that PID again) so `status` knows they started.
    missed = kill_marked(execution_id)
    # And the execution's cgroup, where there is one: what left its group and its marker too.
    from shipyard.engine.containment import kill_recorded_cgroup

    kill_recorded_cgroup(folder.root)
    if missed and folder.root.is_dir():
        with open(open_private(folder.spawns), "a", encoding="utf-8") as journal:
            journal.writelines(f"{pid} 0 {unit}\n" for pid, unit in missed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
