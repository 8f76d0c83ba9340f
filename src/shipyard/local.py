"""The local implementation of the operations API: engine and store in this process."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.api import LogLine, Observer, Problem, ValidationReport
from shipyard.errors import ExecutionNotFound, ShipyardError, SpecError
from shipyard.models import ExecutionStatus, ExecutionSummary
from shipyard.store.sqlite import SQLiteStore
from shipyard.workspace import Workspace, new_execution_id

if TYPE_CHECKING:
    from shipyard.plan.model import Plan, RunMode


class LocalOperations:
    """:class:`shipyard.api.Operations` on this machine, state in ``workspace``."""

    def __init__(self, workspace: Workspace | None = None) -> None:
        self.workspace = workspace or Workspace.default()
        self._store: SQLiteStore | None = None

    @property
    def store(self) -> SQLiteStore:
        if self._store is None:
            self._store = SQLiteStore(self.workspace.state_db)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- spec and plan ----------------------------------------------------------------------

    def validate(self, spec_path: str | Path) -> ValidationReport:
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
        from shipyard.engine.executor import machine_capacity
        from shipyard.plan.cache import PlanCache, plan_key
        from shipyard.plan.model import with_history

        path = Path(spec_path).resolve()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            from shipyard.spec.loader import load_spec

            load_spec(spec_path)  # raises the SpecError that explains it
            raise
        overrides = dict(params or {})
        cores = machine_capacity()[0]
        key = plan_key(
            spec_text=text,
            spec_path=str(path),
            overrides=overrides,
            mode=mode,
            max_parallel=max_parallel,
            cores=cores,
        )
        cache = PlanCache(self.workspace.plan_cache)
        plan = cache.get(key)
        if plan is None:
            from shipyard.plan.build import build_plan
            from shipyard.spec.loader import load_spec_text

            loaded = load_spec_text(text, path)
            plan = build_plan(loaded, overrides, mode=mode, cores=cores, max_parallel=max_parallel)
            cache.put(key, plan)
        return with_history(plan, self.store.mean_durations(plan.name))

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
    ) -> ExecutionStatus:
        import asyncio

        from shipyard.engine.executor import PipelineExecutor

        plan = self.plan(spec_path, params, mode=mode, max_parallel=max_parallel)
        now = datetime.now(UTC)
        execution_id = new_execution_id(plan.name, now)
        run_dir = self.workspace.run_dir(execution_id)
        run_dir.create()
        spec_text = Path(spec_path).read_text(encoding="utf-8")
        (run_dir.root / "spec.yaml").write_text(spec_text, encoding="utf-8")
        (run_dir.root / "plan.json").write_text(json.dumps(plan.to_dict()), encoding="utf-8")
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
            units=[(step.name, "step", str(run_dir.log_for(step.name))) for step in plan.steps],
        )
        executor = PipelineExecutor(
            plan, execution_id=execution_id, run_dir=run_dir, store=self.store, observer=observer
        )

        async def drive() -> None:
            with _stop_on_signals(executor):
                await executor.run()

        asyncio.run(drive())
        return self.status(execution_id)

    # -- watching ---------------------------------------------------------------------------

    def status(self, execution_id: str | None = None) -> ExecutionStatus:
        wanted = execution_id or self.store.latest_execution_id()
        if wanted is None:
            raise ExecutionNotFound(
                "there are no executions yet", hint="start one with `shipyard run FILE`"
            )
        status = self.store.get_execution(wanted)
        if status is None:
            raise ExecutionNotFound(
                f"no execution '{wanted}' in {self.workspace.home}",
                hint="`shipyard list` shows the executions; SHIPYARD_HOME selects the state folder",
            )
        return status

    def list_executions(
        self, *, active_only: bool = False, name: str | None = None, limit: int = 50
    ) -> list[ExecutionSummary]:
        return self.store.list_executions(active_only=active_only, name=name, limit=limit)

    def logs(
        self,
        execution_id: str,
        unit: str | None = None,
        *,
        tail: int | None = None,
        grep: str | None = None,
    ) -> list[LogLine]:
        status = self.status(execution_id)
        names = [u.name for u in status.units]
        if unit is not None and unit not in names:
            raise ShipyardError(
                f"execution '{status.id}' has no unit '{unit}'",
                hint=f"its units are: {', '.join(names)}",
            )
        pattern = _compile(grep) if grep else None
        lines: list[LogLine] = []
        for record in status.units:
            if unit is not None and record.name != unit:
                continue
            if not record.log_path:
                continue
            selected = [
                LogLine(unit=record.name, number=number, text=text)
                for number, text in _read_lines(Path(record.log_path))
                if pattern is None or pattern.search(text)
            ]
            lines.extend(selected[-tail:] if tail else selected)
        return lines


def _compile(expression: str) -> re.Pattern[str]:
    try:
        return re.compile(expression)
    except re.error as error:
        raise ShipyardError(
            f"--grep '{expression}' is not a valid regular expression: {error}"
        ) from None


def _read_lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                yield number, line.rstrip("\n")
    except FileNotFoundError:
        return


@contextlib.contextmanager
def _stop_on_signals(executor: Any) -> Iterator[None]:
    """SIGINT/SIGTERM stop the execution cleanly; a second one kills every unit at once.

    Installed on the running loop and removed afterwards, so the caller's handlers come back.
    """
    import asyncio

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    received = 0

    def on_signal(name: str) -> None:
        nonlocal received
        received += 1
        if received == 1:
            executor.request_stop(f"interrupted ({name})")
        else:
            executor.request_stop(f"interrupted ({name}) again: killing", force=True)

    for sig, name in ((signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")):
        loop.add_signal_handler(sig, on_signal, name)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


if TYPE_CHECKING:  # mypy checks that the local implementation satisfies the whole protocol
    from shipyard.api import Operations

    _conforms: Operations = LocalOperations()
