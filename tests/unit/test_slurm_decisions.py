"""The Slurm runner's decisions, without Slurm: end states mapped to exits and reasons, squeue's
output read, the poll's backoff and interval setting, the sbatch command line and script."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from shipyard.engine.runners.slurm import (
    JobRow,
    SlurmExit,
    SlurmRunner,
    job_script,
    next_poll_delay,
    parse_squeue,
    poll_interval_from_env,
    sbatch_argv,
    slurm_end,
)
from shipyard.plan.model import SlurmSettings


def row(state: str, status: int = 0, reason: str = "None") -> JobRow:
    return JobRow("12", state, reason, "c07", status)


@pytest.mark.parametrize(
    ("state", "status", "exit_code", "signal", "ok"),
    [
        ("COMPLETED", 0, 0, None, True),
        ("FAILED", 3 << 8, 3, None, False),
        ("FAILED", 0, 1, None, False),  # a failure state is never a success
        ("FAILED", 15, None, "TERM", False),  # the script killed by a signal
        ("CANCELLED", 15, None, "TERM", False),
        ("CANCELLED", 0, None, "TERM", False),  # cancelled while pending
        ("CANCELLED", 9, None, "KILL", False),
        ("TIMEOUT", 15, 124, None, False),  # as a timeout is elsewhere (the task runner's 124)
        ("OUT_OF_MEMORY", 0, None, "KILL", False),
        ("NODE_FAIL", 0, None, None, False),  # no exit of its own: unknown, retryable
        ("NODE_FAIL", 15, None, "TERM", False),  # a node set DOWN: slurmctld TERMs its jobs
        ("BOOT_FAIL", 0, None, None, False),
        ("PREEMPTED", 0, None, None, False),
        ("DEADLINE", 0, 1, None, False),
    ],
)
def test_end_states(
    state: str, status: int, exit_code: int | None, signal: str | None, ok: bool
) -> None:
    ended = slurm_end(row(state, status))
    assert ended is not None, f"{state} is an end state"
    assert (ended.exit_code, ended.signal, ended.ok) == (exit_code, signal, ok), ended
    assert ended.state == state


@pytest.mark.parametrize(
    "state", ["PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED"]
)
def test_states_that_have_not_ended(state: str) -> None:
    assert slurm_end(row(state)) is None, f"{state}: the job may still have processes"


@pytest.mark.parametrize(
    ("state", "status", "reason", "described"),
    [
        ("FAILED", 3 << 8, "NonZeroExitCode",
         "Slurm job 12 FAILED on c07: exit code 3; reason NonZeroExitCode"),
        ("TIMEOUT", 15, "TimeLimit",
         "Slurm job 12 TIMEOUT on c07: reached its Slurm time limit (exit code 124); "
         "reason TimeLimit"),
        ("OUT_OF_MEMORY", 0, "OutOfMemory",
         "Slurm job 12 OUT_OF_MEMORY on c07: ran out of memory (killed by Slurm) (killed by "
         "signal KILL); reason OutOfMemory"),
        ("NODE_FAIL", 0, "NodeDown", "Slurm job 12 NODE_FAIL on c07: its node failed; "
         "reason NodeDown"),
        ("CANCELLED", 15, "None", "Slurm job 12 CANCELLED on c07: was cancelled, killed by "
         "signal TERM"),
    ],
)  # fmt: skip
def test_reasons_name_the_job_state_and_node(
    state: str, status: int, reason: str, described: str
) -> None:
    ended = slurm_end(row(state, status, reason))
    assert ended is not None
    assert ended.describe() == described


def test_an_unknown_end_says_so() -> None:
    lost = SlurmExit(None, None, 0.0, job_id="7", state="UNKNOWN", reason="no longer known")
    assert lost.unknown and not lost.ok
    assert lost.describe() == (
        "Slurm job 7 UNKNOWN: ended, its exit status unknown; reason no longer known"
    )
    assert lost.returncode == 255


def test_squeue_output_is_read_by_job_id() -> None:
    text = "12|RUNNING|None|c[01-02]|0|\n13|FAILED|NonZeroExitCode|c03|768|\n\ngarbage\n"
    rows = parse_squeue(text)
    assert rows == {
        "12": JobRow("12", "RUNNING", "None", "c[01-02]", 0),
        "13": JobRow("13", "FAILED", "NonZeroExitCode", "c03", 768),
    }


@pytest.mark.parametrize(
    ("unchanged", "expected"),
    [
        (0, 0.5),  # something changed: the base interval
        (3, 0.5),  # a short job is seen ending at once: the base for 4 polls
        (4, 0.75),  # then half as long again each time
        (5, 1.125),
        (6, 1.6875),
        (20, 5.0),  # up to the ceiling
    ],
)
def test_poll_backoff(unchanged: int, expected: float) -> None:
    assert next_poll_delay(unchanged, base=0.5, ceiling=5.0) == expected


def test_the_ceiling_never_goes_below_the_base() -> None:
    assert next_poll_delay(10, base=8.0, ceiling=5.0) == 8.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 0.5), ("", 0.5), ("2", 2.0), ("0.05", 0.05)],
)
def test_poll_interval_setting(value: str | None, expected: float) -> None:
    env = {} if value is None else {"SHIPYARD_SLURM_POLL_INTERVAL": value}
    assert poll_interval_from_env(env) == expected


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf"])
def test_a_bad_poll_interval_is_refused_by_name(value: str) -> None:
    with pytest.raises(ValueError, match="SHIPYARD_SLURM_POLL_INTERVAL"):
        poll_interval_from_env({"SHIPYARD_SLURM_POLL_INTERVAL": value})


def test_the_runner_takes_its_poll_interval_from_the_setting(tmp_path: Path) -> None:
    env = {"SHIPYARD_SLURM_POLL_INTERVAL": "2.5"}
    runner = SlurmRunner(None, tmp_path, env=env)  # type: ignore[arg-type]
    assert runner.poll_interval == 2.5
    assert SlurmRunner(None, tmp_path, env=env, poll_interval=0.1).poll_interval == 0.1  # type: ignore[arg-type]


def test_a_bad_poll_setting_fails_the_units_start_with_what_to_do(tmp_path: Path) -> None:
    from shipyard.engine.runners.base import SpawnError, UnitLaunch

    runner = SlurmRunner(None, tmp_path, env={"SHIPYARD_SLURM_POLL_INTERVAL": "soon"})  # type: ignore[arg-type]
    with pytest.raises(SpawnError, match="SHIPYARD_SLURM_POLL_INTERVAL='soon' is not a number"):
        runner.start(UnitLaunch("s", ["true"], {}, None, str(tmp_path / "s.log")))


def test_sbatch_command_line() -> None:
    settings = SlurmSettings(
        partition="gpu", time="10", nodes=2, ntasks=4, account="proj", extra=["--qos=high"]
    )
    argv = sbatch_argv(
        settings, job_name="shipyard.e1.train", workdir="/w d", log_path="/l.log", script="/s.sh"
    )
    assert argv == [
        "sbatch", "--parsable", "--job-name=shipyard.e1.train", "--chdir=/w d",
        "--output=/l.log", "--error=/l.log", "--open-mode=append", "--export=ALL",
        "--no-requeue", "--partition=gpu", "--time=10", "--nodes=2", "--ntasks=4",
        "--account=proj", "--qos=high", "/s.sh",
    ]  # fmt: skip
    bare = sbatch_argv(SlurmSettings(), job_name="j", workdir="/", log_path="/l", script="/s")
    assert not any(word.startswith(("--partition", "--time", "--nodes")) for word in bare)


def test_the_job_script_runs_the_argv_word_for_word(tmp_path: Path) -> None:
    argv = ["printf", "%s|", "a b", "it's", "$HOME", "`id`", "x;y", "new\nline"]
    script = tmp_path / "job.sh"
    script.write_text(job_script(argv))
    done = subprocess.run(["sh", str(script)], capture_output=True, text=True, check=True)
    assert done.stdout == "a b|it's|$HOME|`id`|x;y|new\nline|", "no word expanded or split"
    assert shlex.join(argv) in script.read_text()
