"""What the CLI prints is what holds (issue 11 leftovers): `up -d` of a fleet that ended while
it came up prints the state the store has for it (it said "running" for a fleet whose only
service had exited 1), and a foreground `run` shows its hooks starting and ending as they do
(it showed nothing of them until the final table)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.acceptance.conftest import Shipyard, shipyard_executable

FAILS_AT_ONCE = """\
name: boom
services:
  boom:
    run: [sh, -c, "echo starting; echo oops; exit 1"]
    restart: {policy: "no"}
    # A probe that never passes, so `up` is still waiting when the service exits (without
    # one a service counts as healthy once started, and `up` may return before the exit).
    health: {exec: ["false"], interval: 0.05s}
"""

#: The prepare hook waits for the test's go (a file), so its start is seen while it runs; it
#: gives up after ~10 s (and says so in a file), so a display that is not live fails the test
#: with a message, not a timeout.
HELD = """\
name: held
hooks:
  prepare:
    - run: >-
        i=0; while [ ! -f go ]; do i=$((i+1));
        if [ $i -gt 200 ]; then touch gave_up; exit 0; fi; sleep 0.05; done
      shell: true
    - [sh, -c, "echo ready"]
  cleanup: [sh, -c, "echo cleaning"]
steps:
  train:
    run: [sh, -c, "echo training"]
"""

BAD_HOOK = """\
name: badhook
hooks:
  prepare: [sh, -c, "exit 3"]
steps:
  train:
    run: [sh, -c, "echo training"]
"""


def test_up_prints_the_state_the_store_has_for_a_fleet_that_ended(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    spec = tmp_path / "boom.yaml"
    spec.write_text(FAILS_AT_ONCE, encoding="utf-8")
    up = shipyard("up", "-d", str(spec))
    assert up.returncode != 0, up.stdout
    header = up.stdout.splitlines()[0]
    execution_id, shown = header.split()[:2]
    stored = json.loads(shipyard("status", execution_id, "--json").stdout)
    assert stored["state"] not in ("pending", "running"), stored  # it has ended by itself
    assert shown == stored["state"], (
        f"up -d printed {execution_id} as {shown!r} but the store has {stored['state']!r}: {header}"
    )
    # Still said, as before: how the service ended and its last lines.
    assert "'boom' exited with code 1" in up.stderr, up.stderr
    assert "boom | oops" in up.stderr and "Traceback" not in up.stderr, up.stderr


def _run_held(tmp_path: Path) -> tuple[list[str], str]:
    """`run` of HELD in the foreground: the lines printed up to the hook's start (read while
    it waits), then the go and the rest of the output."""
    spec = tmp_path / "held.yaml"
    spec.write_text(HELD, encoding="utf-8")
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    with subprocess.Popen(
        [shipyard_executable(), "run", str(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    ) as run:
        assert run.stdout is not None
        early: list[str] = []
        for line in run.stdout:
            early.append(line.rstrip("\n"))
            if "_prepare" in line:
                break
        assert not (tmp_path / "gave_up").exists(), (
            f"the prepare hook's start was printed only after it ended: {early}"
        )
        (tmp_path / "go").touch()
        rest, errors = run.communicate(timeout=60)
    assert run.returncode == 0, rest + errors
    return early, rest


def test_run_shows_its_hooks_as_they_run(tmp_path: Path) -> None:
    early, rest = _run_held(tmp_path)
    assert early[-1].strip().startswith("running _prepare `i=0; while"), early
    lines = [line.strip() for line in rest.splitlines()]
    table = next(i for i, line in enumerate(lines) if line.startswith("┏"))
    live = lines[:table]  # what was printed while it ran, before the final table
    expected = [
        "succeeded _prepare `i=0; while",  # the held one, once it got its go
        "running _prepare `sh -c 'echo ready'`",
        "succeeded _prepare `sh -c 'echo ready'` in",
        "succeeded train in",
        "running _cleanup `sh -c 'echo cleaning'`",
        "succeeded _cleanup `sh -c 'echo cleaning'` in",
    ]
    assert len(live) == len(expected) and all(
        line.startswith(start) for line, start in zip(live, expected, strict=True)
    ), f"printed while it ran: {live}"


def test_run_shows_a_failed_hook_with_its_exit(shipyard: Shipyard, tmp_path: Path) -> None:
    spec = tmp_path / "badhook.yaml"
    spec.write_text(BAD_HOOK, encoding="utf-8")
    done = shipyard("run", str(spec))
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    failed = next((i for i, line in enumerate(lines) if line.startswith("failed _prepare")), None)
    assert failed is not None, f"no line for the failed hook: {lines}"
    assert lines[failed].startswith("failed _prepare `sh -c 'exit 3'` in"), lines[failed]
    assert lines[failed].endswith("— exited with code 3"), lines[failed]
    skipped = next(i for i, line in enumerate(lines) if line.startswith("skipped train"))
    assert lines[failed - 1] == "running _prepare `sh -c 'exit 3'`" and failed < skipped, lines
