"""The local implementation of the operations API: engine and store in this process.

A composition root: it holds the collaborators (workspace, store, clock, runners) and wires
each operation to the module that owns its policy, under :mod:`shipyard.operations`.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ExecutionNotFound, ShipyardError
from shipyard.models import ExecutionStatus
from shipyard.operations.agent_names import AgentOperations
from shipyard.operations.analysing import AnalysisOperations
from shipyard.operations.artifacts import ArtifactOperations, carry_artifacts
from shipyard.operations.checkpoints import CheckpointOperations
from shipyard.operations.cleaning import CleanOperations
from shipyard.operations.clock import Clock, SystemClock
from shipyard.operations.controlling import StopOperations
from shipyard.operations.environments import EnvironmentOperations
from shipyard.operations.fleets import FleetOperations
from shipyard.operations.logs import LogOperations
from shipyard.operations.maintenance import MaintenanceOperations
from shipyard.operations.measuring import MetricsOperations
from shipyard.operations.reconcile import HEARTBEAT_TIMEOUT
from shipyard.operations.registering import ModelOperations
from shipyard.operations.registry import PipelineOperations
from shipyard.operations.rollouts import RolloutOperations
from shipyard.operations.sweeping import SweepOperations
from shipyard.operations.templates import IndexOperations
from shipyard.operations.watching import WatchOperations
from shipyard.workspace import RunDir, Workspace, secure_home

if TYPE_CHECKING:
    # The result types are imported where they are made: creating their classes costs a few
    # milliseconds that most commands would pay for nothing.
    from shipyard.api import ValidationReport
    from shipyard.engine.runners.base import RunnerFactory
    from shipyard.plan.model import Plan, RunMode
    from shipyard.store.base import Store

__all__ = ["HEARTBEAT_TIMEOUT", "LocalOperations"]


def _check_home(home: Path) -> None:
    """A home that is a file (``--home /dev/null``) ended in a NotADirectoryError traceback
    from the first stat under it."""
    if home.exists() and not home.is_dir():
        raise ShipyardError(
            f"the Shipyard home {home} is not a folder",
            hint="point --home (or SHIPYARD_HOME) at a folder; a missing one is made",
        )


def _open_store(workspace: Workspace) -> Store:
    """The workspace's store. A damaged, empty or missing state.db beside run folders is
    rebuilt from them, and said so on stderr: records are never silently started afresh
    (:func:`shipyard.recovery.open_store`). A state.db with content that opens is what
    open_store would return too, so the recovery module (~5 ms to import) is left out then."""
    from shipyard.errors import StoreCorrupt
    from shipyard.store.sqlite import SQLiteStore

    try:
        if workspace.state_db.stat().st_size > 0:
            return SQLiteStore(workspace.state_db)
    except (FileNotFoundError, StoreCorrupt):
        pass  # open_store decides: rebuild, diagnose, or a fresh store
    from shipyard.recovery import open_store

    return open_store(workspace, _warn)


class LocalOperations(
    WatchOperations,
    MaintenanceOperations,
    StopOperations,
    FleetOperations,
    RolloutOperations,
    AgentOperations,
    ArtifactOperations,
    CheckpointOperations,
    CleanOperations,
    LogOperations,
    PipelineOperations,
    EnvironmentOperations,
    SweepOperations,
    IndexOperations,
    AnalysisOperations,
    MetricsOperations,
    ModelOperations,
):
    """:class:`shipyard.api.Operations` on this machine, state in ``workspace``.

    Every collaborator can be given: ``store`` (any :class:`shipyard.store.base.Store`; by
    default the workspace's SQLite file, opened on first use), ``clock`` (where time is read)
    and ``runners`` (runner name → a factory making that runner from an execution's
    containment; default: the engine's local runner). Given runners drive the executions run in
    this process (foreground, and :meth:`start`); a detached supervisor, a process of its own,
    uses the default ones. A store given here belongs
    to the caller: ``close`` leaves it open, and a detached run starts a fresh interpreter
    rather than forking this process with the store's connection in it.
    """

    def __init__(
        self,
        workspace: Workspace | None = None,
        *,
        store: Store | None = None,
        clock: Clock | None = None,
        runners: Mapping[str, RunnerFactory] | None = None,
        held: dict[str, tuple[Plan, RunDir, Mapping[str, str]]] | None = None,
    ) -> None:
        self.workspace = workspace or Workspace.default()
        self.clock: Clock = clock or SystemClock()
        self.runners: Mapping[str, RunnerFactory] = dict(runners or {})
        self._given_store = store
        self._store: Store | None = store
        #: Executions prepared with ``hold=True``, waiting for :meth:`start`: their plan, run
        #: folder and secrets (kept in memory only, as a detached run's are). ``held``: a
        #: dict shared by several objects (the server's, one per thread), so that ``start``
        #: finds what another of them held.
        self._held: dict[str, tuple[Plan, RunDir, Mapping[str, str]]] = (
            held if held is not None else {}
        )

    @property
    def store(self) -> Store:
        if self._store is None:
            _check_home(self.workspace.home)
            note = secure_home(self.workspace.home)
            if note:
                sys.stderr.write(f"shipyard: {note}\n")
            try:
                self._store = _open_store(self.workspace)
            except (NotADirectoryError, PermissionError) as error:
                raise ShipyardError(
                    f"cannot open the state in {self.workspace.home}: {error.strerror}",
                    hint="point --home (or SHIPYARD_HOME) at a folder you can write",
                ) from None
        return self._store

    def _has_state(self) -> bool:
        """A store is open (or given), or the workspace holds one: read-only operations ask
        first, so `status` or `list` in any folder does not create .shipyard/ there. A home that
        is a file is still said to be one."""
        if self._store is None:
            _check_home(self.workspace.home)
        return self._store is not None or self.workspace.has_state()

    def close(self) -> None:
        if self._store is not None and self._store is not self._given_store:
            self._store.close()
            self._store = None

    # -- spec and plan ----------------------------------------------------------------------

    def validate(self, spec: str | Path, *, spec_text: str | None = None) -> ValidationReport:
        from shipyard.formats.hook import ForeignFileError
        from shipyard.operations.plans import invalid_report, validate
        from shipyard.operations.specsource import resolve

        try:
            source = resolve(self, spec, spec_text)  # a file, a registered name, index:REPO/NAME
        except ForeignFileError as error:  # another tool's file: its problems, as a report
            return invalid_report(spec, error)
        report = validate(source.spec, source.spec_text)
        if source.spec_text is not None and Path(source.spec) == Path(spec).resolve():
            # another tool's file, read by its resolved path: named as the user gave it
            report = dataclasses.replace(report, path=str(spec))
        return report

    def plan(
        self,
        spec: str | Path,
        params: Mapping[str, Any] | None = None,
        *,
        spec_text: str | None = None,
        mode: RunMode = "normal",
        max_parallel: int | None = None,
    ) -> Plan:
        from shipyard.operations.plans import cached_plan
        from shipyard.operations.specsource import resolve

        store = self.store  # opened first: it makes (or closes) the home the cache lives in
        source = resolve(self, spec, spec_text)
        return cached_plan(
            self.workspace,
            store,
            source.spec,
            {**source.defaults, **(params or {})},  # -p wins over a pipeline's stored defaults
            spec_text=source.spec_text,
            mode=mode,
            max_parallel=max_parallel,
        )

    def schema(self) -> dict[str, Any]:
        from shipyard.operations.plans import schema

        return schema()

    # -- running ----------------------------------------------------------------------------

    def run(
        self,
        spec: str | Path,
        params: Mapping[str, Any] | None = None,
        *,
        spec_text: str | None = None,
        mode: RunMode = "normal",
        max_parallel: int | None = None,
        detach: bool = False,
        hold: bool = False,
        resume_from: str | None = None,
        checkpoint_every: float | None = None,
    ) -> ExecutionStatus:
        from shipyard.operations import plans, resuming
        from shipyard.operations.specsource import resolve

        source = resolve(self, spec, spec_text)
        params = {**source.defaults, **(params or {})}
        spec, spec_text = source.spec, source.spec_text
        plan = self.plan(spec, params, spec_text=spec_text, mode=mode, max_parallel=max_parallel)
        secrets = plans.secrets_of(plan, params)
        if checkpoint_every is not None:
            plan = dataclasses.replace(plan, checkpoint_interval=_interval(checkpoint_every))
        if resume_from is not None:
            earlier = self.status(resume_from).id  # a clear error if it does not exist
            old_keys = self.store.cache_keys(earlier)
        execution_id, run_dir = self._prepare(plan, Path(spec), spec_text, source.pipeline)
        if resume_from is not None:
            # A success is reused only with the same cache key and every dependency reused.
            kept = resuming.by_cache_key(plan, old_keys)
            resuming.mark_reused(
                self.store, run_dir, execution_id, kept, earlier, old_keys, self.clock.now()
            )
            carry_artifacts(
                self.store, self.workspace, earlier, execution_id, kept.kept, self.clock.now()
            )
        return self._drive(plan, execution_id, run_dir, secrets, detach=detach, hold=hold)

    def up(
        self,
        spec: str | Path,
        params: Mapping[str, Any] | None = None,
        *,
        spec_text: str | None = None,
        detach: bool = False,
        hold: bool = False,
    ) -> ExecutionStatus:
        """Bring a fleet up; a spec's steps run beside it, and its services stay up after them
        (``run`` would bring them down once the steps are done)."""
        from shipyard.operations.plans import secrets_of
        from shipyard.operations.specsource import resolve

        source = resolve(self, spec, spec_text)
        params = {**source.defaults, **(params or {})}
        spec, spec_text = source.spec, source.spec_text
        plan = self.plan(spec, params, spec_text=spec_text)
        if plan.kind == "pipeline":
            raise ShipyardError(
                f"{spec} has no services: there is no fleet to bring up",
                hint=f"run its steps with: shipyard run {spec}",
            )
        plan = dataclasses.replace(plan, stay_up=True)
        if not hold:
            from shipyard.operations.rollouts import rollout_on_up

            rolled = rollout_on_up(self, plan)  # only env of rollout: services changed
            if rolled is not None:
                return rolled
        secrets = secrets_of(plan, params)
        execution_id, run_dir = self._prepare(plan, Path(spec), spec_text, source.pipeline)
        return self._drive(plan, execution_id, run_dir, secrets, detach=detach, hold=hold)

    def _prepare(
        self, plan: Plan, spec_path: Path, spec_text: str | None = None, pipeline: str | None = None
    ) -> tuple[str, RunDir]:
        """``pipeline``: the registered name it runs as (recorded with the execution)."""
        from shipyard.operations.plans import prepare

        now = self.clock.now()
        return prepare(
            self.workspace, self.store, plan, spec_path, now, spec_text=spec_text, pipeline=pipeline
        )

    def _drive(
        self,
        plan: Plan,
        execution_id: str,
        run_dir: RunDir,
        secrets: Mapping[str, str],
        *,
        detach: bool,
        hold: bool,
    ) -> ExecutionStatus:
        """``secrets``: the values of the plan's secret parameters, which it does not hold.
        ``hold``: keep the execution for :meth:`start` and return it as prepared."""
        if hold:
            self._held[execution_id] = (plan, run_dir, secrets)
            return self.status(execution_id)
        if detach:
            from shipyard.operations.supervising import start_supervisor

            self._refuse_detaching_elsewhere(execution_id, run_dir)
            own = self._given_store is None  # only a store of ours may be closed for a fork
            start_supervisor(
                self.workspace,
                execution_id,
                secrets,
                store=lambda: self.store,
                close_store=self.close if own else None,
                clock=self.clock,
            )
        else:
            from shipyard.supervisor import drive

            drive(self.store, plan, execution_id, run_dir, secrets=secrets, runners=self.runners)
        return self.status(execution_id)

    def _refuse_detaching_elsewhere(self, execution_id: str, run_dir: RunDir) -> None:
        """A supervisor records in the workspace's state database: with a store handed in
        that is another one it could not record its run (it waited 15 s, then said that the
        supervisor "did not start", its log a traceback). Refused now, nothing left behind."""
        import shutil

        given = self._given_store
        path = getattr(given, "path", None)
        state_db = self.workspace.state_db
        if given is None or (isinstance(path, Path) and path.resolve() == state_db.resolve()):
            return
        self.store.delete_execution(execution_id)
        shutil.rmtree(run_dir.root, ignore_errors=True)  # its own run folder, made by prepare
        raise ShipyardError(
            f"a detached run records in the workspace's state database ({state_db}), "
            f"not in the store given to LocalOperations ({path or type(given).__name__})",
            hint="run it in this process (detach=False), or give the workspace's own store: "
            "LocalOperations(workspace, store=SQLiteStore(workspace.state_db))",
        )

    def start(self, execution_id: str, *, detach: bool = False) -> ExecutionStatus:
        """Drive an execution prepared with ``hold=True`` by this object to its end (or hand
        it to a supervisor, with ``detach``)."""
        held = self._held.pop(execution_id, None)
        if held is None:
            raise ExecutionNotFound(
                f"execution '{execution_id}' is not waiting to start here",
                hint="start prepares only what run, up, resume or checkpoint_restore held "
                "(hold=True) on the same Operations object",
            )
        plan, run_dir, secrets = held
        return self._drive(plan, execution_id, run_dir, secrets, detach=detach, hold=False)

    def resume(
        self,
        execution_id: str,
        *,
        force: bool = False,
        detach: bool = False,
        hold: bool = False,
        params: Mapping[str, Any] | None = None,
    ) -> ExecutionStatus:
        """Continue a failed, cancelled or lost execution: what succeeded is kept, the rest runs.

        Refused (unless ``force``) when the spec or the inputs changed so that a step that
        succeeded would now be a different step; with ``force`` such steps run again. The
        parameters are the execution's own; ``params`` gives its secret ones again (never
        stored), else they come from the caller's ``$SHIPYARD_PARAM_<NAME>``.
        """
        from shipyard.operations import plans, resuming

        status = self.status(execution_id)
        _raise(resuming.refusal_to_resume(status))
        run_dir = self.workspace.run_dir(status.id)
        plan, spec_path, ran = resuming.plan_again(self.plan, status, run_dir)
        secrets = plans.secrets_again(plan, params, f"shipyard resume {status.id}")
        kept = resuming.by_cache_key(plan, self.store.cache_keys(status.id))
        if not force:
            _raise(resuming.refusal_to_change(status.id, kept))
        text = resuming.snapshot_spec(run_dir, spec_path, plan, self.clock.now(), text=ran)
        self.store.reopen(
            status.id, keep=set(kept.kept), spec_text=text, spec_digest=plan.spec_digest
        )
        return self._drive(plan, status.id, run_dir, secrets, detach=detach, hold=hold)


def _raise(error: ShipyardError | None) -> None:
    if error is not None:
        raise error


def _warn(text: str) -> None:
    sys.stderr.write("".join(f"shipyard: {line}\n" for line in text.splitlines()))


if TYPE_CHECKING:  # mypy checks that the local implementation satisfies the whole protocol
    from shipyard.api import Operations

    _conforms: Operations = LocalOperations()


def _interval(seconds: float) -> float:
    """A run's automatic checkpoint interval, checked: the engine sleeps it between two
    checkpoints, so a negative one took a checkpoint on every turn of its loop, and 0 was
    taken silently as "none"."""
    import math

    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ShipyardError(
            f"checkpoint_every={seconds!r:.40} is not a number of seconds", hint="e.g. 600"
        )
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ShipyardError(
            f"checkpoint_every={seconds} must be a positive number of seconds",
            hint="e.g. 600 (every 10 minutes); leave it out for no automatic checkpoints",
        )
    return float(seconds)
