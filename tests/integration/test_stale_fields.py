"""Fields a user reads hold what is true now (issue 11 §6–11): a running unit has no end, a
resumed step's time is its own run's, a step whose retry was called off has ended, an estimate
rests on runs with the same parameters and says when it is overdue, a stopped service has no
pid, an auto-restarted one no old reason, and progress counts what succeeded. Real processes,
real SQLite."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.cli.render import status_header
from shipyard.engine.liveness import pid_alive
from shipyard.models import ExecutionState, UnitState
from shipyard.store.sqlite import SQLiteStore
from shipyard.unitview import counts_as_done
from tests.conftest import SpecWriter
from tests.integration.test_lifecycle import wait_for

PY = sys.executable
S = UnitState


def new_execution(store: SQLiteStore, units: list[tuple[str, str]], run_dir: Path) -> None:
    store.insert_execution(
        execution_id="e1",
        name="x",
        mode="normal",
        spec_path=None,
        spec_digest="d",
        spec_text="",
        parameters={},
        run_dir=str(run_dir),
        created_at=1.0,
        units=[(name, kind, None) for name, kind in units],
    )


def test_a_unit_that_runs_again_has_no_end_exit_code_or_reason_of_before(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    new_execution(store, [("web", "service")], tmp_path)
    store.update_unit(
        "e1", "web", state=S.STOPPED, started_at=10.0, ended_at=20.0, exit_code=3, reason="x"
    )
    store.update_unit("e1", "web", state=S.RUNNING, started_at=21.0, pid=5)
    unit = store.get_execution("e1").unit("web")  # type: ignore[union-attr]
    store.close()
    assert (unit.ended_at, unit.duration_seconds, unit.exit_code, unit.reason) == (
        None,
        None,
        None,
        None,
    ), unit


@pytest.mark.parametrize(
    ("execution", "units"),
    [
        # A cancelled run whose steps all ended: only the succeeded one counts.
        (
            ExecutionState.CANCELLED,
            [("step", S.SUCCEEDED, None), ("step", S.CANCELLED, None), ("step", S.SKIPPED, None)],
        ),
        (ExecutionState.FAILED, [("step", S.FAILED, None), ("step", S.DISABLED, None)]),
        # A fleet: its healthy services, while it runs.
        (
            ExecutionState.RUNNING,
            [
                ("service", S.RUNNING, "healthy"),
                ("service", S.RUNNING, "starting"),
                ("service", S.RETRYING, None),
                ("step", S.RUNNING, None),
            ],
        ),
        # Lost: nothing of it runs, whatever its records said.
        (ExecutionState.LOST, [("service", S.RUNNING, "healthy")]),
        (ExecutionState.STOPPED, [("service", S.STOPPED, "down")]),
    ],
)
def test_status_and_list_count_progress_alike(
    tmp_path: Path, execution: ExecutionState, units: list[tuple[str, UnitState, str | None]]
) -> None:
    """`status` counts in Python, `list` in SQL: both as unitview.counts_as_done says."""
    store = SQLiteStore(tmp_path / "state.db")
    names = [(f"u{index}", kind) for index, (kind, _, _) in enumerate(units)]
    new_execution(store, names, tmp_path)
    for (name, kind), (_, state, health) in zip(names, units, strict=True):
        store.update_unit("e1", name, state=state)
        if kind == "service":
            store.update_service("e1", name, port=None, url=None, health=health or "", restarts=0)
    store.update_execution("e1", state=execution)
    expected = sum(
        counts_as_done(kind, state, health, execution_finished=execution.finished)
        for kind, state, health in units
    )
    status = store.get_execution("e1")
    listed = store.list_executions()[0]
    store.close()
    assert status is not None
    assert (status.progress.done, listed.progress.done) == (expected, expected)
    assert listed.progress.total == len(units)


def test_a_resumed_step_counts_its_own_run_and_its_own_retries(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(
        """
        name: resumed
        steps:
          a: {run: [sh, -c, "test -f ok"], retries: {count: 1, backoff: 0, jitter: false}}
        """
    )
    first = ops.run(spec)
    assert first.state == ExecutionState.FAILED
    ended_before = ops.status(first.id).unit("a").ended_at
    (tmp_path / "ok").write_text("")
    resumed_at = datetime.now(UTC)
    again = ops.resume(first.id)
    assert again.state == ExecutionState.SUCCEEDED
    unit = ops.status(first.id).unit("a")
    # Its start is this run's, not the first run's: its time is not the gap between them.
    assert ended_before is not None and unit.started_at is not None and unit.ended_at is not None
    assert resumed_at <= unit.started_at <= unit.ended_at, (ended_before, resumed_at, unit)
    assert unit.attempts == 3
    log = Path(ops.status(first.id).run_dir, "logs", "a.log").read_text()
    assert log.splitlines() == [
        "==> shipyard: attempt 2 of 2",
        "==> shipyard: attempt 3 (try 1 of 2 in this run, resumed)",
    ]


def test_a_step_skipped_in_the_resumed_run_shows_no_start_of_the_run_before(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        """
        name: skipped
        execution: {failure_strategy: continue}
        steps:
          a: {run: [sh, -c, "exit 1"]}
          b: {run: [sh, -c, "exit 1"]}
        """
    )
    first = ops.run(spec)
    assert ops.status(first.id).unit("b").started_at is not None  # it ran, and failed
    # b (not succeeded, so it may change) now needs a, which fails again: b is skipped.
    spec.write_text(
        spec.read_text().replace(
            'b: {run: [sh, -c, "exit 1"]}', 'b: {run: [sh, -c, "exit 1"], needs: [a]}'
        )
    )
    ops.resume(first.id)
    b = ops.status(first.id).unit("b")
    assert b.state == S.SKIPPED
    # Not the first run's start with no end: its time grew for ever on a finished run.
    assert (b.started_at, b.ended_at) == (None, None), b


def test_a_resumed_step_gets_the_retries_its_spec_allows_again(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        """
        name: always
        steps:
          a: {run: [sh, -c, "exit 1"], retries: {count: 1, backoff: 0, jitter: false}}
        """
    )
    first = ops.run(spec)
    ops.resume(first.id)
    numbers = [attempt.number for attempt in ops.store.attempts(first.id, "a")]
    assert numbers == [1, 2, 3, 4], "the resumed run made no retry of its own"


def test_fail_fast_cancels_a_step_waiting_for_its_retry_and_ends_it(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        """
        name: ff
        execution: {failure_strategy: fail_fast}
        steps:
          flaky: {run: [sh, -c, "exit 1"], retries: {count: 3, backoff: 30s, jitter: false}}
          bad: {run: [sh, -c, "sleep 0.3; exit 2"]}
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.FAILED
    flaky = ops.status(status.id).unit("flaky")
    attempt = ops.store.attempts(status.id, "flaky")[-1]
    assert flaky.state == S.CANCELLED, flaky
    assert flaky.ended_at == attempt.ended_at and flaky.exit_code == 1, flaky
    assert flaky.reason == (
        "exited with code 1; retry cancelled: 'bad' failed (failure_strategy: fail_fast)"
    )
    assert ops.status(status.id).failed == 1  # bad; flaky's retry was called off


def test_an_estimate_rests_on_runs_with_the_same_parameters_and_says_when_it_is_overdue(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    spec = write_spec(
        f"""
        name: eta
        parameters: {{tag: {{type: str, default: a}}}}
        steps:
          wait: {{run: 'while [ ! -f {go} ]; do sleep 0.05; done', shell: true}}
        """
    )
    go.write_text("")
    same = ops.run(spec, params={"tag": "a"})
    other = ops.run(spec, params={"tag": "b"})
    go.unlink()
    running = ops.run(spec, params={"tag": "a"}, detach=True)
    wait_for(lambda: ops.status(running.id).unit("wait").state == S.RUNNING)
    status = ops.status(running.id)
    assert status.estimate_basis is not None and same.id in status.estimate_basis
    assert other.id not in status.estimate_basis and "same parameters" in status.estimate_basis
    # The step usually takes milliseconds: once past that, the estimated end stays where it
    # was (not "now") and the view says how overdue it is, not "(in 0ms)".
    expected = status.estimated_end
    assert expected is not None
    wait_for(lambda: datetime.now(UTC) > expected)
    later = ops.status(running.id)
    assert later.estimated_end is not None
    assert abs((later.estimated_end - expected).total_seconds()) < 0.001, (later, expected)
    header = status_header(later).plain
    assert "overdue by" in header, header
    go.write_text("")
    wait_for(lambda: ops.status(running.id).state.finished)


def fleet(write_spec: SpecWriter, tmp_path: Path) -> Path:
    flag = tmp_path / "crashed-once"
    return write_spec(
        f"""
        name: stale
        execution: {{base_port: 18940}}
        services:
          web:
            run: 'exec {PY} -m http.server --bind 127.0.0.1 $PORT'
            shell: true
            port: auto
            health: {{http: /, interval: 0.2s}}
          crashy:
            run: >-
              if [ ! -f {flag} ]; then touch {flag}; exit 3; fi;
              exec {PY} -m http.server --bind 127.0.0.1 $PORT
            shell: true
            port: auto
            health: {{http: /, interval: 0.2s}}
            restart: {{policy: on-failure, backoff: 50ms}}
        """
    )


def test_a_fleets_services_say_what_holds_now(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    status = ops.run(fleet(write_spec, tmp_path), detach=True)
    assert ops.wait_healthy(status.id, timeout=60).state == ExecutionState.RUNNING
    wait_for(lambda: ops.status(status.id).unit("crashy").health == "healthy")
    crashy = ops.status(status.id).unit("crashy")
    # Restarted by its policy and healthy again: no "restarting in …" left over.
    assert crashy.restarts == 1 and crashy.reason is None and crashy.ended_at is None, crashy
    assert ops.list_executions()[0].progress.done == 2  # both healthy: 2/2, not 0/2
    ops.stop(status.id, grace=0)
    assert ops.list_executions()[0].progress.done == 0  # nothing is healthy once down


def test_a_restarted_service_has_no_end_and_a_stopped_one_no_pid(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    status = ops.run(fleet(write_spec, tmp_path), detach=True)
    assert ops.wait_healthy(status.id, timeout=60).state == ExecutionState.RUNNING
    before = ops.status(status.id).unit("web")
    restarted = ops.restart_service(status.id, "web")
    assert restarted.pid != before.pid
    web = ops.status(status.id).unit("web")
    # A restarted service has no end: ended_at before started_at gave uptime -1ms.
    assert web.started_at is not None and before.started_at is not None
    assert web.started_at >= before.started_at
    assert (web.ended_at, web.duration_seconds, web.reason) == (None, None, None), web

    old = web.pid
    stopped = ops.service_stop(status.id, "web")
    assert stopped.state == S.STOPPED and stopped.pid is None, stopped
    assert old is not None and not pid_alive(old)
    again = ops.service_start(status.id, "web")
    assert again.state == S.RUNNING and (again.ended_at, again.reason) == (None, None), again
    ops.stop(status.id, grace=0)
    assert [unit.pid for unit in ops.status(status.id).units] == [None, None]


def test_a_service_skipped_for_a_failed_step_made_no_attempt_and_has_no_health(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        f"""
        name: mixed
        execution: {{base_port: 18960}}
        steps:
          prep: {{run: [sh, -c, "exit 4"]}}
        services:
          web:
            run: 'exec {PY} -m http.server --bind 127.0.0.1 $PORT'
            shell: true
            port: auto
            depends_on: [prep]
        """
    )
    status = ops.run(spec, detach=True)
    wait_for(lambda: ops.status(status.id).state.finished)
    web = ops.status(status.id).unit("web")
    assert (web.state, web.health, web.pid, web.attempts) == (S.SKIPPED, "unknown", None, 0), web
    assert ops.status(status.id).progress.done == 0
