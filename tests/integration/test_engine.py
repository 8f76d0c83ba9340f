"""The engine with real processes and a real SQLite store."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.models import ExecutionState, UnitState
from tests.conftest import SpecWriter


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, change in edges:
        running += change
        peak = max(peak, running)
    return peak


def intervals(ops: Operations, execution_id: str) -> list[tuple[float, float]]:
    result = []
    for attempt in ops.store.attempts(execution_id):
        assert attempt.started_at and attempt.ended_at
        result.append((attempt.started_at.timestamp(), attempt.ended_at.timestamp()))
    return result


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_parallel_limit_is_respected(ops: Operations, write_spec: SpecWriter) -> None:
    steps = "\n".join(f"  s{i}: {{run: [sleep, '0.3']}}" for i in range(6))
    spec = write_spec(f"name: par\nexecution: {{max_parallel: 2}}\nsteps:\n{steps}\n")
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED
    # Exactly two at a time: never more, and really in parallel.
    assert max_overlap(intervals(ops, status.id)) == 2


def test_retries_until_success(ops: Operations, write_spec: SpecWriter, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    spec = write_spec(
        f"""
        name: flaky
        steps:
          flaky:
            run: 'echo x >> {counter}; test $(wc -l < {counter}) -ge 3'
            shell: true
            retries: {{count: 3, backoff: 10ms}}
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED
    assert counter.read_text().count("x") == 3
    attempts = ops.store.attempts(status.id, "flaky")
    assert [(a.number, a.state) for a in attempts] == [
        (1, UnitState.FAILED),
        (2, UnitState.FAILED),
        (3, UnitState.SUCCEEDED),
    ]
    assert status.unit("flaky").attempts == 3


def test_retries_exhausted(ops: Operations, write_spec: SpecWriter) -> None:
    spec = write_spec(
        "name: bad\nsteps:\n  bad: {run: [sh, -c, 'exit 3'], retries: {count: 2, backoff: 1ms}}\n"
    )
    status = ops.run(spec)
    unit = status.unit("bad")
    assert status.state == ExecutionState.FAILED
    assert (unit.state, unit.attempts, unit.exit_code) == (UnitState.FAILED, 3, 3)
    assert unit.reason == "exited with code 3"


def test_timeout_kills_a_grandchild_that_ignores_sigterm(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    pidfile = tmp_path / "grandchild.pid"
    spec = write_spec(
        f"""
        name: stubborn
        steps:
          stubborn:
            run: sh -c 'trap "" TERM; echo $$ > {pidfile}; sleep 30' & wait
            shell: true
            timeout: 500ms
            stop: {{timeout: 300ms}}
        """
    )
    status = ops.run(spec)
    unit = status.unit("stubborn")
    assert unit.state == UnitState.FAILED
    assert unit.reason == "timed out after 500ms"
    grandchild = int(pidfile.read_text())
    assert not pid_alive(grandchild)


def test_fail_fast_stops_running_steps_and_skips_the_rest(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        """
        name: ff
        execution: {max_parallel: 2, failure_strategy: fail_fast}
        steps:
          broken: {run: [sh, -c, 'sleep 0.2; exit 1']}
          long: {run: [sleep, '30'], stop: {timeout: 2s}}
          later: {run: [true]}
          after: {run: [true], needs: [broken]}
        """
    )
    status = ops.run(spec)
    states = {unit.name: unit.state for unit in status.units}
    assert states == {
        "broken": UnitState.FAILED,
        "long": UnitState.CANCELLED,
        "later": UnitState.SKIPPED,
        "after": UnitState.SKIPPED,
    }
    assert "fail_fast" in (status.unit("long").reason or "")
    assert status.state == ExecutionState.FAILED


def test_continue_runs_every_branch_that_does_not_depend_on_the_failure(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        """
        name: cont
        execution: {max_parallel: 2, failure_strategy: continue}
        steps:
          broken: {run: [sh, -c, 'exit 1']}
          child: {run: [true], needs: [broken]}
          grandchild: {run: [true], needs: [child]}
          other: {run: [sleep, '0.2']}
          other-child: {run: [true], needs: [other]}
        """
    )
    status = ops.run(spec)
    states = {unit.name: unit.state for unit in status.units}
    assert states == {
        "broken": UnitState.FAILED,
        "child": UnitState.SKIPPED,
        "grandchild": UnitState.SKIPPED,
        "other": UnitState.SUCCEEDED,
        "other-child": UnitState.SUCCEEDED,
    }
    assert "depends on" in (status.unit("grandchild").reason or "")


def test_cleanup_runs_after_a_failure(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    marker = tmp_path / "cleaned"
    spec = write_spec(
        f"""
        name: hooks
        hooks:
          prepare: [sh, -c, 'echo prepared > {tmp_path}/prepared']
          cleanup: [sh, -c, 'echo "$SHIPYARD_HOOK $SHIPYARD_PARAM_N" > {marker}']
        parameters: {{n: 7}}
        steps:
          fails: {{run: [sh, -c, 'exit 2']}}
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.FAILED
    assert (tmp_path / "prepared").exists()
    assert marker.read_text().strip() == "cleanup 7"


def test_failed_prepare_skips_every_step_but_cleanup_still_runs(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    marker = tmp_path / "cleaned"
    spec = write_spec(
        f"""
        name: noprep
        hooks:
          prepare: [[sh, -c, 'exit 4'], [touch, {tmp_path}/never]]
          cleanup: [touch, {marker}]
        steps:
          a: {{run: [touch, {tmp_path}/a-ran]}}
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.FAILED
    assert status.reason == "the prepare hook `sh -c 'exit 4'` exited with code 4"
    assert status.unit("a").state == UnitState.SKIPPED
    assert marker.exists()
    assert not (tmp_path / "never").exists() and not (tmp_path / "a-ran").exists()


def test_units_get_parameters_mode_and_run_folders(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    out = tmp_path / "env.txt"
    spec = write_spec(
        f"""
        name: envs
        parameters: {{size: {{type: str, default: 4M, test: 1k}}}}
        env: {{COMMON: "yes"}}
        steps:
          show:
            run: 'env | grep -E "^(SHIPYARD_|COMMON|TMPDIR|OWN)" | sort > {out}'
            shell: true
            env: {{OWN: "{{{{ size }}}}"}}
        """
    )
    status = ops.run(spec, mode="test")
    env = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert env["SHIPYARD_MODE"] == "test"
    assert env["SHIPYARD_PARAM_SIZE"] == "1k" and env["OWN"] == "1k"
    assert env["COMMON"] == "yes"
    assert env["SHIPYARD_EXECUTION_ID"] == status.id
    assert env["SHIPYARD_STEP"] == "show" and env["SHIPYARD_ATTEMPT"] == "1"
    assert env["TMPDIR"] == str(Path(status.run_dir) / "tmp")
    assert env["SHIPYARD_ARTIFACTS_DIR"] == str(Path(status.run_dir) / "artifacts")
    # Temp files go at the end of a normal run...
    assert not (Path(status.run_dir) / "tmp").exists()


def test_debug_mode_keeps_temp_files(ops: Operations, write_spec: SpecWriter) -> None:
    spec = write_spec("name: dbg\nsteps:\n  t: {run: 'touch $TMPDIR/kept', shell: true}\n")
    status = ops.run(spec, mode="debug")
    assert (Path(status.run_dir) / "tmp" / "kept").exists()


def test_stdout_and_stderr_go_to_the_log_file(ops: Operations, write_spec: SpecWriter) -> None:
    spec = write_spec(
        "name: logs\nsteps:\n  talk: {run: 'echo out-1; echo err-1 >&2; echo out-2', shell: true}\n"
    )
    status = ops.run(spec)
    log = Path(status.unit("talk").log_path or "")
    assert log.read_text().splitlines() == ["out-1", "err-1", "out-2"]
    assert [line.text for line in ops.logs(status.id, "talk", tail=1)] == ["out-2"]
    assert [line.text for line in ops.logs(status.id, grep="err")] == ["err-1"]


def test_a_missing_command_fails_at_once_without_retries(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        "name: nf\nsteps:\n  nf: {run: [no-such-command-xyz], retries: {count: 3, backoff: 1s}}\n"
    )
    status = ops.run(spec)
    unit = status.unit("nf")
    assert (unit.state, unit.attempts, unit.exit_code) == (UnitState.FAILED, 1, 127)
    assert unit.reason == "command not found: no-such-command-xyz"
    assert "command not found" in Path(unit.log_path or "").read_text()


def test_a_missing_workdir_is_reported(ops: Operations, write_spec: SpecWriter) -> None:
    spec = write_spec("name: wd\nsteps:\n  a: {run: [pwd], workdir: nowhere}\n")
    unit = ops.run(spec).unit("a")
    assert unit.state == UnitState.FAILED
    assert "workdir" in (unit.reason or "") and "does not exist" in (unit.reason or "")


def test_processes_a_step_leaves_behind_are_stopped(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    pidfile = tmp_path / "bg.pid"
    spec = write_spec(
        f"name: bg\nsteps:\n  bg: {{run: 'sleep 30 & echo $! > {pidfile}', shell: true}}\n"
    )
    status = ops.run(spec)
    assert status.unit("bg").state == UnitState.SUCCEEDED
    assert "left running were stopped" in (status.unit("bg").reason or "")
    assert not pid_alive(int(pidfile.read_text()))


def test_profile_mode_measures_resources(ops: Operations, write_spec: SpecWriter) -> None:
    # A fixed amount of CPU (not of wall time): on a busy machine the step takes longer but
    # still burns 1.2 s of CPU, so the figures below do not depend on the load.
    burn = "import time\nx = bytearray(64 << 20)\nwhile time.process_time() < 1.2: pass"
    spec = write_spec(f"name: prof\nsteps:\n  burn: {{run: [python3, -c, {json.dumps(burn)}]}}\n")
    status = ops.run(spec, mode="profile")
    usage = status.unit("burn").resources
    assert usage.samples >= 3
    assert usage.cpu_percent_peak is not None and usage.cpu_percent_peak > 0
    assert usage.rss_peak_bytes is not None and usage.rss_peak_bytes > 64 << 20
    assert usage.cpu_seconds is not None and usage.cpu_seconds > 1.0


def test_declared_cpus_serialise_steps_that_need_the_whole_machine(
    ops: Operations, write_spec: SpecWriter
) -> None:
    cores = os.cpu_count() or 1
    spec = write_spec(
        f"""
        name: cpus
        execution: {{max_parallel: 4}}
        steps:
          a: {{run: [sleep, '0.2'], resources: {{cpus: {cores}}}}}
          b: {{run: [sleep, '0.2'], resources: {{cpus: {cores}}}}}
        """
    )
    status = ops.run(spec)
    assert max_overlap(intervals(ops, status.id)) == 1


def test_disabled_steps_are_skipped_and_do_not_block(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        "name: dis\nsteps:\n"
        "  off: {run: [false], enabled: false}\n"
        "  on: {run: [true], needs: [off]}\n"
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED
    assert status.unit("off").state == UnitState.DISABLED
    assert status.unit("on").state == UnitState.SUCCEEDED


def test_execution_timeout_stops_the_run(ops: Operations, write_spec: SpecWriter) -> None:
    spec = write_spec(
        "name: slow\nexecution: {timeout: 300ms}\nsteps:\n  s: {run: [sleep, '30']}\n"
        "  t: {run: [true], needs: [s]}\n"
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.FAILED
    assert status.reason == "the execution timed out after 300ms"
    assert status.unit("s").state == UnitState.CANCELLED
    assert status.unit("t").state == UnitState.SKIPPED


def test_events_are_structured_and_history_times_the_next_plan(
    ops: Operations, write_spec: SpecWriter
) -> None:
    spec = write_spec("name: hist\nsteps:\n  a: {run: [true]}\n  b: {run: [true], needs: [a]}\n")
    status = ops.run(spec)
    actions = [event.action for _, event in ops.store.events(status.id)]
    assert actions[0] == "execution_started" and actions[-1] == "execution_finished"
    assert actions.count("unit_started") == 2 and actions.count("unit_finished") == 2
    lines = (Path(status.run_dir) / "events.jsonl").read_text().splitlines()
    assert len(lines) == len(actions)
    assert ops.plan(spec).critical_path_seconds is not None


def test_status_and_list(ops: Operations, write_spec: SpecWriter) -> None:
    spec = write_spec("name: one\nsteps:\n  a: {run: [true]}\n")
    first = ops.run(spec)
    time.sleep(0.01)
    second = ops.run(spec)
    assert ops.status().id == second.id
    assert [summary.id for summary in ops.list_executions()] == [second.id, first.id]
    assert ops.list_executions(active_only=True) == []
    assert first.id.startswith("exec_one_") and len(first.id.split("_")[-1]) == 4
    assert second.progress.done == second.progress.total == 1


def test_unknown_execution_is_a_clear_error(ops: Operations) -> None:
    from shipyard.errors import ExecutionNotFound

    with pytest.raises(ExecutionNotFound, match="no executions yet"):
        ops.status()
    with pytest.raises(ExecutionNotFound, match="no execution 'exec_nope'"):
        ops.status("exec_nope")
