"""No process outlives its unit, even one that left its process group (``setsid``) and ignores
SIGTERM: at a step's normal end, at its timeout, at `stop`, at a service's `down` and restart.

Every test runs twice: with a cgroup v2 per unit (where this machine allows it) and with the
``SHIPYARD_UNIT`` environment marker the engine falls back to elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.engine.containment import (
    CONTAINMENT_VARIABLE,
    CgroupContainment,
    CgroupScope,
    UnitScope,
    choose_containment,
)
from shipyard.engine.liveness import pid_alive
from shipyard.models import ExecutionState, UnitState
from tests.conftest import SpecWriter, missing_component
from tests.integration.test_lifecycle import wait_for


def _cgroup_available(tmp_path: Path) -> bool:
    containment = choose_containment("exec_probe_cgroup", tmp_path)
    containment.close()
    return containment.mechanism == "cgroup"


@pytest.fixture(params=["cgroup", "marker"])
def mechanism(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    """The containment the engine must use; forced through the environment, which detached
    supervisors inherit."""
    wanted: str = request.param
    if wanted == "cgroup" and not _cgroup_available(tmp_path):
        missing_component("no writable cgroup2 hierarchy on this machine")
    monkeypatch.setenv(CONTAINMENT_VARIABLE, wanted)
    yield wanted


def escaping(pids: Path) -> str:
    """Shell text that starts a process in a session of its own (out of the unit's process
    group) which ignores SIGTERM and has a child, writes both PIDs to ``pids`` and waits until
    they are written."""
    return (
        f'setsid sh -c \'trap "" TERM; sleep 300 & echo $$ $! > {pids}.tmp; '
        f"mv {pids}.tmp {pids}; wait' & "
        f"while [ ! -s {pids} ]; do sleep 0.01; done"
    )


# A later step's check: fails, naming them, if any of the PIDs is still running (zombies,
# which an init that does not reap may keep, do not count).
STILL_RUNNING = (
    "for pid in $(cat {pids}); do "
    "state=$(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null); "
    'case "$state" in ""|Z|X) ;; *) echo "still running: $pid"; exit 1;; esac; '
    "done"
)


def escaped_pids(pids: Path) -> list[int]:
    wait_for(lambda: pids.exists() and pids.read_text().strip() != "", timeout=20)
    found = [int(pid) for pid in pids.read_text().split()]
    assert len(found) == 2 and all(pid_alive(pid) for pid in found), found
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "?"


def assert_gone(pids: list[int], *, within: float = 15.0) -> None:
    """Every PID is gone (or a zombie) within ``within`` seconds; else fail naming the ones
    left and their command lines."""
    deadline = time.monotonic() + within
    while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = {pid: _cmdline(pid) for pid in pids if pid_alive(pid)}
    assert not left, f"processes outlived their unit: {left}"


def _cgroup(pid: int) -> str:
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    return next(line[3:] for line in lines if line.startswith("0::"))


def _leader(ops: Operations, execution_id: str, unit: str) -> int:
    """The PID of the unit's running leader, once the store has it."""
    wait_for(lambda: ops.status(execution_id).unit(unit).pid is not None)
    pid = ops.status(execution_id).unit(unit).pid
    assert pid is not None
    return pid


def assert_tracked(
    ops: Operations, pids: list[int], execution_id: str, unit: str, mechanism: str
) -> None:
    """Running processes that left their unit's group are still its own: in its cgroup (they
    were born in it: the one its running leader is in, a unit cgroup of the execution), or
    carrying its marker."""
    for pid in pids:
        if mechanism == "cgroup":
            cgroup, leader = _cgroup(pid), _leader(ops, execution_id, unit)
            assert f"/shipyard.{execution_id}/unit." in cgroup, (pid, cgroup)
            assert cgroup == _cgroup(leader), (pid, cgroup, "leader", leader, _cgroup(leader))
        else:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            marker = f"SHIPYARD_UNIT={execution_id}/{unit}#".encode()
            assert any(v.startswith(marker) for v in environ), (pid, "no unit marker")


def assert_contained(ops: Operations, execution_id: str, mechanism: str) -> None:
    """The engine said which mechanism it used, and left no cgroup behind."""
    events = [event for _, event in ops.store.events(execution_id)]
    used = [event.data for event in events if event.action == "containment"]
    assert used and used[0]["mechanism"] == mechanism, used
    if mechanism == "cgroup":
        cgroup = Path(used[0]["detail"])
        assert cgroup.name == f"shipyard.{execution_id}"
        deadline = time.monotonic() + 10
        while cgroup.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not cgroup.exists(), f"a stale cgroup was left behind: {cgroup}"


def test_a_step_that_exits_normally_takes_what_it_left_running_with_it(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path, mechanism: str
) -> None:
    pids = tmp_path / "escaped"
    spec = write_spec(
        f"""
        name: leaves
        steps:
          leaves:
            run: {json.dumps(escaping(pids))}
            shell: true
            stop: {{timeout: 300ms}}
          after:
            run: {json.dumps(STILL_RUNNING.format(pids=pids))}
            shell: true
            needs: [leaves]
        """
    )
    status = ops.run(spec)
    escaped = [int(pid) for pid in pids.read_text().split()]
    assert_gone(escaped)
    # Gone when the step ended, not only when the execution did (its last sweep).
    after = status.unit("after")
    log = [line.text for line in ops.logs(status.id, "after")]
    assert after.state == UnitState.SUCCEEDED, f"still running after the step had ended: {log}"
    assert status.state == ExecutionState.SUCCEEDED, status.reason
    unit = status.unit("leaves")
    assert unit.reason == "exited 0; processes it left running were stopped"
    assert_contained(ops, status.id, mechanism)
    if mechanism == "marker":
        # They were re-parented to the engine (this process: a foreground run), which reaped
        # them: no zombie is left behind in it either.
        zombies = [pid for pid in escaped if Path(f"/proc/{pid}").exists()]
        assert not zombies, f"left as zombies of the engine: {zombies}"


def test_a_step_that_times_out_takes_what_it_left_running_with_it(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path, mechanism: str
) -> None:
    pids = tmp_path / "escaped"
    spec = write_spec(
        f"""
        name: slow
        steps:
          slow:
            run: {json.dumps(escaping(pids) + "; sleep 300")}
            shell: true
            timeout: 1s
            stop: {{timeout: 300ms}}
        """
    )
    status = ops.run(spec)
    escaped = [int(pid) for pid in pids.read_text().split()]
    assert_gone(escaped)
    assert status.unit("slow").state == UnitState.FAILED
    assert "timed out" in (status.unit("slow").reason or "")
    assert_contained(ops, status.id, mechanism)


def test_a_stopped_step_takes_what_it_left_running_with_it(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path, mechanism: str
) -> None:
    pids = tmp_path / "escaped"
    spec = write_spec(
        f"""
        name: stopped
        steps:
          busy:
            run: {json.dumps(escaping(pids) + "; sleep 300")}
            shell: true
            stop: {{timeout: 300ms}}
        """
    )
    status = ops.run(spec, detach=True)
    escaped = escaped_pids(pids)
    assert_tracked(ops, escaped, status.id, "busy", mechanism)
    ops.stop(status.id, grace=0)
    assert_gone(escaped)
    final = ops.status(status.id)
    assert final.state == ExecutionState.CANCELLED, final.reason
    assert_contained(ops, status.id, mechanism)


def service_spec(write_spec: SpecWriter, pids: Path) -> Path:
    return write_spec(
        f"""
        name: daemonizing
        services:
          s:
            run: {json.dumps(escaping(pids) + "; exec sleep 300")}
            shell: true
            stop: {{timeout: 300ms}}
        """
    )


def test_a_service_brought_down_takes_what_it_left_running_with_it(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path, mechanism: str
) -> None:
    pids = tmp_path / "escaped"
    status = ops.run(service_spec(write_spec, pids), detach=True)
    escaped = escaped_pids(pids)
    assert_tracked(ops, escaped, status.id, "s", mechanism)
    ops.stop(status.id, grace=0)
    assert_gone(escaped)
    assert_contained(ops, status.id, mechanism)


def test_a_restarted_service_takes_what_it_left_running_with_it(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path, mechanism: str
) -> None:
    pids = tmp_path / "escaped"
    status = ops.run(service_spec(write_spec, pids), detach=True)
    ops.wait_healthy(status.id, timeout=30)
    first = escaped_pids(pids)
    pids.unlink()
    ops.restart_service(status.id, "s")
    second = escaped_pids(pids)  # the new start's own: alive, and not the old ones
    assert not set(first) & set(second)
    assert_gone(first)
    ops.stop(status.id, grace=0)
    assert_gone(second)
    assert_contained(ops, status.id, mechanism)


def test_a_service_that_crashes_takes_what_it_left_running_with_it(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path, mechanism: str
) -> None:
    pids = tmp_path / "escaped"
    leader = tmp_path / "leader"
    spec = write_spec(
        f"""
        name: crashing
        services:
          s:
            run: {json.dumps(escaping(pids) + f"; echo $$ > {leader}; exec sleep 300")}
            shell: true
            restart: {{policy: always, backoff: 50ms}}
            stop: {{timeout: 300ms}}
        """
    )
    status = ops.run(spec, detach=True)
    first = escaped_pids(pids)
    wait_for(lambda: leader.exists() and leader.read_text().strip() != "")
    pids.unlink()
    os.kill(int(leader.read_text()), 9)  # a crash: the restart policy starts it again
    second = escaped_pids(pids)
    assert_gone(first)
    ops.stop(status.id, grace=0)
    assert_gone(second)
    assert_contained(ops, status.id, mechanism)


def test_a_killed_supervisor_leaves_nothing_of_its_units_running(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path, mechanism: str
) -> None:
    """The watchdog's cleanup (the supervisor died by SIGKILL) reaches escaped processes too,
    and removes the execution's cgroup."""
    pids = tmp_path / "escaped"
    status = ops.run(service_spec(write_spec, pids), detach=True)
    ops.wait_healthy(status.id, timeout=30)  # its events so far are in the store
    escaped = escaped_pids(pids)
    supervisor, _ = ops.store.supervisor(status.id)
    assert supervisor is not None
    os.kill(supervisor, signal.SIGKILL)
    assert_gone(escaped)
    assert_contained(ops, status.id, mechanism)  # by the watchdog: nobody asked for a status
    assert ops.status(status.id).state == ExecutionState.LOST


def test_steps_that_leave_nothing_behind_cost_no_scan_of_proc(
    ops: Operations,
    write_spec: SpecWriter,
    mechanism: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hot path: a step that leaves nothing running is checked with one read (cgroup) or a
    look at the engine's own children (marker), never a walk over every process of /proc."""
    scans: list[str] = []

    def counting(original):  # type: ignore[no-untyped-def]
        def members(scope: UnitScope) -> list[int]:
            scans.append(scope.marker)
            return original(scope)  # type: ignore[no-any-return]

        return members

    monkeypatch.setattr(UnitScope, "members", counting(UnitScope.members))
    monkeypatch.setattr(CgroupScope, "members", counting(CgroupScope.members))
    steps = "\n".join(f"  s{i}: {{run: [true]}}" for i in range(30))
    status = ops.run(write_spec(f"name: many\nexecution: {{max_parallel: 2}}\nsteps:\n{steps}\n"))
    assert status.state == ExecutionState.SUCCEEDED
    assert scans == []
    assert_contained(ops, status.id, mechanism)


def test_an_execution_that_never_started_a_unit_leaves_no_cgroup(
    tmp_path: Path, mechanism: str
) -> None:
    containment = choose_containment("exec_never_started", tmp_path)
    assert containment.mechanism == mechanism
    if isinstance(containment, CgroupContainment):
        assert not containment.root.exists(), f"made before any unit: {containment.root}"
    containment.close()
    assert not (tmp_path / "cgroup").exists()


def _children(pid: int) -> set[int]:
    """``pid``'s children, over all its threads."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def _all_children(pid: int, count: int) -> set[int]:
    """``pid``'s children, once there are ``count`` of them."""
    wait_for(lambda: len(_children(pid)) == count)
    return _children(pid)


def test_a_fleet_brought_down_again_and_again_ends_promptly_with_its_supervisor(
    ops: Operations, write_spec: SpecWriter, mechanism: str
) -> None:
    """`down` of a fleet whose services die at once. Under the marker, the engine once reaped
    a service's leader itself (the scope had a pidfd of it, from the stop signal) before the
    leader's exit callback ran: that callback failed (ECHILD), the exit was never recorded and
    the supervisor waited for ever, `down` gave up after 60 s with the fleet still `running`.
    A race, so several services, several rounds."""
    services = "\n".join(f"  s{i}: {{run: [sleep, '300']}}" for i in range(10))
    spec = write_spec(f"name: downs\nexecution: {{deployment: parallel}}\nservices:\n{services}\n")
    for _ in range(5):
        status = ops.run(spec, detach=True)
        ops.wait_healthy(status.id, timeout=30)
        supervisor, _ = ops.store.supervisor(status.id)
        assert supervisor is not None
        ours = {supervisor, *_all_children(supervisor, 11)}  # ten services, the watchdog
        ops.stop(status.id, grace=0.0, reason="brought down", wait=False)
        deadline = time.monotonic() + 20  # down waits 60 s before it gives up
        while any(pid_alive(pid) for pid in ours) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = {pid: _cmdline(pid) for pid in ours if pid_alive(pid)}
        if left:  # its watchdog then cleans up: the next tests find nothing of it running
            os.kill(supervisor, signal.SIGKILL)
        assert not left, f"still running 20 s after down (supervisor {supervisor}): {left}"
        final = ops.status(status.id)
        assert final.state == ExecutionState.STOPPED, (final.state, final.reason)
        assert {unit.state for unit in final.units} == {UnitState.STOPPED}
        assert_contained(ops, status.id, mechanism)


def test_a_scope_leaves_its_leader_to_its_exit_watcher() -> None:
    """A subreaper's scope reaps the orphans it signalled, never its leader: a fleet closes a
    stopped service's scope before the leader's exit watcher may have run, and that watcher's
    wait4 must still find the leader (and its status) there."""
    scope = UnitScope("exec_leader/u#1", adopting=True)
    env = {**os.environ, "SHIPYARD_UNIT": scope.marker}
    leader = scope.spawn(lambda: os.posix_spawnp("sleep", ["sleep", "300"], env))
    scope.leader = leader
    try:
        scope.signal(signal.SIGKILL)
        wait_for(lambda: not pid_alive(leader), timeout=10)
        scope.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(leader, signal.SIGKILL)
    pid, status = os.waitpid(leader, os.WNOHANG)  # ChildProcessError: the scope reaped it
    assert pid == leader and os.WTERMSIG(status) == signal.SIGKILL


@pytest.fixture
def cgroups(tmp_path: Path) -> Iterator[CgroupContainment]:
    """An execution's cgroup containment, closed (and checked gone) afterwards."""
    containment = choose_containment("exec_pool", tmp_path)
    if not isinstance(containment, CgroupContainment):
        containment.close()
        missing_component("no writable cgroup2 hierarchy on this machine")
    yield containment
    containment.close()
    assert not containment.root.exists(), f"a stale cgroup was left behind: {containment.root}"


def _procs(path: str) -> list[int]:
    return [int(pid) for pid in Path(path, "cgroup.procs").read_text().split()]


def test_a_unit_cgroup_serves_a_later_run_only_once_empty(cgroups: CgroupContainment) -> None:
    """A unit run's cgroup is reused (no mkdir and rmdir per step) once its run left nothing;
    one released with a process still in it is never handed to another run."""
    first = cgroups.scope("a")
    os.waitpid(first.spawn(lambda: os.posix_spawnp("true", ["true"], dict(os.environ))), 0)
    assert not first.escaped()
    first.close()
    second = cgroups.scope("b")
    assert second.path == first.path, "an empty unit cgroup was not reused"
    busy = second.spawn(lambda: os.posix_spawnp("sleep", ["sleep", "300"], dict(os.environ)))
    try:
        assert _procs(second.path) == [busy]
        second.close()  # released while its process runs: it stays apart, still its own
        third = cgroups.scope("c")
        assert third.path != second.path, "a populated unit cgroup was handed out again"
        assert second.alive() and second.members() == [busy]
        second.kill()
        wait_for(lambda: not second.alive(), timeout=10)
        third.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(busy, signal.SIGKILL)
        os.waitpid(busy, 0)


def test_the_pool_of_unit_cgroups_stays_small(cgroups: CgroupContainment) -> None:
    """Many unit runs at once (a fleet) make as many cgroups; released, only the pool's few
    stay until the execution ends."""
    scopes = [cgroups.scope(f"s{i}") for i in range(CgroupContainment.POOL + 5)]
    assert len({scope.marker for scope in scopes}) == len(scopes)
    assert len({getattr(scope, "path", None) for scope in scopes}) == len(scopes)
    for scope in scopes:
        scope.close()
    left = [entry for entry in cgroups.root.iterdir() if entry.is_dir()]
    assert len(left) == CgroupContainment.POOL, left


def test_a_unit_cgroup_that_could_not_be_joined_serves_no_later_run(
    cgroups: CgroupContainment,
) -> None:
    """Removed under the engine (or otherwise refusing), a unit cgroup leaves its run to the
    marker, and the next run gets a cgroup that works."""
    first = cgroups.scope("a")
    Path(first.path).rmdir()
    os.waitpid(first.spawn(lambda: os.posix_spawnp("true", ["true"], dict(os.environ))), 0)
    first.close()
    second = cgroups.scope("b")
    assert second.path != first.path, "a unit cgroup that could not be joined was reused"
    busy = second.spawn(lambda: os.posix_spawnp("sleep", ["sleep", "300"], dict(os.environ)))
    try:
        assert _procs(second.path) == [busy]
    finally:
        os.kill(busy, signal.SIGKILL)
        os.waitpid(busy, 0)
    second.close()
