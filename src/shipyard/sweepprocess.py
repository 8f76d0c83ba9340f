"""The detached sweep process: ``python -m shipyard.sweepprocess HOME SWEEP_ID`` (started by
:func:`shipyard.sweeprun.start_detached`). A module of its own because it builds the whole
LocalOperations, which the sweep loop (:mod:`shipyard.sweeprun`, imported by the operations)
must not import."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from shipyard.errors import ShipyardError
from shipyard.sweeprun import _now, drive_sweep


def main(argv: list[str]) -> int:  # pragma: no cover - runs as the detached sweep process
    """``python -m shipyard.sweepprocess HOME SWEEP_ID``; the secrets as JSON on stdin. Returns
    once the sweep process is on its way (it forks away from its launcher)."""
    home, sweep_id = argv
    secrets = json.loads(sys.stdin.read() or "{}")
    if os.fork() != 0:
        return 0
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    code = 1
    try:
        _run_detached(Path(home), sweep_id, secrets)
        code = 0
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _run_detached(home: Path, sweep_id: str, secrets: Mapping[str, str]) -> None:
    from shipyard.local import LocalOperations
    from shipyard.workspace import Workspace

    ops = LocalOperations(Workspace(home))
    ops.store.set_sweep_supervisor(sweep_id, os.getpid(), at=_now(ops))
    try:
        drive_sweep(ops, sweep_id, secrets)
    except ShipyardError as error:
        sys.stderr.write(f"shipyard sweep: {error.message}\n")
        raise
    finally:
        ops.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
