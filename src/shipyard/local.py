"""The local implementation of the operations API: engine and store in this process."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.engine.liveness import kill_marked, kill_orphaned_group, pid_alive
from shipyard.errors import ExecutionNotFound, ParameterError, ShipyardError, SpecError
from shipyard.models import (
    ExecutionState,
    ExecutionStatus,
    ExecutionSummary,
    UnitState,
    UnitStatus,
)
from shipyard.store.sqlite import SQLiteStore
from shipyard.workspace import (
    RunDir,
    Workspace,
    new_execution_id,
    open_private,
    secure_home,
    write_private,
)

#: A running execution whose heartbeat is older than this is taken for dead.
HEARTBEAT_TIMEOUT = 15.0

if TYPE_CHECKING:
    # The result types are imported where they are made: creating their classes costs a few
    # milliseconds that most commands would pay for nothing.
    from shipyard.agents import DiscoveredAgent
    from shipyard.api import (
        CleanedRun,
        CleanReport,
        LogLine,
        Observer,
        StopReport,
        ValidationReport,
    )
    from shipyard.checkpoint import Checkpoint
    from shipyard.logfiles import Follower
    from shipyard.plan.model import Plan, RunMode
    from shipyard.recovery import RebuildReport, StoreCheck


class LocalOperations:
    """:class:`shipyard.api.Operations` on this machine, state in ``workspace``."""

    def __init__(self, workspace: Workspace | None = None) -> None:
        self.workspace = workspace or Workspace.default()
        self._store: SQLiteStore | None = None

    @property
    def store(self) -> SQLiteStore:
        if self._store is None:
            note = secure_home(self.workspace.home)
            if note:
                sys.stderr.write(f"shipyard: {note}\n")
            from shipyard.recovery import open_store

            # A damaged, empty or missing state.db beside run folders is rebuilt from them,
            # and said so on stderr: records are never silently started afresh.
            self._store = open_store(self.workspace, _warn)
        return self._store

    def check_store(self) -> StoreCheck:
        """Is state.db sound (SQLite's header, quick_check), and has every run folder a
        record? Reads only."""
        from shipyard.recovery import check

        self.close()
        return check(self.workspace)

    def rebuild_store(self) -> RebuildReport:
        """Move state.db aside (kept as state.db.corrupt-<time>) and build a new one from the
        run folders: every execution's units, states, exit codes, attempts and events."""
        from shipyard.recovery import rebuild_store

        self.close()
        return rebuild_store(self.workspace)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- spec and plan ----------------------------------------------------------------------

    def validate(self, spec_path: str | Path) -> ValidationReport:
        from shipyard.api import Problem, ValidationReport
        from shipyard.spec.loader import load_spec

        try:
            loaded = load_spec(spec_path)
        except SpecError as error:
            return ValidationReport(
                path=str(spec_path),
                valid=False,
                problems=[
                    Problem(
                        message=problem.message,
                        file=str(problem.location.path) if problem.location else None,
                        line=problem.location.line if problem.location else None,
                        column=problem.location.column if problem.location else None,
                        hint=problem.hint,
                    )
                    for problem in error.problems
                ],
            )
        return ValidationReport(
            path=str(spec_path),
            valid=True,
            name=loaded.spec.name,
            steps=len(loaded.spec.steps),
            parameters=list(loaded.spec.parameters),
        )

    def plan(
        self,
        spec_path: str | Path,
        params: Mapping[str, Any] | None = None,
        *,
        mode: RunMode = "normal",
        max_parallel: int | None = None,
    ) -> Plan:
        from shipyard.plan.cache import PlanCache, plan_key
        from shipyard.plan.model import with_history
        from shipyard.spec.reading import read_spec_text

        # A regular file of a sane size in UTF-8 (SpecError otherwise): never /dev/zero or a FIFO.
        text = read_spec_text(Path(spec_path))
        path = Path(spec_path).resolve()
        overrides = dict(params or {})
        cores = os.cpu_count() or 1  # as the engine counts them (machine_capacity)
        store = self.store  # opened first: it makes (or closes) the home the cache lives in
        cache = PlanCache(self.workspace.plan_cache)
        key = plan_key(
            spec_text=text,
            spec_path=str(path),
            overrides=overrides,
            mode=mode,
            max_parallel=max_parallel,
            cores=cores,
            secret=cache.secret(),
        )
        plan = cache.get(key)
        if plan is None:
            from shipyard.plan.build import build_plan
            from shipyard.spec.loader import load_spec_text

            loaded = load_spec_text(text, path)
            plan = build_plan(loaded, overrides, mode=mode, cores=cores, max_parallel=max_parallel)
            cache.put(key, plan)
        return with_history(plan, store.mean_durations(plan.name))

    def preview_ports(self, plan: Plan) -> dict[str, int]:
        """The port each service of ``plan`` would get if it came up now (free ports probed by
        binding, as `up` does). Raises ShipyardError when a fixed port is taken."""
        from shipyard.engine.fleet import allocate_ports

        return allocate_ports(plan.services, plan.base_port)

    def schema(self) -> dict[str, Any]:
        from shipyard.spec.models import Spec

        schema = Spec.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = "Shipyard spec"
        return schema

    # -- running ----------------------------------------------------------------------------

    def run(
        self,
        spec_path: str | Path,
        params: Mapping[str, Any] | None = None,
        *,
        mode: RunMode = "normal",
        max_parallel: int | None = None,
        observer: Observer | None = None,
        detach: bool = False,
        resume_from: str | None = None,
        checkpoint_every: float | None = None,
    ) -> ExecutionStatus:
        plan = self.plan(spec_path, params, mode=mode, max_parallel=max_parallel)
        secrets = self._secrets(plan, params)
        if checkpoint_every is not None:
            plan = dataclasses.replace(plan, checkpoint_interval=checkpoint_every)
        if resume_from is not None:
            earlier = self.status(resume_from)  # a clear error if it does not exist
            old_keys = self.store.cache_keys(earlier.id)
        execution_id, run_dir = self._prepare(plan, Path(spec_path))
        if resume_from is not None:
            self._reuse(plan, execution_id, earlier.id, old_keys)
        return self._drive(
            plan, execution_id, run_dir, observer=observer, detach=detach, secrets=secrets
        )

    def up(
        self,
        spec_path: str | Path,
        params: Mapping[str, Any] | None = None,
        *,
        observer: Observer | None = None,
        detach: bool = False,
    ) -> ExecutionStatus:
        """Bring a fleet up; a spec's steps run beside it, and its services stay up after them
        (``run`` would bring them down once the steps are done)."""
        plan = self.plan(spec_path, params)
        if plan.kind == "pipeline":
            raise ShipyardError(
                f"{spec_path} has no services: there is no fleet to bring up",
                hint=f"run its steps with: shipyard run {spec_path}",
            )
        plan = dataclasses.replace(plan, stay_up=True)
        secrets = self._secrets(plan, params)
        execution_id, run_dir = self._prepare(plan, Path(spec_path))
        return self._drive(
            plan, execution_id, run_dir, observer=observer, detach=detach, secrets=secrets
        )

    def _drive(
        self,
        plan: Plan,
        execution_id: str,
        run_dir: RunDir,
        *,
        observer: Observer | None,
        detach: bool,
        secrets: Mapping[str, str],
    ) -> ExecutionStatus:
        """``secrets``: the values of the plan's secret parameters, which it does not hold."""
        if detach:
            self._start_supervisor(execution_id, secrets=secrets)
        else:
            from shipyard.supervisor import drive

            drive(self.store, plan, execution_id, run_dir, observer, secrets=secrets)
        return self.status(execution_id)

    @staticmethod
    def _secrets(
        plan: Plan, params: Mapping[str, Any] | None, *, again: str | None = None
    ) -> dict[str, str]:
        """The values of ``plan``'s secret parameters: ``-p``, else the caller's environment."""
        if not plan.secrets:
            return {}
        from shipyard.plan.secrets import gather

        return gather(plan, params or {}, os.environ, again=again)

    def _reuse(self, plan: Plan, execution_id: str, source: str, old_keys: dict[str, str]) -> None:
        """Mark as succeeded every step whose cache key matches a success of ``source`` — and
        whose dependencies are all reused too (a re-run upstream may change its inputs)."""
        from shipyard.engine.cachekey import step_key
        from shipyard.models import Event

        reused: set[str] = set()
        for stage in plan.stages:
            for name in stage:
                step = plan.step(name)
                if name not in old_keys or not all(dep in reused for dep in step.needs):
                    continue
                key = step_key(step)
                if key == old_keys[name]:
                    reused.add(name)
                    why = f"reused from {source} (same cache key)"
                    with self.store.transaction():
                        self.store.update_unit(
                            execution_id, name, state=UnitState.SUCCEEDED, reason=why, cache_key=key
                        )
                        self.store.append_events(
                            [
                                Event(
                                    time.time(), execution_id, "unit_reused", name, {"from": source}
                                )
                            ]
                        )

    def resume(
        self,
        execution_id: str,
        *,
        force: bool = False,
        detach: bool = False,
        observer: Observer | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> ExecutionStatus:
        """Continue a failed, cancelled or lost execution: what succeeded is kept, the rest runs.

        Refused (unless ``force``) when the spec or the inputs changed so that a step that
        succeeded would now be a different step; with ``force`` such steps run again. The
        parameters are the execution's own; ``params`` gives its secret ones again (never
        stored), else they come from the caller's ``$SHIPYARD_PARAM_<NAME>``.
        """
        from shipyard.engine.cachekey import step_key
        from shipyard.plan.model import Plan

        status = self.status(execution_id)
        if not status.state.finished:
            raise ShipyardError(
                f"execution {status.id} is still {status.state.value}",
                hint=f"stop it first (shipyard stop {status.id}) or wait for it",
            )
        if status.state == ExecutionState.SUCCEEDED:
            raise ShipyardError(
                f"execution {status.id} succeeded: there is nothing to resume",
                hint="to run it again: shipyard run SPEC",
            )
        run_dir = self.workspace.run_dir(status.id)
        before = Plan.from_dict(json.loads((run_dir.root / "plan.json").read_text()))
        spec_path = Path(status.spec_path) if status.spec_path else None
        if spec_path is None or not spec_path.exists():
            spec_path = run_dir.root / "spec.yaml"  # the file is gone: its snapshot
        plan = self.plan(
            spec_path,
            status.parameters,
            mode=before.mode,
            max_parallel=before.max_parallel,
        )
        plan = dataclasses.replace(plan, stay_up=before.stay_up)  # brought up with `up`: still so
        secrets = self._secrets_again(plan, params, f"shipyard resume {status.id}")
        old_keys = self.store.cache_keys(status.id)
        kept: set[str] = set()
        changed: list[str] = []
        names = {step.name for step in plan.steps}
        for stage in plan.stages:
            for name in stage:
                if name not in old_keys:
                    continue
                deps_kept = all(dep in kept for dep in plan.step(name).needs)
                if deps_kept and step_key(plan.step(name)) == old_keys[name]:
                    kept.add(name)
                else:
                    changed.append(name)
        gone = sorted(set(old_keys) - names)
        if (changed or gone) and not force:
            what = ", ".join(changed + [f"{name} (no longer in the spec)" for name in gone])
            raise ShipyardError(
                f"cannot resume {status.id}: steps that succeeded would not be the same steps "
                f"now (their command, environment, parameters or inputs changed): {what}",
                hint="--force runs them again with the current spec; or start afresh with "
                "shipyard run",
            )
        text = spec_path.read_text(encoding="utf-8")
        snapshot = run_dir.root / "spec.yaml"
        if snapshot.exists() and snapshot.read_text(encoding="utf-8") != text:
            snapshot.rename(run_dir.root / f"spec.before-resume-{int(time.time())}.yaml")
        write_private(snapshot, text)
        write_private(run_dir.root / "plan.json", json.dumps(plan.to_dict()))
        self.store.reopen(status.id, keep=kept, spec_text=text, spec_digest=plan.spec_digest)
        return self._drive(
            plan, status.id, run_dir, observer=observer, detach=detach, secrets=secrets
        )

    def _secrets_again(
        self, plan: Plan, params: Mapping[str, Any] | None, command: str
    ) -> dict[str, str]:
        """The secrets of an execution run again (resume, restore): only they may be given."""
        other = sorted(set(params or {}) - set(plan.secrets))
        if other:
            raise ParameterError(
                f"'{other[0]}' is not a secret parameter: {command} runs with the parameters "
                "the execution had (only secret ones, which are never stored, are given again)",
                hint="to change parameters, start a new run: shipyard run SPEC -p …",
            )
        return self._secrets(plan, params, again=command)

    def _prepare(self, plan: Plan, spec_path: Path) -> tuple[str, RunDir]:
        """The execution's folder and its record (pending), ready for an engine to take."""
        now = datetime.now(UTC)
        execution_id = new_execution_id(plan.name, now)
        run_dir = self.workspace.run_dir(execution_id)
        spec_text = spec_path.read_text(encoding="utf-8")
        with _no_half_run(run_dir):
            self._record_new(plan, execution_id, run_dir, spec_text, now)
        return execution_id, run_dir

    def _record_new(
        self, plan: Plan, execution_id: str, run_dir: RunDir, spec_text: str, now: datetime
    ) -> None:
        run_dir.create()
        write_private(run_dir.root / "spec.yaml", spec_text)
        write_private(run_dir.root / "plan.json", json.dumps(plan.to_dict()))
        self.store.insert_execution(
            execution_id=execution_id,
            name=plan.name,
            mode=plan.mode,
            spec_path=plan.spec_path,
            spec_digest=plan.spec_digest,
            spec_text=spec_text,
            parameters=dict(plan.parameters),
            run_dir=str(run_dir.root),
            created_at=now.timestamp(),
            units=[(step.name, "step", str(run_dir.log_for(step.name))) for step in plan.steps]
            + [(svc.name, "service", str(run_dir.log_for(svc.name))) for svc in plan.services],
        )

    def _start_supervisor(
        self, execution_id: str, *, secrets: Mapping[str, str], wait: float = 15.0
    ) -> None:
        """Hand the execution to a supervisor process of its own and return once it runs.
        ``secrets`` go with it in memory (a fork) or through a pipe, never through a file."""
        import subprocess
        import sys

        from shipyard.engine.guard import fork_is_safe
        from shipyard.supervisor import fork_supervisor

        run_dir = self.workspace.run_dir(execution_id)
        if fork_is_safe():
            # Forking this process saves a new interpreter's start (~0.1 s); with other threads
            # around a fork is unsafe, and a fresh interpreter is started instead. The store is
            # closed first: SQLite's locks must not be carried across a fork (it reopens).
            self.close()
            returncode = fork_supervisor(self.workspace.home, execution_id, secrets)
        else:
            with open(open_private(run_dir.root / "supervisor.log"), "ab") as log:
                returncode = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "shipyard.supervisor",
                        str(self.workspace.home),
                        execution_id,
                        "--secrets-on-stdin",
                    ],
                    input=json.dumps(dict(secrets)).encode(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    check=False,
                ).returncode
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            pid, _ = self.store.supervisor(execution_id)
            if returncode != 0 or pid is not None:
                break
            time.sleep(0.005)
        pid, _ = self.store.supervisor(execution_id)
        if returncode != 0 or pid is None:
            tail = (run_dir.root / "supervisor.log").read_text(errors="replace")[-1500:]
            raise ShipyardError(
                f"the supervisor of {execution_id} did not start",
                hint=f"its output ({run_dir.root / 'supervisor.log'}):\n{tail}",
            )

    # -- services and agents ------------------------------------------------------------------

    def _service_unit(self, execution_id: str, service: str) -> tuple[ExecutionStatus, UnitStatus]:
        status = self.status(execution_id)
        unit = next((u for u in status.units if u.name == service and u.kind == "service"), None)
        if unit is None:
            names = ", ".join(u.name for u in status.units if u.kind == "service") or "none"
            raise ShipyardError(
                f"{status.id} has no service '{service}'", hint=f"services: {names}"
            )
        return status, unit

    def restart_service(self, execution_id: str, service: str) -> UnitStatus:
        """Restart one service of a running fleet: its stop signal to its process group, then a
        fresh start (counted as a restart); returns once it is healthy again."""
        status, unit = self._service_unit(execution_id, service)
        if status.state.finished or unit.state != UnitState.RUNNING or not unit.pid:
            raise ShipyardError(f"service '{service}' of {status.id} is not running")
        self._control(status, {"op": "service", "action": "restart", "name": service})

        def back(now: UnitStatus) -> bool:
            if now.state.finished and now.state != UnitState.STOPPED:
                raise ShipyardError(f"service '{service}' did not come back: {now.reason}")
            return now.pid != unit.pid and now.health == "healthy"

        return self._await_service(status.id, service, back, what="healthy again")

    def service_stop(self, execution_id: str, service: str) -> UnitStatus:
        """Stop one service of a running fleet (it stays down until `service_start`)."""
        status, _ = self._service_unit(execution_id, service)
        self._control(status, {"op": "service", "action": "stop", "name": service})
        return self._await_service(
            status.id, service, lambda now: now.state == UnitState.STOPPED, what="stopped"
        )

    def service_start(self, execution_id: str, service: str) -> UnitStatus:
        """Start again a service that was stopped (or had failed); returns once it is healthy."""
        status, _ = self._service_unit(execution_id, service)
        self._control(status, {"op": "service", "action": "start", "name": service})

        def healthy(now: UnitStatus) -> bool:
            return now.state == UnitState.RUNNING and now.health == "healthy"

        return self._await_service(status.id, service, healthy, what="healthy")

    def _control(self, status: ExecutionStatus, request: dict[str, Any]) -> dict[str, Any]:
        """One request to the process running ``status`` over its control socket."""
        from shipyard import control

        if status.state.finished:
            raise ShipyardError(
                f"{status.id} is not running ({status.state.value})",
                hint="bring it up: shipyard up",
            )
        return control.request(self.workspace.run_dir(status.id).control, request)

    def _await_service(
        self,
        execution_id: str,
        service: str,
        reached: Callable[[UnitStatus], bool],
        *,
        what: str,
        timeout: float = 60.0,
    ) -> UnitStatus:
        """Poll a service's record until ``reached`` says so; an error after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.status(execution_id).unit(service)
            if reached(now):
                return now
            time.sleep(0.02)
        raise ShipyardError(f"service '{service}' is not {what} after {timeout:g}s")

    def agents_discover(self, folder: str | Path) -> list[DiscoveredAgent]:
        from shipyard.agents import discover

        return discover(Path(folder))

    def agents_deploy(
        self, folder: str | Path, *, max_agents: int | None = None, wait: bool = True
    ) -> ExecutionStatus:
        """Bring up every valid agent of ``folder`` as one fleet (detached)."""
        from shipyard.agents import discover, fleet_spec

        root = Path(folder).resolve()
        text = fleet_spec(root, discover(root), max_agents=max_agents)
        spec = self.workspace.home / "agents" / f"{root.name}.yaml"
        spec.parent.mkdir(parents=True, exist_ok=True)
        spec.write_text(text, encoding="utf-8")
        status = self.run(spec, detach=True)
        return self.wait_healthy(status.id) if wait else status

    def agents_fleet(self, folder: str | Path, *, active: bool = True) -> str:
        """The (running) fleet deployed from ``folder``."""
        from shipyard.agents import _safe

        name = f"agents-{_safe(Path(folder).resolve().name)}"
        for summary in self.list_executions(active_only=active, name=name, limit=1):
            return summary.id
        raise ExecutionNotFound(
            f"no agents of {folder} are deployed", hint=f"shipyard agents deploy {folder}"
        )

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoint_create(self, execution_id: str) -> Checkpoint:
        """Checkpoint a running execution: unit states, and the declared files of its running
        steps (each asked first with its checkpoint signal, if it has one)."""
        from shipyard import checkpoint
        from shipyard.plan.model import Plan

        status = self.status(execution_id)
        if status.state.finished:
            raise ShipyardError(
                f"execution {status.id} is {status.state.value}: only a running one is checkpointed"
            )
        run_dir = self.workspace.run_dir(status.id)
        plan = Plan.from_dict(json.loads((run_dir.root / "plan.json").read_text()))
        running = {u.name: u.pid for u in status.units if u.state == UnitState.RUNNING and u.pid}
        states = {u.name: u.state.value for u in status.units}
        return checkpoint.create(
            run_dir, plan, status.id, states=states, running=running, reason="requested"
        )

    def checkpoint_list(self, execution_id: str | None = None) -> list[Checkpoint]:
        from shipyard import checkpoint

        status = self.status(execution_id)
        return checkpoint.listing(self.workspace.run_dir(status.id))

    def checkpoint_restore(
        self,
        checkpoint_id: str,
        *,
        detach: bool = False,
        observer: Observer | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> ExecutionStatus:
        """A new execution from a checkpoint: steps that had succeeded are not run again; the
        others run, those with saved files getting SHIPYARD_RESTORE_DIR pointing at them.
        ``params``: the secret parameters, given again (as to :meth:`resume`)."""
        from shipyard import checkpoint
        from shipyard.models import Event
        from shipyard.plan.model import Plan

        execution_id, name = checkpoint.split_id(checkpoint_id)
        source = self.workspace.run_dir(self.status(execution_id).id)
        saved = checkpoint.load(source, name)
        folder = checkpoint.verify(source, saved)
        plan = Plan.from_dict(json.loads((source.root / "plan.json").read_text()))
        steps = [
            dataclasses.replace(
                step, env={**step.env, "SHIPYARD_RESTORE_DIR": str(folder / step.name)}
            )
            if step.name in saved.files
            else step
            for step in plan.steps
        ]
        plan = dataclasses.replace(plan, steps=steps)
        secrets = self._secrets_again(plan, params, f"shipyard checkpoint restore {checkpoint_id}")
        new_id, run_dir = self._prepare(plan, source.root / "spec.yaml")
        done = [unit for unit, state in saved.units.items() if state == "succeeded"]
        with self.store.transaction():
            for unit in done:
                self.store.update_unit(
                    new_id, unit, state=UnitState.SUCCEEDED, reason=f"done before {saved.id}"
                )
            self.store.append_events(
                [Event(time.time(), new_id, "restored_from_checkpoint", None, {"id": saved.id})]
            )
        return self._drive(plan, new_id, run_dir, observer=observer, detach=detach, secrets=secrets)

    # -- cleaning ---------------------------------------------------------------------------

    def clean(
        self,
        execution_id: str | None = None,
        *,
        pipeline: str | None = None,
        all_finished: bool = False,
        level: str = "standard",
        preserve_logs: bool = False,
        preserve_outputs: bool | None = None,
        dry_run: bool = False,
    ) -> CleanReport:
        from shipyard import clean
        from shipyard.api import CleanedRun, CleanReport

        if level not in clean.LEVELS:
            raise ShipyardError(
                f"--level {level} is not a clean level",
                hint=f"use one of: {', '.join(clean.LEVELS)}",
            )
        if sum((execution_id is not None, pipeline is not None, all_finished)) != 1:
            raise ShipyardError(
                "say what to clean: one execution id, --pipeline NAME or --all-finished"
            )
        if level == "complete" and (preserve_logs or preserve_outputs):
            raise ShipyardError(
                "--level complete removes the whole run directory, logs and outputs included",
                hint="to keep them, use --level deep with --preserve-logs/--preserve-outputs",
            )
        keep_outputs = level != "complete" if preserve_outputs is None else preserve_outputs
        if execution_id is not None:
            status = self.status(execution_id)
            if not status.state.finished:
                raise ShipyardError(
                    f"execution {status.id} is {status.state.value}: it cannot be cleaned now",
                    hint=f"stop it first: shipyard stop {status.id}",
                )
            targets, skipped = [status.id], []
        else:
            summaries = self.list_executions(name=pipeline, limit=1_000_000)
            targets = [s.id for s in summaries if s.state.finished]
            skipped = [s.id for s in summaries if not s.state.finished]
        runs = []
        for target in targets:
            run_root = self.workspace.run_dir(target).root
            if not run_root.exists() and level != "complete":
                continue
            protected = self._declared_outputs(run_root) if keep_outputs else []
            items = (
                clean.candidates(run_root, level, protected=protected, preserve_logs=preserve_logs)
                if run_root.exists()
                else []
            )
            relative = [str(item.relative_to(run_root.resolve())) for item in items]
            size = sum(clean.size_of(item) for item in items)
            if not dry_run:
                batch = clean.move_to_trash(run_root, items, self.workspace.trash / target)
                if level == "complete":
                    batch.mkdir(parents=True, exist_ok=True)
                    write_private(
                        batch / "records.json", json.dumps(self.store.export_execution(target))
                    )
                    self.store.delete_execution(target)
                    with contextlib.suppress(OSError):
                        run_root.rmdir()
            runs.append(CleanedRun(target, relative, size, records=level == "complete"))
        return CleanReport(level=level, dry_run=dry_run, runs=runs, skipped=skipped)

    def _declared_outputs(self, run_root: Path) -> list[str]:
        from shipyard.workspace import confined_path

        try:
            plan = json.loads((run_root / "plan.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [
            f"{step['name']}/{confined_path(output)}"
            for step in plan["steps"]
            for output in step.get("outputs", [])
        ]

    def clean_undo(self, execution_id: str) -> CleanedRun:
        from shipyard import clean
        from shipyard.api import CleanedRun

        folder = self.workspace.trash / execution_id
        batches = sorted(p for p in folder.glob("*/*") if p.is_dir()) if folder.is_dir() else []
        if not batches:
            raise ShipyardError(
                f"nothing of {execution_id} is in the trash",
                hint="only what `shipyard clean` moved can be put back, until `clean --purge`",
            )
        batch = batches[-1]
        records = batch / "records.json"
        had_records = records.exists()
        if had_records:
            self.store.import_execution(json.loads(records.read_text(encoding="utf-8")))
            records.unlink()
        run_root = self.workspace.run_dir(execution_id).root
        run_root.mkdir(parents=True, exist_ok=True)
        size = clean.size_of(batch)
        restored = clean.restore(batch, run_root)
        return CleanedRun(
            execution_id,
            [str(path.relative_to(run_root)) for path in restored],
            size,
            records=had_records,
        )

    def clean_purge(self) -> int:
        from shipyard import clean

        return clean.purge(self.workspace.trash)

    def stop_impact(self, execution_id: str) -> StopReport:
        """What `stop` would do, without doing it."""
        from shipyard.api import StopReport

        status = self.status(execution_id)
        if status.state.finished:
            raise ShipyardError(
                f"execution {status.id} already finished ({status.state.value})",
                hint="nothing to stop; `shipyard status` shows how it ended",
            )
        # Steps started in the last moments may not be in the store yet: the journal has them.
        journaled = {unit for _, _, unit in self.workspace.run_dir(status.id).started()}
        running = [
            u.name
            for u in status.units
            if u.state == UnitState.RUNNING
            or (u.state == UnitState.PENDING and u.name in journaled)
        ]
        never = [
            u.name
            for u in status.units
            if u.state in (UnitState.PENDING, UnitState.RETRYING) and u.name not in running
        ]
        return StopReport(execution_id=status.id, running=running, never_start=never)

    def stop(
        self,
        execution_id: str,
        *,
        force: bool = False,
        grace: float = 30.0,
        wait: bool = True,
        reason: str = "stopped by `shipyard stop`",
    ) -> StopReport:
        """Stop a running execution, in this process or detached.

        Graceful: nothing new starts, running steps may finish within ``grace`` seconds, then get
        their stop signal (SIGKILL after their own stop timeout). ``force``: every process group
        is killed now. Stopped units keep their logs and records.
        """
        import signal

        from shipyard import control
        from shipyard.errors import ControlUnavailable

        report = self.stop_impact(execution_id)
        pid, _ = self.store.supervisor(report.execution_id)
        self.store.request_stop(report.execution_id, force=force, grace=grace, at=time.time())
        if pid is None or not pid_alive(pid):
            self._reconcile(report.execution_id)
        else:
            socket = self.workspace.run_dir(report.execution_id).control
            request = {"op": "stop", "force": force, "grace": grace, "reason": reason}
            try:
                control.request(socket, request)
            except ControlUnavailable:
                os.kill(pid, signal.SIGTERM)  # the handler reads the request from the store
        final = self.status(report.execution_id)
        if wait:
            deadline = time.monotonic() + (0 if force else grace) + 60
            while not final.state.finished and time.monotonic() < deadline:
                time.sleep(0.1)
                final = self.status(report.execution_id)
        return dataclasses.replace(report, force=force, grace=grace, state=final.state)

    # -- watching ---------------------------------------------------------------------------

    def status(self, execution_id: str | None = None) -> ExecutionStatus:
        wanted = execution_id or self.store.latest_execution_id()
        if wanted is None:
            raise ExecutionNotFound(
                "there are no executions yet", hint="start one with `shipyard run FILE`"
            )
        self._reconcile(wanted)
        status = self.store.get_execution(wanted)
        if status is None:
            raise ExecutionNotFound(
                f"no execution '{wanted}' in {self.workspace.home}",
                hint="`shipyard list` shows the executions; SHIPYARD_HOME selects the state folder",
            )
        if not status.state.finished and all(unit.kind == "step" for unit in status.units):
            status = self._with_estimate(status)
        return status

    def latest_fleet(self, *, active: bool) -> str:
        """The newest execution that has services (a running one, if ``active``)."""
        for summary in self.list_executions(active_only=active, limit=200):
            status = self.store.get_execution(summary.id)
            if status and any(unit.kind == "service" for unit in status.units):
                return summary.id
        raise ExecutionNotFound(
            "no fleet is running" if active else "no fleet has been brought up yet",
            hint="bring one up with `shipyard up FILE`",
        )

    def wait_healthy(self, execution_id: str, *, timeout: float = 300.0) -> ExecutionStatus:
        """Wait until every service of a fleet is healthy, or the fleet has ended: told by
        its supervisor over the control socket, else by watching the store."""
        from shipyard import control
        from shipyard.errors import ControlUnavailable

        deadline = time.monotonic() + timeout
        status = self.status(execution_id)
        socket = self.workspace.run_dir(status.id).control
        if not status.state.finished:
            with contextlib.suppress(ControlUnavailable):
                control.request(socket, {"op": "wait_healthy"}, timeout=timeout)
        while True:
            status = self.status(execution_id)
            services = [unit for unit in status.units if unit.kind == "service"]
            if status.state.finished or all(unit.health == "healthy" for unit in services):
                return status
            if time.monotonic() > deadline:
                raise ShipyardError(
                    f"{execution_id} is not healthy after {timeout:g}s",
                    hint=f"shipyard ps {execution_id} shows which service is not",
                )
            time.sleep(0.01)

    def _with_estimate(self, status: ExecutionStatus) -> ExecutionStatus:
        from datetime import timedelta

        from shipyard.estimate import remaining_seconds

        try:
            plan = json.loads((Path(status.run_dir) / "plan.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return status
        needs = {step["name"]: step["needs"] for step in plan["steps"]}
        now = datetime.now(UTC)
        seconds, basis = remaining_seconds(
            status.units,
            needs,
            self.store.mean_durations(status.name),
            max_parallel=plan["max_parallel"],
            now=now,
        )
        end = now + timedelta(seconds=seconds) if seconds is not None else None
        return dataclasses.replace(status, estimated_end=end, estimate_basis=basis)

    def list_executions(
        self, *, active_only: bool = False, name: str | None = None, limit: int = 50
    ) -> list[ExecutionSummary]:
        for summary in self.store.list_executions(active_only=True, limit=limit):
            self._reconcile(summary.id)
        return self.store.list_executions(active_only=active_only, name=name, limit=limit)

    def _reconcile(self, execution_id: str) -> None:
        """An active execution whose process died (SIGKILL, reboot) becomes ``lost``; the process
        groups of its running units are killed so nothing it started is left behind."""

        state = self.store.execution_state(execution_id)
        if state is None or state.finished:
            return  # the common case, answered by one small query
        pid, heartbeat = self.store.supervisor(execution_id)
        if pid is None:
            return  # not started yet
        stale = heartbeat is not None and time.time() - heartbeat > HEARTBEAT_TIMEOUT
        if pid_alive(pid) and not stale:
            return
        # The spawn journal knows every process started, even those the store has not heard of.
        journal = self.workspace.run_dir(execution_id).started()
        for child, started, _ in journal:
            kill_orphaned_group(child, started)
        marked = kill_marked(execution_id)  # what the journal missed, by its environment
        from shipyard.engine.containment import kill_recorded_cgroup  # only on this rare path

        kill_recorded_cgroup(self.workspace.run_dir(execution_id).root)  # and its cgroup
        from shipyard.recovery import recover

        if recover(self.store, self.workspace.run_dir(execution_id), execution_id):
            return  # it did end: the store missed it (disk full), events.jsonl had it
        why = "stopped answering" if stale and pid_alive(pid) else "died"
        self.store.mark_lost(
            execution_id,
            reason=f"its process (pid {pid}) {why}; its running units were stopped "
            f"(shipyard resume {execution_id} runs what did not finish)",
            at=time.time(),
            started=tuple(
                {unit for _, _, unit in journal if not unit.startswith("_")}
                | {unit for _, unit in marked}
            ),
        )

    def logs(
        self,
        execution_id: str,
        unit: str | None = None,
        *,
        tail: int | None = None,
        grep: str | None = None,
    ) -> Iterator[LogLine]:
        paths = _log_paths(self.status(execution_id), unit)
        pattern = _compile(grep) if grep else None
        return _stream_logs(paths, tail=tail, pattern=pattern)  # checked above, read lazily

    def follow_logs(
        self,
        execution_id: str,
        unit: str | None = None,
        *,
        grep: str | None = None,
        tail: int | None = None,
        poll: float = 0.2,
    ) -> Iterator[LogLine]:
        """New log lines as they are written, until the followed units (every unit when none is
        named) have finished and every line is out. Lines of several units interleave in the
        order they are noticed. Each file is read once, from where the last look ended."""
        from shipyard.api import LogLine
        from shipyard.logfiles import Follower

        status = self.status(execution_id)
        paths = _log_paths(status, unit)
        pattern = _compile(grep) if grep else None
        followers: dict[str, Follower] = {}
        numbers: dict[str, int | None] = {}
        # What is there already (its last ``tail`` lines per unit), then what comes: the
        # follower starts where the backlog ended, so no line is lost or repeated between them.
        for name, path in paths:
            followers[name] = follower = Follower(path)
            numbers[name] = None if tail else 0
            for text in _backlog(path, follower, tail):
                if tail is None:
                    numbers[name] = (numbers[name] or 0) + 1
                if pattern is None or pattern.search(text):
                    yield LogLine(unit=name, number=numbers[name], text=text)
        followed = {u.name for u in status.units if unit is None or u.name == unit}
        while True:
            now = self.status(execution_id)
            finished = now.state.finished or all(
                u.state.finished for u in now.units if u.name in followed
            )
            for name, follower in followers.items():
                for text in follower.poll(final=finished):
                    number = numbers[name]
                    numbers[name] = number = None if number is None else number + 1
                    if pattern is None or pattern.search(text):
                        yield LogLine(unit=name, number=number, text=text)
            if finished:
                return
            time.sleep(poll)


@contextlib.contextmanager
def _no_half_run(run_dir: RunDir) -> Iterator[None]:
    """A run folder that could not be completed (disk full, read-only home) is removed, and
    the disk's error becomes one the user can act on: no folder without a record is left."""
    import shutil

    from shipyard.errors import from_os_error

    try:
        yield
    except OSError as error:
        shutil.rmtree(run_dir.root, ignore_errors=True)
        raise from_os_error(error, "write the run folder", run_dir.root) from None
    except ShipyardError:
        shutil.rmtree(run_dir.root, ignore_errors=True)
        raise


def _warn(text: str) -> None:
    sys.stderr.write("".join(f"shipyard: {line}\n" for line in text.splitlines()))


def _compile(expression: str) -> re.Pattern[str]:
    try:
        return re.compile(expression)
    except re.error as error:
        raise ShipyardError(
            f"--grep '{expression}' is not a valid regular expression: {error}"
        ) from None


def _log_paths(status: ExecutionStatus, unit: str | None) -> list[tuple[str, Path]]:
    """(unit, its log file) of ``unit``, or of every unit; an unknown unit is an error."""
    names = [u.name for u in status.units]
    if unit is not None and unit not in names:
        raise ShipyardError(
            f"execution '{status.id}' has no unit '{unit}'",
            hint=f"its units are: {', '.join(names)}",
        )
    return [
        (record.name, Path(record.log_path))
        for record in status.units
        if (unit is None or record.name == unit) and record.log_path
    ]


def _stream_logs(
    paths: list[tuple[str, Path]], *, tail: int | None, pattern: re.Pattern[str] | None
) -> Iterator[LogLine]:
    """Each unit's lines in turn: a plain tail is read from the end of the files (its lines
    are not numbered); a full read or a search streams from the oldest kept file, and a
    search's tail keeps only the last ``tail`` matches. One generator per line and no more:
    this loop runs for every line of the log."""
    from collections import deque

    from shipyard import logfiles
    from shipyard.api import LogLine

    for name, path in paths:
        if tail and pattern is None:
            for text in logfiles.tail(path, tail):
                yield LogLine(name, None, text)
            continue
        numbered: Iterable[tuple[int, str]] = enumerate(logfiles.read_all(path), start=1)
        if pattern is not None:
            search = pattern.search
            numbered = (item for item in numbered if search(item[1]))
        if tail:
            numbered = deque(numbered, maxlen=tail)  # holds only what will be printed
        for number, text in numbered:
            yield LogLine(name, number, text)


def _backlog(path: Path, follower: Follower, tail: int | None) -> Iterator[str]:
    """What a unit's log holds when following starts: every kept line, or the last ``tail``;
    ``follower`` is left where it ends (the line being written is left to it)."""
    from shipyard import logfiles

    if tail:
        follower.position = logfiles.complete_size(path)
        yield from logfiles.tail(path, tail, stop=follower.position)
        return
    for older in logfiles.unit_files(path)[:-1]:
        yield from logfiles.read_file(older)
    yield from follower.poll()


if TYPE_CHECKING:  # mypy checks that the local implementation satisfies the whole protocol
    from shipyard.api import Operations

    _conforms: Operations = LocalOperations()
