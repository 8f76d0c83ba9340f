"""A watchdog for a running execution: if the process running it dies (SIGKILL, OOM), every
process group it started is killed at once — nothing it started may outlive it.

    python -m shipyard.watchdog RUN_DIR PID

It waits on PID's pidfd (no polling); when PID is gone it kills the groups listed in the run's
spawn journal whose leaders are still the processes that were started (start times are checked,
so a recycled PID is never touched). The engine starts it in a session of its own and, when the
execution ends normally, stops it (SIGTERM) — then there is nothing to do.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python -m shipyard.watchdog RUN_DIR PID\n")
        return 2
    from shipyard.engine.watchdog import watch

    return watch(Path(args[0]), int(args[1]))


if __name__ == "__main__":
    sys.exit(main())
