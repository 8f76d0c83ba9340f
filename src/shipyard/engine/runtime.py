"""What every engine (pipeline or fleet) shares: the units' base environment and the heartbeat."""

from __future__ import annotations

import asyncio
import os
import time

from shipyard.engine.recorder import Recorder
from shipyard.plan.model import Plan
from shipyard.store.base import Store
from shipyard.workspace import RunDir


def base_environment(
    plan: Plan, execution_id: str, run_dir: RunDir, base: dict[str, str] | None = None
) -> dict[str, str]:
    """This process's environment (or ``base``) plus what every unit of the execution gets.
    SHIPYARD_EXECUTION_ID also marks every process the execution starts, for cleanup."""
    env = dict(os.environ if base is None else base)
    env.update(
        SHIPYARD_EXECUTION_ID=execution_id,
        SHIPYARD_RUN_DIR=str(run_dir.root),
        SHIPYARD_ARTIFACTS_DIR=str(run_dir.artifacts),
        SHIPYARD_MODE=plan.mode,
        TMPDIR=str(run_dir.tmp),
    )
    return env


async def heartbeat(
    recorder: Recorder, store: Store, execution_id: str, interval: float = 1.0
) -> None:
    """The heartbeat other processes use to tell a live run from one whose process died."""
    while True:
        await asyncio.sleep(interval)
        recorder.write(store.update_execution, execution_id, heartbeat_at=time.time())
