"""``make cluster-demo`` (scripts/cluster_demo.py) as a newcomer runs it, with fewer tasks: it
starts a throwaway PostgreSQL, a coordinator and two workers, runs the tasks, shows their
results — and leaves no process and no folder behind, also when interrupted with Ctrl-C."""

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

from tests.postgres import _binary

pytestmark = [
    pytest.mark.local_only("starts a cluster of its own, not through the local server"),
    pytest.mark.slow,  # ~25 s each here: PostgreSQL, a server and two workers start and stop
    pytest.mark.timeout(300),
]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "cluster_demo.py"


@contextlib.contextmanager
def _demo(*args: str) -> Iterator[subprocess.Popen[str]]:
    """The demo running; interrupted (its own clean-up) if the test ends before it does."""
    _binary("initdb")  # skipped (or failed under CI=true) without PostgreSQL
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    demo = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env | {"NO_COLOR": "1"}, start_new_session=True,
    )  # fmt: skip
    try:
        yield demo
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
            try:
                demo.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()


def _folders(output: str) -> list[str]:
    """Every folder the demo said it made (its home, PostgreSQL's)."""
    found = set(re.findall(r"(/\S*shipyard-demo-[^\s/]+)", output))
    assert found, f"the demo named no folder:\n{output}"
    return sorted(found)


def _left_behind(folders: list[str]) -> list[str]:
    """Processes whose command line names one of the folders (the server's --home is the
    demo's, PostgreSQL's -D its data folder, a worker's --folder under the home)."""
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(folder in line for folder in folders):
            left.append(f"{entry.name}: {line.strip()}")
    return left


def _assert_nothing_left(output: str) -> None:
    folders = _folders(output)
    left = _left_behind(folders)
    for found in left:  # a failing demo's leftovers are not left to the next test
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(found.split(":")[0]), signal.SIGKILL)
    assert left == [], "processes left behind"
    assert [f for f in folders if Path(f).exists()] == [], "folders left behind"


def test_the_demo_runs_its_tasks_shows_results_and_leaves_nothing() -> None:
    with _demo("--tasks", "30") as demo:
        out, err = demo.communicate(timeout=240)
    assert demo.returncode == 0, f"{out}\n{err}"
    assert "by state: 30 succeeded" in out
    shown = re.findall(r"succeeded, exit 0, worker \w+: task (\d+): \1 squared is (\d+)", out)
    assert [(int(n), int(square)) for n, square in shown] == [(0, 0), (15, 225), (29, 841)]
    ran = [int(n) for n in re.findall(r"worker \d: ran (\d+) tasks", out)]
    assert len(ran) == 2 and sum(ran) == 30, out
    assert re.search(r"throughput: 30 tasks in [\d.]+ s = \d+ tasks/s", out)
    _assert_nothing_left(out + err)


def test_ctrl_c_stops_and_removes_everything() -> None:
    with _demo("--tasks", "5000") as demo:
        assert demo.stdout is not None
        seen = ""
        for line in demo.stdout:
            seen += line
            if line.startswith("[6/7]"):  # the workers run the tasks: every part is up
                break
        else:
            raise AssertionError(f"the demo ended before its tasks ran:\n{seen}")
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=120)
    seen += out
    assert demo.returncode == 130, f"{seen}\n{err}"
    assert "interrupted: everything started was stopped and removed" in seen
    assert "server: stopped" in seen
    _assert_nothing_left(seen + err)
