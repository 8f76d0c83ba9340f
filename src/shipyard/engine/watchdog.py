"""What the watchdog of an execution does (see :mod:`shipyard.watchdog`, its command): wait for
the process running the execution to die, then kill what the run started. It lives in the engine
because the engine forks it (:mod:`shipyard.engine.guard`) and it only uses the engine's own
cleanup (liveness, containment): nothing of the layers above.
"""

from __future__ import annotations

import os
import select
import signal
from pathlib import Path

from shipyard.engine.containment import kill_recorded_cgroup
from shipyard.engine.liveness import kill_marked, kill_orphaned_group
from shipyard.workspace import RunDir, open_private


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
    folder = RunDir(run_dir)
    for child, started, _ in folder.started():
        kill_orphaned_group(child, started)
    # Whatever the journal missed, found by its environment; noted in the journal (with start
    # time 0, so no later cleanup ever matches that PID again) so `status` knows they started.
    missed = kill_marked(execution_id)
    # And the execution's cgroup, where there is one: what left its group and its marker too.
    kill_recorded_cgroup(folder.root)
    if (folder.root / "slurm").is_dir():  # and its Slurm jobs (issue 16), by their job ids
        from shipyard.engine.runners.slurm import cancel_recorded_jobs

        cancel_recorded_jobs(folder.root)
    if missed and folder.root.is_dir():
        with open(open_private(folder.spawns), "a", encoding="utf-8") as journal:
            journal.writelines(f"{pid} 0 {unit}\n" for pid, unit in missed)
    return 0
