"""``make suites-demo`` (scripts/suites_demo.py) as a newcomer runs it: a throwaway
PostgreSQL, a coordinator, two node managers and a suite of 200 tasks that goes Open → Closed
→ Complete, each manager's tasks and hooks — and no process or folder left behind, also when a
manager dies on the way."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.test_cluster_demo import _left_behind
from tests.postgres import _binary

pytestmark = [
    pytest.mark.local_only("starts a cluster of its own, not through the local server"),
    pytest.mark.slow,  # ~35 s each here: PostgreSQL, a server and two managers start and stop
    pytest.mark.timeout(300),
]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "suites_demo.py"


@contextlib.contextmanager
def _demo() -> Iterator[subprocess.Popen[str]]:
    """The demo running; interrupted (its own clean-up) if the test ends before it does."""
    _binary("initdb")  # skipped (or failed under CI=true) without PostgreSQL
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    demo = subprocess.Popen(
        [sys.executable, str(SCRIPT)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env | {"NO_COLOR": "1"}, start_new_session=True,
    )  # fmt: skip
    try:
        yield demo
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
            try:
                demo.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()


def _sweep(output: str) -> tuple[list[str], list[str]]:
    """What the demo left behind (its home, PostgreSQL's folder): processes, killed here so
    a failing test leaves nothing to the next, and folders."""
    folders = sorted(set(re.findall(r"(/\S*shipyard-suites-demo-[^\s/]+)", output)))
    assert folders, f"the demo named no folder:\n{output}"
    left = _left_behind(folders)
    for found in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(found.split(":")[0]), signal.SIGKILL)
    return left, [folder for folder in folders if Path(folder).exists()]


def test_the_suite_goes_open_closed_complete_on_two_managers_and_nothing_is_left() -> None:
    with _demo() as demo:
        out, err = demo.communicate(timeout=240)
    processes, folders = _sweep(out + err)
    assert demo.returncode == 0, f"{out}\n{err}"
    assert "created with 200 tasks" in out, out
    assert "states seen: open → closed → complete" in out, out
    ran = re.findall(
        r"manager-(\d): ran (\d+) tasks \(0 failed\); env_preparation once \([\d.]+ s\), "
        r"env_cleanup once \([\d.]+ s\)",
        out,
    )
    never = re.findall(r"manager-(\d): never took the suite", out)
    assert sorted([n for n, _ in ran] + never) == ["1", "2"], out
    assert sum(int(count) for _, count in ran) == 200, out
    assert "200 tasks, each run once, all succeeded" in out, out
    assert "[stop] PostgreSQL stopped; no process left" in out, out
    assert processes == [], "processes left behind"
    assert folders == [], "folders left behind"


def test_a_manager_that_dies_ends_the_demo_with_a_message_and_nothing_left() -> None:
    with _demo() as demo:
        assert demo.stdout is not None
        seen = ""
        for line in demo.stdout:
            seen += line
            if line.startswith("[5/7]"):  # both managers registered
                break
        else:
            raise AssertionError(f"the demo ended before its suite:\n{seen}")
        home = re.search(r"everything under (\S+)", seen)
        assert home is not None, seen
        manager = _left_behind([f"--folder {home.group(1)}/manager-1 "])
        assert len(manager) == 1, manager
        os.kill(int(manager[0].split(":")[0]), signal.SIGKILL)
        out, err = demo.communicate(timeout=120)
    seen += out
    processes, folders = _sweep(seen + err)
    assert demo.returncode == 1, f"{seen}\n{err}"
    assert "suites demo failed: the manager-1 exited (status -9) before the end" in err, err
    assert "server: stopped" in seen, seen
    assert processes == [], "processes left behind"
    assert folders == [], "folders left behind"
