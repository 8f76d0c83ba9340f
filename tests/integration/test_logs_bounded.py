"""`shipyard logs` in bounded memory on a large log, and log rotation per unit.

The real CLI runs as a subprocess. Its peak memory is the ``ru_maxrss`` that ``wait4`` reports
for it, measured by a small launcher process: a child started from pytest itself would count
pytest's own memory (a vfork'ed or forked child's high-water mark starts at its parent's). The
launcher also caps the address space, so a reader that gathers the whole log fails at once
with a MemoryError instead of running for minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.models import ExecutionState

LINES = 1_500_000  # of 100 bytes: a 150 MB log
PEAK_BOUND_KB = 150 * 1024
ADDRESS_SPACE_CAP = 1024 * 1024 * 1024

WRITER = """\
import sys
lines = int(sys.argv[1])
pad = "x" * 89
write = sys.stdout.write
for start in range(0, lines, 10000):
    write("".join(f"{i:09d} {pad}\\n" for i in range(start, min(start + 10000, lines))))
"""

LAUNCHER = """\
import os, resource, subprocess, sys
cap = int(sys.argv[1])
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
with open(sys.argv[2], "wb") as out:
    child = subprocess.Popen(sys.argv[3:], stdout=out, preexec_fn=limit)
    _, status, usage = os.wait4(child.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def _shipyard() -> str:
    return str(Path(sys.executable).with_name("shipyard"))


def _env(home: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    return {**clean, "SHIPYARD_HOME": str(home), "NO_COLOR": "1"}


@dataclass
class BigLog:
    home: Path
    execution_id: str
    folder: Path


@dataclass
class Measured:
    code: int
    peak_kb: int
    stderr: str
    output: Path


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigLog]:
    folder = tmp_path_factory.mktemp("biglog")
    (folder / "writer.py").write_text(WRITER)
    spec = folder / "spec.yaml"
    spec.write_text(
        f"name: big\nsteps:\n  write:\n    run: [{sys.executable}, {folder / 'writer.py'}, "
        f"'{LINES}']\n"
    )
    home = folder / "home"
    done = subprocess.run(
        [_shipyard(), "run", "-q", str(spec)],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    execution_id = done.stdout.split()[0]
    log = home / "runs" / execution_id / "logs" / "write.log"
    assert log.stat().st_size == LINES * 100
    yield BigLog(home, execution_id, folder)


def _measure(big: BigLog, *args: str, output: str = os.devnull) -> Measured:
    target = Path(output)
    launcher = [sys.executable, "-c", LAUNCHER, str(ADDRESS_SPACE_CAP), str(target)]
    try:
        done = subprocess.run(
            [*launcher, _shipyard(), "logs", big.execution_id, *args],
            env=_env(big.home),
            capture_output=True,
            text=True,
            timeout=100,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"shipyard logs {' '.join(args)} on a 150 MB log ran for over 100 s")
    code, peak = done.stdout.split()
    return Measured(int(code), int(peak), done.stderr[-2000:], target)


def _assert_bounded(result: Measured, what: str) -> None:
    assert result.code == 0, f"shipyard logs {what} failed on a 150 MB log:\n{result.stderr}"
    assert result.peak_kb < PEAK_BOUND_KB, (
        f"shipyard logs {what} peaked at {result.peak_kb // 1024} MB on a 150 MB log "
        f"(bound {PEAK_BOUND_KB // 1024} MB)"
    )


def _line(number: int) -> str:
    return f"{number:09d} {'x' * 89}"


@pytest.mark.slow
@pytest.mark.parametrize("args", [[], ["--json"]], ids=["plain", "json"])
def test_full_output_streams(big_log: BigLog, args: list[str]) -> None:
    _assert_bounded(_measure(big_log, *args), " ".join(args) or "(everything)")


@pytest.mark.slow
def test_tail_reads_from_the_end(big_log: BigLog) -> None:
    result = _measure(big_log, "--tail", "2", output=str(big_log.folder / "tail.txt"))
    _assert_bounded(result, "--tail 2")
    assert result.output.read_text().splitlines() == [
        f"write | {_line(LINES - 2)}",
        f"write | {_line(LINES - 1)}",
    ]


@pytest.mark.slow
def test_grep_streams(big_log: BigLog) -> None:
    _assert_bounded(_measure(big_log, "--grep", "5 x"), "--grep matching a tenth of the lines")
    out = str(big_log.folder / "grep.json")
    result = _measure(big_log, "write", "--grep", "^0012345[67]0 ", "--json", output=out)
    _assert_bounded(result, "--grep --json")
    assert json.loads(result.output.read_text()) == [
        {"unit": "write", "number": n + 1, "text": _line(n)} for n in (1234560, 1234570)
    ]


# -- rotation ---------------------------------------------------------------------------------

ROTATING = """\
import os, sys, time

def wait_for_rotation():
    # stdout is the unit's log file itself: the engine's rotation truncates it to 0
    deadline = time.monotonic() + 10
    while os.fstat(1).st_size > 0:
        if time.monotonic() > deadline:
            sys.stderr.write("the log was never rotated\\n")
            sys.exit(3)
        time.sleep(0.02)

rounds, pause = int(sys.argv[1]), float(sys.argv[2])
for round_ in range(1, rounds + 1):
    sys.stdout.write("".join(f"round {round_} line {i:04d} {'x' * 40}\\n" for i in range(1200)))
    sys.stdout.flush()
    wait_for_rotation()
    time.sleep(pause)
print("last line", flush=True)
"""
ROUND_BYTES = 1200 * 59


def _round(number: int) -> list[str]:
    return [f"round {number} line {i:04d} {'x' * 40}" for i in range(1200)]


def test_a_unit_past_its_log_limit_is_rotated_and_logs_reads_across(tmp_path: Path) -> None:
    (tmp_path / "rotating.py").write_text(ROTATING)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            name: rotate
            execution:
              sample_interval: 0.1s
              logs: {{max_size: 64K, keep: 5}}
            steps:
              write:
                run: [{sys.executable}, {tmp_path / "rotating.py"}, "5", "0"]
                logs: {{keep: 2}}
            """
        )
    )
    env = _env(tmp_path / "home")

    def shipyard(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_shipyard(), *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    run = shipyard("run", "-q", str(spec))
    execution_id = run.stdout.split()[0]
    logs = tmp_path / "home" / "runs" / execution_id / "logs"
    assert run.returncode == 0, run.stdout + run.stderr + (logs / "write.log").read_text()[-500:]
    # keep: 2 of the step overrides the execution's 5; its max_size (64K) is the execution's
    assert sorted(p.name for p in logs.iterdir()) == ["write.log", "write.log.1", "write.log.2"]
    assert (logs / "write.log").read_text() == "last line\n"
    assert (logs / "write.log.1").stat().st_size == ROUND_BYTES  # round 5, whole
    assert (logs / "write.log.2").stat().st_size == ROUND_BYTES  # round 4

    tail = shipyard("logs", execution_id, "write", "--tail", "3")
    assert tail.stdout.splitlines() == [*_round(5)[-2:], "last line"]
    everything = json.loads(shipyard("logs", execution_id, "--json").stdout)
    assert [line["text"] for line in everything] == [*_round(4), *_round(5), "last line"]
    assert [line["number"] for line in everything] == list(range(1, 2402))
    found = shipyard("logs", execution_id, "write", "--grep", "line 0000")
    assert found.stdout.splitlines() == [_round(4)[0], _round(5)[0]]
    events = [json.loads(line) for line in (logs.parent / "events.jsonl").read_text().splitlines()]
    assert sum(event["action"] == "log_rotated" for event in events) == 5


def test_following_sees_every_line_once_across_rotations(ops: Operations, tmp_path: Path) -> None:
    """`logs -f` of a unit whose log is rotated under it: the rest of the old content comes
    from the fresh copy, then the emptied log from its start — nothing lost, nothing twice."""
    (tmp_path / "rotating.py").write_text(ROTATING)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            name: follow
            execution: {{sample_interval: 0.1s, logs: {{max_size: 64K, keep: 3}}}}
            steps:
              write: {{run: [{sys.executable}, {tmp_path / "rotating.py"}, "4", "0.3"]}}
            """
        )
    )
    status = ops.run(spec, detach=True)
    followed = list(ops.logs(status.id, "write", follow=True))
    final = ops.status(status.id)
    assert final.state == ExecutionState.SUCCEEDED, final.reason
    expected = [*_round(1), *_round(2), *_round(3), *_round(4), "last line"]
    texts = [line.text for line in followed]
    assert len(texts) == len(expected), f"{len(texts)} lines followed, {len(expected)} written"
    assert texts == expected
    assert [line.number for line in followed] == list(range(1, len(expected) + 1))
