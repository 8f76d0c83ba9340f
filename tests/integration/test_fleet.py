"""Fleets with real processes on 127.0.0.1: order, wiring, restarts, health, down, lost."""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.engine.liveness import pid_alive
from shipyard.models import ExecutionState, UnitState
from tests.conftest import SpecWriter
from tests.integration.test_lifecycle import wait_for

PY = sys.executable


def fleet_spec(write_spec: SpecWriter, extra: str = "", restart: str = "") -> Path:
    return write_spec(
        f"""
        name: fleet
        execution: {{base_port: 18300}}
        topology: {{type: hub-spoke, hub: hub, spokes: [left, right]}}
        services:
          left: {{run: 'exec {PY} -m http.server --bind 127.0.0.1 $PORT', shell: true, port: auto,
                 health: {{http: /, interval: 0.2s}} {restart}}}
          right: {{run: 'exec {PY} -m http.server --bind 127.0.0.1 $PORT', shell: true, port: auto,
                  health: {{tcp: true, interval: 0.2s}}}}
          hub:
            run: >-
              echo "peers=$CONNECTED_AGENTS left=$SHIPYARD_URL_LEFT";
              exec {PY} -m http.server --bind 127.0.0.1 $PORT
            shell: true
            port: auto
            health: {{http: /, interval: 0.2s}}
        {extra}
        """
    )


def up(ops: Operations, spec: Path) -> str:
    status = ops.run(spec, detach=True)
    healthy = ops.wait_healthy(status.id, timeout=60)
    assert healthy.state == ExecutionState.RUNNING, healthy.reason
    return status.id


def test_up_wires_and_orders_the_fleet_then_down_leaves_nothing(
    ops: Operations, write_spec: SpecWriter
) -> None:
    execution_id = up(ops, fleet_spec(write_spec))
    status = ops.status(execution_id)
    ports = {unit.name: unit.port for unit in status.units}
    assert len(set(ports.values())) == 3 and all(p and p >= 18300 for p in ports.values())
    hub_log = [line.text for line in ops.logs(execution_id, "hub")]
    left, right = f"http://127.0.0.1:{ports['left']}", f"http://127.0.0.1:{ports['right']}"
    assert f"peers={left},{right} left={left}" in hub_log
    # Spokes were healthy before the hub started.
    events = [(e.action, e.unit) for _, e in ops.store.events(execution_id)]
    hub_start = events.index(("service_started", "hub"))
    assert events.index(("service_healthy", "left")) < hub_start
    assert events.index(("service_healthy", "right")) < hub_start
    pids = [unit.pid for unit in status.units]
    ops.stop(execution_id, grace=0)
    down = ops.status(execution_id)
    assert down.state == ExecutionState.STOPPED
    assert all(unit.state == UnitState.STOPPED for unit in down.units)
    assert not any(pid_alive(pid) for pid in pids if pid)
    # The stop went in reverse start order: the hub first.
    events = [(e.action, e.unit) for _, e in ops.store.events(execution_id)]
    assert events.index(("service_stopped", "hub")) < events.index(("service_stopped", "left"))


def test_a_killed_service_comes_back_with_a_new_pid(
    ops: Operations, write_spec: SpecWriter
) -> None:
    execution_id = up(ops, fleet_spec(write_spec, restart=", restart: {backoff: 50ms}"))
    before = ops.status(execution_id).unit("left")
    assert before.pid is not None
    os.kill(before.pid, signal.SIGKILL)
    wait_for(
        lambda: (
            (u := ops.status(execution_id).unit("left")).restarts == 1
            and u.health == "healthy"
            and u.pid != before.pid
        )
    )
    ops.stop(execution_id, grace=0)


def test_a_service_that_keeps_crashing_is_failed_after_max_restarts(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        """
        name: crashy
        execution: {on_service_failure: keep-running}
        services:
          ok: {run: [sleep, '60']}
          bad: {run: [sh, -c, 'exit 3'], restart: {max_restarts: 2, backoff: 10ms}}
        """
    )
    status = ops.run(spec, detach=True)
    wait_for(lambda: ops.status(status.id).unit("bad").state == UnitState.FAILED)
    bad = ops.status(status.id).unit("bad")
    assert bad.restarts == 2 and "restarts used up" in (bad.reason or "")
    assert ops.status(status.id).state == ExecutionState.RUNNING  # keep-running
    ops.stop(status.id, grace=0)


def test_failing_health_restarts_the_service(ops: Operations, write_spec: SpecWriter) -> None:
    spec = write_spec(
        f"""
        name: sick
        services:
          flaky:
            run: [{PY}, -c, "import os,time; time.sleep(0.1); open('up','w'); time.sleep(60)"]
            health: {{exec: [test, -e, up], interval: 0.1s, failure_threshold: 2}}
            restart: {{backoff: 10ms}}
        """
    )
    status = ops.run(spec, detach=True)
    ops.wait_healthy(status.id, timeout=30)
    (spec.parent / "up").unlink()  # the probe fails from now on, until the restart writes it
    wait_for(lambda: ops.status(status.id).unit("flaky").restarts >= 1)
    ops.stop(status.id, grace=0)


def test_down_kills_a_grandchild_that_ignores_sigterm(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(
        f"""
        name: stubborn
        services:
          s:
            run: sh -c 'trap "" TERM; echo $$ > {tmp_path}/grandchild; sleep 60' & wait
            shell: true
            stop: {{timeout: 300ms}}
        """
    )
    status = ops.run(spec, detach=True)
    wait_for(lambda: (tmp_path / "grandchild").exists())
    ops.stop(status.id, grace=0)
    assert not pid_alive(int((tmp_path / "grandchild").read_text()))


def test_a_killed_supervisor_takes_its_services_down_and_the_fleet_is_lost(
    ops: Operations, write_spec: SpecWriter
) -> None:
    execution_id = up(ops, fleet_spec(write_spec))
    pids = [unit.pid for unit in ops.status(execution_id).units]
    supervisor, _ = ops.store.supervisor(execution_id)
    assert supervisor is not None
    os.kill(supervisor, signal.SIGKILL)
    # The watchdog takes the services down by itself: nobody has to ask for a status first.
    wait_for(lambda: not any(pid_alive(pid) for pid in pids if pid), timeout=10)
    assert ops.status(execution_id).state == ExecutionState.LOST


def test_a_taken_port_is_refused_before_anything_starts(
    ops: Operations, write_spec: SpecWriter
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        spec = write_spec(
            f"name: clash\nservices:\n  a: {{run: [sleep, '60'], port: {port}}}\n"
            "  b: {run: [sleep, '60']}\n"
        )
        status = ops.run(spec)
    assert status.state == ExecutionState.FAILED
    assert f"port {port} of service 'a' is already in use" in (status.reason or "")
    assert all(unit.pid is None for unit in status.units)


def test_running_out_of_ports_at_the_top_of_the_range_is_a_clear_failure(
    ops: Operations, write_spec: SpecWriter
) -> None:
    """Allocation went past 65535 and bind() raised OverflowError (a traceback from plan, up
    and run) instead of the error it has for this."""
    spec = write_spec(
        "name: top\nexecution: {base_port: 65534}\n"
        "services:\n  w: {run: [sleep, '60'], port: auto, replicas: 4}\n"
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.FAILED
    assert "no free port left above execution.base_port" in (status.reason or "")
    assert all(unit.pid is None for unit in status.units)


A2A_AGENT = Path(__file__).resolve().parents[2] / "examples" / "agents" / "a2a_agent.py"


def test_a2a_health_checks_the_agent_card_of_a_real_a2a_sdk_agent(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        f"""
        name: a2a
        services:
          forecast:
            run: [{PY}, {A2A_AGENT}]
            port: auto
            health: {{a2a: true, interval: 0.2s, timeout: 2s}}
        """
    )
    execution_id = up(ops, spec)
    assert ops.status(execution_id).unit("forecast").health == "healthy"
    ops.stop(execution_id, grace=0)


@pytest.mark.parametrize(
    ("service", "reason"),
    [
        (f"run: 'exec {PY} -m http.server --bind 127.0.0.1 $PORT', shell: true", "no card"),
        (f"run: [{PY}, {A2A_AGENT}], env: {{AGENT_NAME: somebody-else}}", "another name"),
    ],
)
def test_a2a_health_fails_without_a_card_or_with_another_agents_card(
    ops: Operations, write_spec: SpecWriter, service: str, reason: str
) -> None:
    spec = write_spec(
        "name: not-a2a\nservices:\n"
        f"  agent: {{{service}, port: auto, health: {{a2a: true, interval: 0.1s}},"
        " readiness_timeout: 3s}\n"
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.FAILED, reason
    assert "service 'agent' was not healthy within 3s" in (status.reason or "")


def test_one_service_can_be_stopped_and_started_while_the_fleet_runs(
    ops: Operations, write_spec: SpecWriter
) -> None:
    execution_id = up(ops, fleet_spec(write_spec))
    old = ops.status(execution_id).unit("right").pid
    stopped = ops.service_stop(execution_id, "right")
    assert stopped.state == UnitState.STOPPED
    assert old is not None and not pid_alive(old)
    assert ops.status(execution_id).unit("left").state == UnitState.RUNNING  # the rest stays up
    started = ops.service_start(execution_id, "right")
    assert started.health == "healthy" and started.pid != old
    ops.stop(execution_id, grace=0)


def test_replicas_each_get_a_port_and_the_hub_talks_to_all_of_them(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        f"""
        name: replicated
        execution: {{base_port: 18500}}
        topology: {{type: hub-spoke, hub: hub, spokes: [worker]}}
        services:
          worker:
            run: 'exec {PY} -m http.server --bind 127.0.0.1 $PORT'
            shell: true
            port: auto
            replicas: 3
            health: {{tcp: true, interval: 0.1s}}
          hub:
            run: 'echo "peers=$CONNECTED_AGENTS"; exec {PY} -m http.server --bind 127.0.0.1 $PORT'
            shell: true
            port: auto
            health: {{tcp: true, interval: 0.1s}}
        """
    )
    execution_id = up(ops, spec)
    units = {unit.name: unit for unit in ops.status(execution_id).units}
    assert sorted(units) == ["hub", "worker-1", "worker-2", "worker-3"]
    urls = [units[f"worker-{i}"].url for i in (1, 2, 3)]
    assert len(set(urls)) == 3
    assert f"peers={','.join(str(u) for u in urls)}" in [
        line.text for line in ops.logs(execution_id, "hub")
    ]
    ops.stop(execution_id, grace=0)


def test_two_fleets_brought_up_together_never_share_an_auto_port(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """Fleet a's service listens only seconds after it started, as real servers do; fleet b,
    brought up meanwhile from the same base port, found that port free by binding and took it
    too, and one of the two services could not listen. A claim held by a's supervisor keeps b
    off it."""
    base = int(os.environ.get("SHIPYARD_BASE_PORT", "8100")) + 500
    late = f"sleep 4; exec {PY} -m http.server --bind 127.0.0.1 $PORT"
    specs = [
        write_spec(
            f"name: late-{n}\nexecution: {{base_port: {base}}}\nservices:\n"
            f"  web: {{run: '{late}', shell: true, port: auto, readiness_timeout: 30s,"
            " health: {tcp: true, interval: 0.2s}}\n",
            name=f"late-{n}.yaml",
        )
        for n in ("a", "b")
    ]
    first = ops.run(specs[0], detach=True)
    wait_for(lambda: ops.status(first.id).unit("web").pid is not None, timeout=30)
    second = ops.run(specs[1], detach=True)
    wait_for(lambda: ops.status(second.id).unit("web").pid is not None, timeout=30)
    assert ops.status(first.id).unit("web").pid is not None
    ports = [ops.status(e.id).unit("web").port for e in (first, second)]
    assert ports[0] != ports[1], f"both fleets took port {ports[0]}"
    for execution in (first, second):
        healthy = ops.wait_healthy(execution.id, timeout=60)
        assert healthy.state == ExecutionState.RUNNING, healthy.reason
    for execution in (first, second):
        ops.stop(execution.id)
