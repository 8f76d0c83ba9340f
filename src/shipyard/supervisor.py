"""Driving an execution to its end: in the foreground, or detached in a supervisor process.

``drive`` runs a prepared execution on a fresh event loop, serving its control socket
(``runs/<id>/control.sock``: what `shipyard stop`, `down`, `restart` and `service` ask, see
:mod:`shipyard.control`) and with the stop signals wired: SIGINT and SIGTERM stop it cleanly, a
second one kills every unit at once. A SIGTERM sent by `shipyard stop` when the socket does
not answer carries its instructions (force, grace) through the store.

``python -m shipyard.supervisor HOME EXECUTION_ID`` is the detached form: it forks once more so
that whoever started it can reap it at once (no zombie, no waiting), starts its own session, and
drives the execution whose plan is in ``runs/<id>/plan.json``. Its PID and heartbeat are in the
store, so ``status`` from any shell can tell when it died.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shipyard.engine.control import Controllable, dispatcher, serve
from shipyard.engine.guard import start_watchdog, stop_watchdog
from shipyard.engine.recorder import Observer
from shipyard.models import ExecutionState
from shipyard.plan.codec import read_plan
from shipyard.plan.model import Plan
from shipyard.plan.secrets import reveal
from shipyard.store.base import Store
from shipyard.workspace import RunDir, Workspace, open_private

if TYPE_CHECKING:
    from shipyard.engine.runners.base import RunnerFactory


class _Executor(Controllable, Protocol):
    async def run(self) -> ExecutionState: ...


def drive(
    store: Store,
    plan: Plan,
    execution_id: str,
    run_dir: RunDir,
    observer: Observer | None = None,
    *,
    secrets: Mapping[str, str] | None = None,
    runners: Mapping[str, RunnerFactory] | None = None,
) -> None:
    """``secrets``: the values of the plan's secret parameters (the plan holds none). They go
    into the units' environment in this process's memory only. ``runners``: where units run,
    made for this execution from its containment (default: the engine's local runner)."""
    if plan.secrets:
        plan = reveal(plan, secrets or {})
    # A resumed execution: what already succeeded stays done, attempts number on.
    done = store.succeeded_units(execution_id)
    attempts = store.attempt_counts(execution_id)
    common: dict[str, Any] = {
        "execution_id": execution_id,
        "run_dir": run_dir,
        "store": store,
        "observer": observer,
        "done": done,
        "attempts": attempts,
    }
    from shipyard.engine.runners.registry import needs_runners

    if runners or needs_runners(plan):
        from shipyard.engine.containment import choose_containment
        from shipyard.engine.runners.registry import plan_runners

        # The runners and the executor share one containment: the run's end sweeps and
        # removes what the runners' units were tracked by.
        containment = choose_containment(execution_id, run_dir.root)
        common["containment"] = containment
        given = {name: make(containment) for name, make in (runners or {}).items()}
        common["runners"] = plan_runners(plan, containment, run_dir.root, given)
    if plan.checkpoint_interval:
        from shipyard.checkpoint import create  # the engine takes its automatic checkpoints so

        common["checkpointer"] = create
    executor: _Executor
    if plan.kind == "pipeline":
        from shipyard.engine.executor import PipelineExecutor  # a fleet does without it

        executor = PipelineExecutor(plan, **common)
    else:
        from shipyard.engine.fleet import FleetExecutor

        executor = FleetExecutor(plan, **common)

    async def run() -> None:
        async with serve(run_dir.control, dispatcher(executor)):
            with _stop_on_signals(executor, store, execution_id), _watching(run_dir, executor):
                try:
                    await executor.run()
                finally:
                    # A runner that holds something for the run (a Slurm allocation) lets go.
                    for runner in common.get("runners", {}).values():
                        aclose = getattr(runner, "aclose", None)
                        if aclose is not None:
                            await aclose()

    from shipyard import supervisors

    # Found by `shipyard ps --all` while it runs, wherever its folder is (or was).
    entry = supervisors.register(
        execution_id, run_dir.root.parent.parent, run_dir.root, run_dir.control
    )
    try:
        asyncio.run(run())
    finally:
        supervisors.unregister(entry)


#: How often a running execution looks whether its run folder is still there (one fstat).
FOLDER_CHECK_INTERVAL = 1.0


def folder_gone(links: int) -> bool:
    """Whether the run folder is gone, from its link count through a descriptor opened when
    the run began: 0 once it is removed; renamed or moved with its working folder it keeps
    its links (and its socket, logs and state, which still work there), so it runs on."""
    return links == 0


@contextlib.contextmanager
def _watching(run_dir: RunDir, executor: Controllable) -> Iterator[None]:
    """While the block runs, stop the execution if its run folder is deleted: its control
    socket, logs and state went with it, so nobody could reach, watch or stop it any more."""
    try:
        folder = os.open(run_dir.root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield
        return

    async def watch() -> None:
        while True:
            await asyncio.sleep(FOLDER_CHECK_INTERVAL)
            if folder_gone(os.fstat(folder).st_nlink):
                executor.request_stop(
                    f"its run folder {run_dir.root} was deleted: nothing could reach it"
                )
                return

    task = asyncio.get_running_loop().create_task(watch(), name="shipyard-folder-watch")
    try:
        yield
    finally:
        task.cancel()
        os.close(folder)


@contextlib.contextmanager
def _stop_on_signals(executor: Controllable, store: Store, execution_id: str) -> Iterator[None]:
    """Install the stop handlers on the running loop; the previous ones come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    received = 0

    def on_signal(name: str) -> None:
        nonlocal received
        received += 1
        if received > 1:
            executor.request_stop(f"interrupted ({name}) again: killing", force=True)
            return
        request = store.stop_request(execution_id) if name == "SIGTERM" else None
        if request is None:
            executor.request_stop(f"interrupted ({name})")
            return
        force, grace = request
        if force:
            executor.request_stop("stopped with --force", force=True)
        else:
            executor.stop_gracefully("stopped by `shipyard stop`", grace=grace)

    for sig, name in ((signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")):
        loop.add_signal_handler(sig, on_signal, name)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def fork_supervisor(home: Path, execution_id: str, secrets: Mapping[str, str]) -> int:
    """Detach by forking this very process (its modules are already imported): the child
    starts a session, forks again so that it is nobody's child, and drives the execution.
    Returns the intermediate child's exit status (0 once the supervisor is on its way)."""
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked process
        code = 1
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            workspace = Workspace(home)
            _redirect(workspace.run_dir(execution_id))
            # Its own connection, opened after the fork: never one carried across it.
            _supervise(workspace, _open_store(workspace), execution_id, secrets)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


def _open_store(workspace: Workspace) -> Store:
    """The store of a supervisor process, made at its entry point (``main`` or the forked
    child) and passed in: ``_supervise`` and ``drive`` take whatever store they are given."""
    from shipyard.store.sqlite import SQLiteStore

    return SQLiteStore(workspace.state_db)


def _redirect(run_dir: RunDir) -> None:
    """A forked supervisor's output goes to ``supervisor.log``; it reads nothing."""
    log = open_private(run_dir.root / "supervisor.log")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)


def _supervise(
    workspace: Workspace,
    store: Store,
    execution_id: str,
    secrets: Mapping[str, str],
    *,
    runners: Mapping[str, RunnerFactory] | None = None,
) -> None:
    """Drive ``execution_id`` (its plan from ``plan.json``) to its end; closes ``store``.
    ``runners``: as :func:`drive`'s (a sweep's array task runs its units locally)."""
    run_dir = workspace.run_dir(execution_id)
    plan = read_plan(run_dir.root / "plan.json")
    # A fleet starts its own watchdog; a detached pipeline gets one here.
    watchdog = start_watchdog(run_dir) if plan.kind == "pipeline" else None
    try:
        drive(store, plan, execution_id, run_dir, secrets=secrets, runners=runners)
    finally:
        store.close()
        if watchdog is not None:
            stop_watchdog(watchdog)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    piped = "--secrets-on-stdin" in args
    args = [arg for arg in args if arg != "--secrets-on-stdin"]
    if len(args) != 2:
        sys.stderr.write(
            "usage: python -m shipyard.supervisor HOME EXECUTION_ID [--secrets-on-stdin]\n"
        )
        return 2
    home, execution_id = Path(args[0]), args[1]
    # The secret parameters' values come through a pipe (JSON), read before detaching: an
    # argument or a variable of ours would be readable in /proc or inherited by every unit.
    secrets = json.loads(sys.stdin.buffer.read() or b"{}") if piped else {}
    if os.fork() != 0:  # the parent returns at once; the child goes on, orphaned on purpose
        return 0
    os.setsid()
    workspace = Workspace(home)
    _supervise(workspace, _open_store(workspace), execution_id, secrets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
