"""A completion the user saw is on disk before anything depends on it (issue 10, part 3).

The supervisor is killed with SIGKILL — right after a dependant starts, and at random instants of
a 50-step run — and the execution resumed. Every step appends ``name attempt`` to a shared file
once its work is done, so the file says which attempts really finished. Real processes, real
SQLite, nothing mocked. The randomness is seeded; the seed and the trial are in every message.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.engine.attemptlog import OUTCOME_UNKNOWN
from shipyard.engine.liveness import pid_alive
from shipyard.models import ExecutionState, UnitState
from shipyard.workspace import RunDir
from tests.conftest import SpecWriter
from tests.integration.test_lifecycle import wait_for

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("SHIPYARD_TEST_SEED", "20261202"))


def finished(done_file: Path) -> list[tuple[str, int]]:
    """(step, attempt) of every attempt that did its work, in order."""
    if not done_file.exists():
        return []
    pairs = []
    for line in done_file.read_text().splitlines():
        name, attempt = line.split()
        pairs.append((name, int(attempt)))
    return pairs


def spawned(run_dir: RunDir) -> Counter[str]:
    """How many processes the spawn journal has per step (hooks aside)."""
    return Counter(unit for _, _, unit in run_dir.started() if not unit.startswith("_"))


def kill_supervisor(ops: Operations, execution_id: str, pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid))
    assert ops.status(execution_id).state == ExecutionState.LOST


def step(name: str, done_file: Path, *, work: str = "true", needs: str = "") -> str:
    """A step noting its attempt in ``<done_file>.begun`` as it begins, and in ``done_file``
    once its work is done."""
    needed = f", needs: [{needs}]" if needs else ""
    note = f"echo {name} $SHIPYARD_ATTEMPT >>"
    command = f"{note} {done_file}.begun; {work}; {note} {done_file}"
    return f"  {name}: {{run: '{command}', shell: true{needed}}}\n"


def test_a_step_a_started_dependant_needs_is_never_run_again(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """kill -9 the moment the spawn journal shows the dependant: the step it needs succeeded in
    the store already, so resume keeps it (15 trials)."""
    for trial in range(15):
        kill_as_the_dependant_starts(ops, write_spec, tmp_path, f"trial {trial}")


def kill_as_the_dependant_starts(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path, where: str
) -> None:
    done_file = tmp_path / f"done-{where.replace(' ', '-')}.txt"
    spec = write_spec(
        "name: pair\nsteps:\n"
        + step("first", done_file)
        + step("second", done_file, work="sleep 0.5", needs="first"),
        name=f"{done_file.stem}.yaml",
    )
    execution_id = ops.run(spec, detach=True).id
    run_dir = ops.workspace.run_dir(execution_id)
    wait_for(lambda: ops.store.supervisor(execution_id)[0] is not None)
    supervisor = ops.store.supervisor(execution_id)[0]
    assert supervisor is not None
    deadline = time.monotonic() + 20
    while spawned(run_dir)["second"] == 0:  # a tight poll: kill in the first instants
        assert time.monotonic() < deadline, f"{where}: the dependant never started"
    os.kill(supervisor, signal.SIGKILL)
    wait_for(lambda: not pid_alive(supervisor))
    # The store as the supervisor left it (nothing recovered yet): the success is there.
    raw = ops.store.get_execution(execution_id)
    assert raw is not None
    assert raw.unit("first").state == UnitState.SUCCEEDED, f"{where}: {raw.units}"
    lost = ops.status(execution_id)
    assert lost.state == ExecutionState.LOST, where
    assert lost.unit("first").state == UnitState.SUCCEEDED, f"{where}: {lost.units}"

    resumed = ops.resume(execution_id)
    assert resumed.state == ExecutionState.SUCCEEDED, f"{where}: {resumed.reason}"
    runs = finished(done_file)
    assert [name for name, _ in runs].count("first") == 1, f"{where}: {runs}"
    assert len(set(runs)) == len(runs), f"{where}: an attempt number repeated: {runs}"


def fifty_steps(write_spec: SpecWriter, done_file: Path, name: str) -> Path:
    """50 short steps, two at a time; each needs the one two before it, so nearly every start
    is a dependant's."""
    body = "".join(
        step(f"s{i}", done_file, work="sleep 0.02", needs=f"s{i - 2}" if i >= 2 else "")
        for i in range(50)
    )
    return write_spec(f"name: fifty\nexecution: {{max_parallel: 2}}\nsteps:\n{body}", name=name)


def start(
    ops: Operations, spec: Path, tmp_path: Path, foreground: list[subprocess.Popen[bytes]] | None
) -> tuple[str, int]:
    """The execution's id and its supervisor's pid: detached through the API, or (``foreground``
    given a place) a foreground `shipyard run` in a process of its own, appended there."""
    if foreground is None:
        execution_id = ops.run(spec, detach=True).id
    else:
        before = ops.store.latest_execution_id()
        env = {**os.environ, "SHIPYARD_HOME": str(ops.workspace.home), "NO_COLOR": "1"}
        command = [sys.executable, "-m", "shipyard", "run", "-q", str(spec)]
        quiet = subprocess.DEVNULL
        foreground.append(subprocess.Popen(command, cwd=tmp_path, env=env, stdout=quiet))
        wait_for(lambda: ops.store.latest_execution_id() not in (None, before))
        execution_id = str(ops.store.latest_execution_id())
    wait_for(lambda: ops.store.supervisor(execution_id)[0] is not None)
    pid = ops.store.supervisor(execution_id)[0]
    assert pid is not None
    return execution_id, pid


def check_lost_record(
    ops: Operations, execution_id: str, begun: list[tuple[str, int]], where: str
) -> set[str]:
    """The store after the kill: consistent, every attempt ``begun`` has its row, with an end
    or an unknown outcome, none left running. Returns the steps recorded as succeeded."""
    status = ops.status(execution_id)
    assert status.state == ExecutionState.LOST, where
    units = {unit.name: unit for unit in status.units}
    attempts = ops.store.attempts(execution_id)
    missing = set(begun) - {(a.unit, a.number) for a in attempts}
    assert not missing, f"{where}: attempts that began have no row: {sorted(missing)}"
    for attempt in attempts:
        assert attempt.state != UnitState.RUNNING, f"{where}: left running: {attempt}"
        assert attempt.ended_at is not None or attempt.reason == OUTCOME_UNKNOWN, (
            f"{where}: {attempt}"
        )
    succeeded = {name for name, unit in units.items() if unit.state == UnitState.SUCCEEDED}
    for name in succeeded:
        index = int(name[1:])
        assert index < 2 or f"s{index - 2}" in succeeded, f"{where}: {name} before its need"
        assert any(a.unit == name and a.state == UnitState.SUCCEEDED for a in attempts), where
    return succeeded


def test_kill_at_random_instants_loses_no_attempt_and_reruns_no_success(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """6 trials, detached and foreground in turn; most of them are killed before the end."""
    rng = random.Random(SEED)
    killed = sum(
        kill_at_random(ops, write_spec, tmp_path, rng, f"seed {SEED}, trial {trial}", trial % 2)
        for trial in range(6)
    )
    assert killed >= 3, f"seed {SEED}: only {killed} trials were killed before their end"


def kill_at_random(
    ops: Operations,
    write_spec: SpecWriter,
    tmp_path: Path,
    rng: random.Random,
    where: str,
    foreground: int,
) -> bool:
    """One trial; False when the run ended before the instant drawn."""
    done_file = tmp_path / f"done-{where[-1]}.txt"
    spec = fifty_steps(write_spec, done_file, f"fifty-{where[-1]}.yaml")
    cli: list[subprocess.Popen[bytes]] = []
    execution_id, supervisor = start(ops, spec, tmp_path, cli if foreground else None)
    run_dir = ops.workspace.run_dir(execution_id)
    wait_for(lambda: sum(spawned(run_dir).values()) > 0)
    time.sleep(rng.uniform(0.0, 0.8))
    alive = pid_alive(supervisor)
    if alive:
        kill_supervisor(ops, execution_id, supervisor)
    for process in cli:
        process.wait()
    if not alive:
        return False
    begun = finished(done_file.with_name(done_file.name + ".begun"))
    kept = check_lost_record(ops, execution_id, begun, where)
    where += f", kept {sorted(kept)}"

    resumed = ops.resume(execution_id)
    assert resumed.state == ExecutionState.SUCCEEDED, f"{where}: {resumed.reason}"
    runs = finished(done_file)
    assert len(set(runs)) == len(runs), f"{where}: an attempt number repeated: {runs}"
    counts = Counter(name for name, _ in runs)
    rerun = sorted(name for name in kept if counts[name] > 1)
    assert not rerun, f"{where}: succeeded steps ran again: {rerun} ({runs})"
    numbers = {(a.unit, a.number) for a in ops.store.attempts(execution_id)}
    assert set(runs) <= numbers, f"{where}: attempts not recorded: {set(runs) - numbers}"
    return True


def test_a_success_only_events_jsonl_had_keeps_its_cache_key(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """The supervisor died after journaling a success (events.jsonl, attempts.log) but before
    the store had it: recovery puts the success in the store with the attempt journal's cache
    key, so resume keeps it (seen in CI as a step run twice after a kill -9)."""
    import json
    import sqlite3

    done_file = tmp_path / "done.txt"
    spec = write_spec(
        "name: pair\nsteps:\n"
        + step("first", done_file)
        + step("second", done_file, needs="first"),
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED, status.reason
    run_dir = ops.workspace.run_dir(status.id)
    # Back to the instant after `first` was journaled: the store still says running, and the
    # journals have nothing after it.
    events = [json.loads(line) for line in run_dir.events.read_text().splitlines()]
    cut = next(i for i, e in enumerate(events) if e.get("action") == "unit_finished") + 1
    run_dir.events.write_text("".join(json.dumps(e) + "\n" for e in events[:cut]))
    assert events[cut - 1]["unit"] == "first"
    attempts = run_dir.attempts.read_text().splitlines()
    run_dir.attempts.write_text("".join(f"{line}\n" for line in attempts if '"first"' in line))
    dead = subprocess.Popen(["true"])
    dead.wait()
    with sqlite3.connect(ops.workspace.home / "state.db") as db:
        db.execute(
            "UPDATE executions SET state = 'running', ended_at = NULL, supervisor_pid = ?,"
            " heartbeat_at = ? WHERE id = ?",
            (dead.pid, time.time(), status.id),
        )
        db.execute(
            "UPDATE units SET state = 'running', cache_key = NULL, ended_at = NULL"
            " WHERE execution_id = ? AND name = 'first'",
            (status.id,),
        )
        db.execute(
            "UPDATE units SET state = 'pending', attempts = 0 WHERE execution_id = ?"
            " AND name = 'second'",
            (status.id,),
        )
        db.execute("DELETE FROM attempts WHERE execution_id = ?", (status.id,))
    lost = ops.status(status.id)
    assert lost.state == ExecutionState.LOST, lost.reason
    assert lost.unit("first").state == UnitState.SUCCEEDED
    assert "first" in ops.store.cache_keys(status.id), "the recovered success has no cache key"
    resumed = ops.resume(status.id)
    assert resumed.state == ExecutionState.SUCCEEDED, resumed.reason
    runs = [name for name, _ in finished(done_file)]
    assert runs.count("first") == 1, f"the recovered success ran again: {runs}"
