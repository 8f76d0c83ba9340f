"""Steps and services in one spec, with real processes on 127.0.0.1: a service waiting for the
step that prepares its data, a step waiting for the service it tests, and how such a run ends."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from shipyard.api import Operations
from shipyard.engine.liveness import pid_alive
from shipyard.errors import SpecError
from shipyard.models import ExecutionState, UnitState
from tests.conftest import SpecWriter
from tests.integration.test_lifecycle import wait_for

PY = sys.executable
SERVE = f"exec {PY} -m http.server --bind 127.0.0.1 --directory site $PORT"
FETCH = (
    "import os, urllib.request; "
    "url = os.environ['SHIPYARD_URL_WEB'] + '/data.txt'; "
    "print(urllib.request.urlopen(url).read().decode().strip()); "
    "print('connected=' + os.environ['CONNECTED_AGENTS'])"
)


def load_test_spec(
    write_spec: SpecWriter,
    prepare: str = "echo prepared > site/data.txt",
    load: str = f'[{PY}, -c, "{FETCH}"]',
) -> Path:
    return write_spec(
        f"""
        name: mixed
        execution: {{base_port: 18600}}
        steps:
          prepare-data:
            run: "mkdir -p site && {prepare}"
            shell: true
          load-test:
            needs: [web]
            run: {load}
        services:
          web:
            run: '{SERVE}'
            shell: true
            port: auto
            health: {{http: /data.txt, interval: 50ms}}
            readiness_timeout: 20s
            depends_on: [prepare-data]
        """
    )


def events(ops: Operations, execution_id: str) -> list[dict[str, Any]]:
    path = ops.workspace.run_dir(execution_id).events
    return [json.loads(line) for line in path.read_text().splitlines()]


def first(found: list[dict[str, Any]], action: str, unit: str) -> float:
    return next(e["ts"] for e in found if e["action"] == action and e.get("unit") == unit)


def test_run_waits_for_each_side_then_brings_the_fleet_down(
    ops: Operations, write_spec: SpecWriter
) -> None:
    status = ops.run(load_test_spec(write_spec))
    assert status.state == ExecutionState.SUCCEEDED, status.reason
    states = {unit.name: unit.state for unit in status.units}
    assert states == {
        "prepare-data": UnitState.SUCCEEDED,
        "load-test": UnitState.SUCCEEDED,
        "web": UnitState.STOPPED,
    }
    web = status.unit("web")
    output = [line.text for line in ops.logs(status.id, "load-test")]
    assert output == ["prepared", f"connected=http://127.0.0.1:{web.port}"]
    found = events(ops, status.id)
    # The service waited for the step that writes what it serves ...
    assert first(found, "service_started", "web") >= first(found, "unit_finished", "prepare-data")
    # ... and the load test for the service to be healthy.
    assert first(found, "unit_started", "load-test") >= first(found, "service_healthy", "web")
    # A stopped service shows no pid (issue 11 item 10); the one it ran as is in its event.
    assert web.pid is None
    (pid,) = [e["pid"] for e in found if e["action"] == "service_started" and e["unit"] == "web"]
    assert not pid_alive(pid), f"the service's process {pid} outlived the run"


def test_up_keeps_the_services_once_the_steps_are_done(
    ops: Operations, write_spec: SpecWriter
) -> None:
    started = ops.up(load_test_spec(write_spec), detach=True)
    status = ops.wait_healthy(started.id, timeout=30)
    assert status.state == ExecutionState.RUNNING, status.reason
    wait_for(lambda: ops.status(started.id).unit("load-test").state.finished)
    assert ops.status(started.id).unit("load-test").state == UnitState.SUCCEEDED
    web = ops.status(started.id).unit("web")
    assert web.state == UnitState.RUNNING and web.pid is not None and pid_alive(web.pid)
    report = ops.stop(started.id, grace=0.0)
    assert report.state == ExecutionState.STOPPED
    assert not pid_alive(web.pid)


def test_a_failed_step_keeps_the_service_that_waits_for_it_from_starting(
    ops: Operations, write_spec: SpecWriter
) -> None:
    status = ops.run(load_test_spec(write_spec, prepare="exit 4"))
    assert status.state == ExecutionState.FAILED
    web = status.unit("web")
    assert web.state == UnitState.SKIPPED and web.pid is None
    assert "prepare-data" in (web.reason or "")
    assert status.unit("load-test").state == UnitState.SKIPPED


def test_a_service_that_never_turns_healthy_skips_the_steps_needing_it(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        """
        name: unhealthy
        steps:
          probe: {needs: [db], run: [echo, never]}
          unrelated: {run: [echo, ran]}
        services:
          db:
            run: [sleep, '30']
            health: {exec: ['false'], interval: 50ms}
            readiness_timeout: 0.5s
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.FAILED
    assert "'db' was not healthy within 0.5s" in (status.reason or "")
    assert status.unit("probe").state == UnitState.SKIPPED
    assert not pid_alive(status.unit("db").pid or 0)


def test_depends_on_started_does_not_wait_for_health(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        """
        name: started-only
        services:
          slow:
            run: [sh, -c, 'sleep 0.8; touch ready; exec sleep 30']
            health: {exec: [test, -f, ready], interval: 50ms}
          eager:
            run: [sleep, '30']
            depends_on: {slow: started}
          patient:
            run: [sleep, '30']
            depends_on: {slow: healthy}
        """
    )
    started = ops.up(spec, detach=True)
    status = ops.wait_healthy(started.id, timeout=30)
    assert status.state == ExecutionState.RUNNING, status.reason
    ops.stop(started.id, grace=0.0)
    found = events(ops, started.id)
    slow_healthy = first(found, "service_healthy", "slow")
    assert first(found, "service_started", "eager") < slow_healthy
    assert first(found, "service_started", "patient") >= slow_healthy


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        (
            "name: x\nsteps:\n  a: {run: [true]}\nservices:\n  a: {run: [true]}\n",
            "'a' is both a step and a service",
            5,
        ),
        (
            "name: x\nsteps:\n  check: {needs: [web], run: [true]}\n"
            "services:\n  web: {run: [true], depends_on: [check]}\n",
            "steps and services wait for each other: web → check → web",
            3,
        ),
        (
            "name: x\nsteps:\n  prep: {run: [true]}\n"
            "services:\n  web: {run: [true], depends_on: {prep: healthy}}\n",
            "waits for step 'prep' to be healthy, which a step never is",
            5,
        ),
        (
            "name: x\nservices:\n  a: {run: [true], depends_on: {b: completed_successfully}}\n"
            "  b: {run: [true]}\n",
            "waits for service 'b' to complete",
            3,
        ),
        (
            "name: x\nsteps:\n  s: {needs: [wbe], run: [true]}\nservices:\n  web: {run: [true]}\n",
            "needs 'wbe', which is not a step or a service",
            3,
        ),
        (
            "name: x\nservices:\n  a: {run: [true], depends_on: [bee]}\n  b: {run: [true]}\n",
            "depends on 'bee', which is neither a service nor a step",
            3,
        ),
    ],
)
def test_spec_errors_across_steps_and_services(
    ops: Operations, write_spec: SpecWriter, text: str, message: str, line: int
) -> None:
    with pytest.raises(SpecError) as caught:
        ops.plan(write_spec(text))
    problems = caught.value.problems
    assert any(message in p.message for p in problems), [p.message for p in problems]
    hit = next(p for p in problems if message in p.message)
    assert hit.location is not None and hit.location.line == line


def test_a_failed_run_resumes_keeping_its_steps_and_bringing_the_service_up_again(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    flag = tmp_path / "fixed"
    spec = load_test_spec(write_spec, load=f'[sh, -c, "test -f {flag}"]')
    failed = ops.run(spec)
    assert failed.state == ExecutionState.FAILED
    assert failed.unit("load-test").state == UnitState.FAILED
    flag.write_text("")
    resumed = ops.resume(failed.id)
    assert resumed.state == ExecutionState.SUCCEEDED, resumed.reason
    assert resumed.unit("prepare-data").attempts == 1  # kept, not run again
    assert resumed.unit("load-test").attempts == 2
    assert resumed.unit("web").state == UnitState.STOPPED
