"""A sweep as a Slurm job array, its decisions without Slurm: the --array range and throttle,
the sbatch command line and script, what a task's end in Slurm means for its point's
execution (Slurm's end mapped as the runner maps a job's), and the refusals."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from shipyard.engine.runners.slurm import JobRow, slurm_end
from shipyard.models import ExecutionState
from shipyard.plan.model import SlurmSettings
from shipyard.slurmarray.decisions import (
    array_argv,
    array_range,
    array_refusal,
    cancelled_in_queue,
    job_ids_of,
    node_refusal,
    task_outcome,
    task_script,
)
from shipyard.spec.loader import load_spec_text
from shipyard.sweep import SweepSettings


@pytest.mark.parametrize(
    ("count", "throttle", "expected"),
    [
        (4, 2, "0-3%2"),  # --max-parallel-runs 2: two tasks at a time
        (4, 1, "0-3%1"),  # one at a time
        (4, 4, "0-3"),  # a throttle that limits nothing is left out
        (4, 8, "0-3"),
        (1, 1, "0-0"),
        (1000, 16, "0-999%16"),
    ],
)
def test_the_array_range_and_its_throttle(count: int, throttle: int, expected: str) -> None:
    assert array_range(count, throttle) == expected


@pytest.mark.parametrize(("count", "throttle"), [(0, 1), (3, 0)])
def test_an_empty_array_or_no_throttle_is_a_bug(count: int, throttle: int) -> None:
    with pytest.raises(ValueError):
        array_range(count, throttle)


def test_the_sbatch_of_the_array_is_the_runners_with_the_array(tmp_path: Path) -> None:
    settings = SlurmSettings(partition="gpu", time="10", account="proj", extra=["--qos=low"])
    argv = array_argv(
        settings,
        count=3,
        throttle=2,
        job_name="shipyard.sweep_x.array",
        folder=tmp_path,
        script=tmp_path / "array.sh",
    )
    assert argv[:3] == ["sbatch", "--parsable", "--array=0-2%2"]
    assert f"--output={tmp_path}/task-%a.log" in argv  # a file per task
    assert f"--chdir={tmp_path}" in argv
    for option in ("--partition=gpu", "--time=10", "--account=proj", "--qos=low"):
        assert option in argv, f"the spec's top-level slurm: ({option}) applies to the array"
    assert argv[-1] == str(tmp_path / "array.sh")


def test_the_task_script_execs_its_command_quoted() -> None:
    script = task_script(["/opt/py thon", "-m", "shipyard.slurmarray", "/home/a b", "/f"])
    assert script.startswith("#!/bin/sh\n")
    last = script.strip().splitlines()[-1]
    assert shlex.split(last) == [
        "exec",
        "/opt/py thon",
        "-m",
        "shipyard.slurmarray",
        "/home/a b",
        "/f",
    ]


def test_task_ids_are_the_array_id_and_the_point_index() -> None:
    assert job_ids_of("77", 3) == ["77_0", "77_1", "77_2"]


def end(state: str, status: int = 0, reason: str = "None") -> object:
    ended = slurm_end(JobRow("77_3", state, reason, "c07", status))
    assert ended is not None
    return ended


S, F, C, R, P = (
    ExecutionState.SUCCEEDED,
    ExecutionState.FAILED,
    ExecutionState.CANCELLED,
    ExecutionState.RUNNING,
    ExecutionState.PENDING,
)


@pytest.mark.parametrize(
    ("state", "status", "execution", "ends_as", "point", "words"),
    [
        # The execution ended and said how: its record stands.
        ("COMPLETED", 0, S, None, None, None),
        ("COMPLETED", 0, F, None, None, None),
        ("CANCELLED", 15, C, None, None, None),  # a stop: the supervisor ended it cancelled
        # It never started or never finished: ended here with Slurm's reason.
        ("CANCELLED", 0, P, C, None, "Slurm job 77_3 CANCELLED on c07: was cancelled"),
        ("CANCELLED", 0, None, C, None, "was cancelled"),
        ("TIMEOUT", 9, R, F, None, "reached its Slurm time limit (exit code 124)"),
        ("NODE_FAIL", 0, R, F, None, "its node failed"),
        ("NODE_FAIL", 0, P, F, None, "its node failed"),
        (
            "OUT_OF_MEMORY",
            9,
            R,
            F,
            None,
            "ran out of memory (killed by Slurm) (killed by signal KILL)",
        ),
        ("FAILED", 1 << 8, P, F, None, "FAILED on c07: exit code 1"),  # the task's entry failed
        ("BOOT_FAIL", 0, P, F, None, "its node failed to boot"),
        # It ended on Slurm's SIGTERM (its time limit): the point failed, with Slurm's reason.
        ("TIMEOUT", 15, C, None, "failed", "reached its Slurm time limit"),
        ("PREEMPTED", 0, C, None, "failed", "was preempted"),
        ("TIMEOUT", 0, S, None, None, None),  # it finished first: a success stays one
    ],
)
def test_what_a_tasks_end_means_for_its_point(
    state: str,
    status: int,
    execution: ExecutionState | None,
    ends_as: ExecutionState | None,
    point: str | None,
    words: str | None,
) -> None:
    outcome = task_outcome(end(state, status), execution)  # type: ignore[arg-type]
    if words is None:
        assert outcome is None
        return
    assert outcome is not None
    assert outcome.execution_state == ends_as
    assert outcome.point_state == point
    assert words in outcome.reason, outcome.reason
    assert outcome.reason.startswith("Slurm job 77_3 "), "the task is named"


STEPS = "name: s\nparameters: {n: {type: int, default: 1}}\nsteps:\n  a: {run: [true]}\n"
SERVICES = (
    "name: s\nparameters: {n: {type: int, default: 1}}\nservices:\n  web: {run: [sleep, '9']}\n"
)
SECRET = (
    "name: s\nparameters:\n  n: {type: int, default: 1}\n  key: {type: str, secret: true}\n"
    "steps:\n  a: {run: [true]}\n"
)


def settings(**given: object) -> SweepSettings:
    return SweepSettings(matrix={"n": [1, 2]}, slurm_array=True, **given)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "given", "sbatch", "expected"),
    [
        (STEPS, {}, True, None),
        (STEPS, {"max_parallel_runs": 8, "repeat": 3, "objective": "x:max"}, True, None),
        (STEPS, {}, False, "sbatch is not on PATH"),
        (SERVICES, {}, True, "spec.yaml:4:3: service 'web' cannot run in a Slurm job array"),
        (SECRET, {}, True, "spec.yaml:4:3: parameter 'key' is secret"),
        (STEPS, {"timeout_per_run": 60.0}, True, "timeout_per_run (--timeout-per-run)"),
        (STEPS, {"failure_threshold": 0.1}, True, "failure_threshold (--failure-threshold)"),
        (SERVICES, {}, False, "sbatch is not on PATH"),  # what to install comes first
    ],
)
def test_what_cannot_be_an_array(
    text: str, given: dict[str, object], sbatch: bool, expected: str | None
) -> None:
    loaded = load_spec_text(text, Path("spec.yaml"))
    refusal = array_refusal(
        loaded.spec,
        loaded.source,
        settings(**given),
        which=lambda name: f"/usr/bin/{name}" if sbatch else None,
    )
    if expected is None:
        assert refusal is None
        return
    assert refusal is not None
    assert expected in refusal.message, refusal.message
    assert refusal.hint, "a refusal says what to do"
    if "sbatch" in expected:
        assert "apt-get install slurm-wlm" in refusal.hint


@pytest.mark.parametrize(
    ("node", "home_host", "refused"),
    [
        ("login1", "login1", False),  # the submitting host's own node: it may open the store
        ("login1.cluster.example", "login1", False),  # one host, with and without its domain
        ("login1", "login1.cluster.example", False),
        ("c07", "login1", True),  # another host: SQLite's WAL store must not be opened there
        ("c07.cluster.example", "login1.cluster.example", True),
        ("c07", None, False),  # an array submitted before the host was recorded
    ],
)
def test_a_task_on_another_host_than_the_sweeps_refuses_to_run(
    node: str, home_host: str | None, refused: bool
) -> None:
    refusal = node_refusal(node, home_host)
    assert (refusal is not None) is refused, refusal
    if refusal is not None:
        assert refusal.startswith(
            f"array tasks run on this machine's nodes only: node {node} is not {home_host}, "
            "where the sweep's SQLite home lives"
        ), refusal
        assert "without --slurm-array" in refusal, "it says what to do"
        assert f"slurm: {{extra: [--nodelist={home_host}]}}" in refusal, refusal


def test_a_queued_task_the_stop_cancelled_ends_cancelled() -> None:
    """Cancelled by its id while queued, a task has no row of its own any more: the poll
    ends it unknown; the sweep knows it cancelled it."""
    from shipyard.engine.runners.slurm import SlurmExit

    unknown = SlurmExit(None, None, 0.0, job_id="77_3", state="UNKNOWN", reason="gone")
    ended = cancelled_in_queue(unknown)
    assert (ended.state, ended.signal, ended.exit_code) == ("CANCELLED", "TERM", None)
    assert task_outcome(ended, ExecutionState.PENDING).execution_state == ExecutionState.CANCELLED  # type: ignore[union-attr]
    known = end("COMPLETED")
    assert cancelled_in_queue(known) is known  # type: ignore[arg-type]


def test_a_point_is_marked_running_once_and_keeps_when_it_began(tmp_path: Path) -> None:
    """The task marks its point running as it starts (before its work can write anything), so
    `sweep status` never shows pending for work under way; the sweep's later poll keeps that
    time, and nothing turns an ended point back to running."""
    from shipyard.slurmarray.points import mark_started
    from shipyard.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "state.db")
    row = {
        "id": "sweep_a",
        "name": "a",
        "spec_path": None,
        "spec_text": "name: a\n",
        "settings": {},
        "parameters": {},
        "state": "running",
        "created_at": 1.0,
    }
    points = [
        {
            "point_hash": f"h{n}",
            "repeat": 1,
            "position": n,
            "parameters": {"n": n},
            "execution_id": f"e{n}",
            "state": state,
        }
        for n, state in enumerate(("pending", "pending", "succeeded"))
    ]
    store.insert_sweep(row, points)
    mark_started(store, "sweep_a", "e0", at=10.0)  # the task, as it starts
    mark_started(store, "sweep_a", "e0", at=12.5)  # the poll, a tick later
    mark_started(store, "sweep_a", "e2", at=13.0)  # an ended point
    got = {
        p["execution_id"]: (p["state"], p["started_at"]) for p in store.sweep_point_rows("sweep_a")
    }
    assert got["e0"] == ("running", 10.0), "running since the task began, not since the poll"
    assert got["e1"] == ("pending", None), "another point is left alone"
    assert got["e2"][0] == "succeeded", "an ended point stays ended"
    store.close()
