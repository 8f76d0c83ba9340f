"""Runners (engine/runners/): the executors start every unit through the runners they are
given — steps, hooks and services alike — and wire ports and URLs on the runner's host.

The runner here is the real local one, wrapped to note what it was asked to start and to name
its host ``localhost`` (which resolves to 127.0.0.1, so the services really are reachable
there): nothing is simulated, and a unit started behind the executors' back would be missing
from the notes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.engine.containment import CgroupContainment, Containment, choose_containment
from shipyard.engine.executor import PipelineExecutor
from shipyard.engine.fleet import FleetExecutor
from shipyard.engine.runners.base import Handle, Runner, Sampler, UnitLaunch
from shipyard.engine.runners.local import LocalRunner
from shipyard.models import ExecutionState, UnitState
from tests.conftest import SpecWriter
from tests.integration.test_runtime import prepared


@dataclass
class NotingRunner:
    """The local runner, noting each unit it starts; its host is ``localhost``."""

    inner: LocalRunner
    host: str = "localhost"
    name: str = "local"
    started: list[str] = field(default_factory=list)

    def start(self, launch: UnitLaunch) -> Handle:
        self.started.append(launch.unit)
        return self.inner.start(launch)

    def sampler(self) -> Sampler:
        return self.inner.sampler()


def assert_no_cgroup_left(containment: Containment) -> None:
    """The execution's cgroup (where there was one) went with the run's end."""
    if isinstance(containment, CgroupContainment):
        assert not containment.root.exists(), f"a stale cgroup was left: {containment.root}"


PIPELINE = """
name: pipe
hooks:
  prepare: [[sh, -c, "true"]]
  cleanup: [[sh, -c, "true"]]
steps:
  a: {run: [sh, -c, "exit 0"]}
  b: {run: [sh, -c, "exit 1"], needs: [a], retries: {count: 1, backoff: 1ms}}
"""


def test_every_unit_of_a_pipeline_starts_through_its_runner(
    ops: Operations, write_spec: SpecWriter
) -> None:
    plan, execution_id, run_dir = prepared(ops, write_spec(PIPELINE))
    containment = choose_containment(execution_id, run_dir.root)
    runner = NotingRunner(LocalRunner(containment))
    runners: dict[str, Runner] = {"local": runner}
    executor = PipelineExecutor(
        plan,
        execution_id=execution_id,
        run_dir=run_dir,
        store=ops.store,
        runners=runners,
        containment=containment,  # the runner's: the run's end sweeps and removes it
    )
    state = asyncio.run(asyncio.wait_for(executor.run(), 30))
    assert_no_cgroup_left(containment)
    assert state == ExecutionState.FAILED
    assert runner.started == ["_prepare", "a", "b", "b", "_cleanup"]
    # Each start is in the spawn journal, where the watchdog and `status` find it.
    journal = [line.split()[2] for line in run_dir.spawns.read_text().splitlines()]
    assert journal == runner.started


MIXED = """
name: mixed
services:
  web:
    run: >-
      echo "$SHIPYARD_SERVICE_URL" > {out}/url;
      exec python3 -m http.server "$PORT" --bind 127.0.0.1
    shell: true
    port: auto
    health: {{http: /, interval: 50ms}}
steps:
  use: {{run: [sh, -c, 'echo "$SHIPYARD_URL_WEB" > {out}/step-url'], needs: [web]}}
"""


def test_services_and_steps_start_through_the_runner_and_are_wired_on_its_host(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    plan, execution_id, run_dir = prepared(ops, write_spec(MIXED.format(out=out)))
    containment = choose_containment(execution_id, run_dir.root)
    runner = NotingRunner(LocalRunner(containment))
    executor = FleetExecutor(
        plan,
        execution_id=execution_id,
        run_dir=run_dir,
        store=ops.store,
        runners={"local": runner},
        containment=containment,
    )
    state = asyncio.run(asyncio.wait_for(executor.run(), 60))
    assert_no_cgroup_left(containment)
    assert state == ExecutionState.SUCCEEDED
    assert sorted(runner.started) == ["use", "web"]
    status = ops.store.get_execution(execution_id)
    assert status is not None and status.unit("use").state == UnitState.SUCCEEDED
    url = (out / "url").read_text().strip()
    assert url.startswith("http://localhost:")  # the runner's host, not a fixed 127.0.0.1
    assert (out / "step-url").read_text().strip() == url


@pytest.mark.parametrize(
    ("line", "problem", "hint"),
    [
        ("runner: local", None, None),
        ("runner: ssh", "has runner: ssh but the spec lists no hosts", "add hosts:"),
        (
            "runner: sssh",
            "steps.a.runner: unknown runner 'sssh'",
            "write one of: local, ssh, slurm",
        ),
    ],
)
def test_a_step_runner_is_checked_where_it_is_written(
    ops: Operations, write_spec: SpecWriter, line: str, problem: str | None, hint: str | None
) -> None:
    spec = write_spec(f"name: x\nsteps:\n  a:\n    run: [sh, -c, 'true']\n    {line}\n")
    report = ops.validate(spec)
    if problem is None:
        assert report.valid, report
        assert ops.plan(spec).steps[0].runner == "local"
        return
    (found,) = report.problems
    assert problem in found.message
    assert found.line == 5  # the runner: line
    assert hint is not None and hint in (found.hint or ""), found.hint


def test_runners_given_to_local_operations_drive_its_runs(
    tmp_path: Path, write_spec: SpecWriter
) -> None:
    """The composition root's ``runners=`` is used: a foreground run's units all start through
    the runner made for that execution, and the run's end removes its containment."""
    from shipyard.local import LocalOperations
    from shipyard.workspace import Workspace

    made: list[tuple[NotingRunner, Containment]] = []

    def noting(containment: Containment) -> Runner:
        runner = NotingRunner(LocalRunner(containment))
        made.append((runner, containment))
        return runner

    ops = LocalOperations(Workspace(tmp_path / "home"), runners={"local": noting})
    try:
        status = ops.run(write_spec(PIPELINE))
    finally:
        ops.close()
    assert status.state == ExecutionState.FAILED, status
    assert len(made) == 1, "one runner per execution"
    runner, containment = made[0]
    assert runner.started == ["_prepare", "a", "b", "b", "_cleanup"]
    assert_no_cgroup_left(containment)
