"""Checkpoints for LocalOperations: taking one of a running execution, and the plan a restore
runs (the checkpoint's files and manifest themselves are :mod:`shipyard.checkpoint`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError
from shipyard.models import ExecutionStatus, UnitState
from shipyard.operations.artifacts import carry_artifacts
from shipyard.operations.core import Core
from shipyard.workspace import RunDir

if TYPE_CHECKING:
    from shipyard.checkpoint import Checkpoint
    from shipyard.plan.model import Plan


def create(run_dir: RunDir, status: ExecutionStatus) -> Checkpoint:
    """Checkpoint a running execution: unit states, and the declared files of its running
    steps (each asked first with its checkpoint signal, if it has one)."""
    from shipyard import checkpoint
    from shipyard.operations.plans import load_plan

    if status.state.finished:
        raise ShipyardError(
            f"execution {status.id} is {status.state.value}: only a running one is checkpointed"
        )
    plan = load_plan(run_dir)
    running = {u.name: u.pid for u in status.units if u.state == UnitState.RUNNING and u.pid}
    states = {u.name: u.state.value for u in status.units}
    return checkpoint.create(
        run_dir, plan, status.id, states=states, running=running, reason="requested"
    )


def restored_plan(source: RunDir, name: str) -> tuple[Plan, Checkpoint]:
    """The plan of a restore from ``source``'s checkpoint ``name`` (every checksum verified
    first): the one it ran, the steps with saved files getting SHIPYARD_RESTORE_DIR."""
    from shipyard import checkpoint
    from shipyard.operations.plans import load_plan

    saved = checkpoint.load(source, name)
    folder = checkpoint.verify(source, saved)
    plan = load_plan(source)
    steps = [
        dataclasses.replace(step, env={**step.env, "SHIPYARD_RESTORE_DIR": str(folder / step.name)})
        if step.name in saved.files
        else step
        for step in plan.steps
    ]
    return dataclasses.replace(plan, steps=steps), saved


class CheckpointOperations:
    """The checkpoint part of LocalOperations."""

    def checkpoint_create(self: Core, execution_id: str) -> Checkpoint:
        """Checkpoint a running execution: unit states, and the declared files of its running
        steps (each asked first with its checkpoint signal, if it has one)."""
        status = self.status(execution_id)
        return create(self.workspace.run_dir(status.id), status)

    def checkpoint_list(self: Core, execution_id: str | None = None) -> list[Checkpoint]:
        from shipyard import checkpoint

        return checkpoint.listing(self.workspace.run_dir(self.status(execution_id).id))

    def checkpoint_restore(
        self: Core,
        checkpoint_id: str,
        *,
        detach: bool = False,
        hold: bool = False,
        params: Mapping[str, Any] | None = None,
    ) -> ExecutionStatus:
        """A new execution from a checkpoint: steps that had succeeded are not run again; the
        others run, those with saved files getting SHIPYARD_RESTORE_DIR pointing at them.
        ``params``: the secret parameters, given again (as to ``resume``)."""
        from shipyard.checkpoint import split_id
        from shipyard.operations import plans, resuming

        execution_id, name = split_id(checkpoint_id)
        earlier = self.status(execution_id)
        source = self.workspace.run_dir(earlier.id)
        plan, saved = restored_plan(source, name)
        secrets = plans.secrets_again(plan, params, f"shipyard checkpoint restore {checkpoint_id}")
        # Still a run of the same registered pipeline (its latest, for `status NAME`).
        new_id, run_dir = self._prepare(plan, source.root / "spec.yaml", pipeline=earlier.pipeline)
        kept = resuming.from_checkpoint(plan, saved.units)
        keys = self.store.cache_keys(earlier.id)  # its plan is the one restored: same steps
        resuming.mark_restored(self.store, run_dir, new_id, kept, saved.id, keys, self.clock.now())
        carry_artifacts(self.store, self.workspace, earlier.id, new_id, kept.kept, self.clock.now())
        return self._drive(plan, new_id, run_dir, secrets, detach=detach, hold=hold)
