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


def _eldest(found: list[str]) -> list[str]:
    """The entries of ``found`` whose parent is not itself in ``found``: a process caught
    between fork and exec still shows its parent's command line (seen under load in CI)."""
    pids = {entry.split(":")[0] for entry in found}

    def parent(pid: str) -> str:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return ""
        return stat.rsplit(")", 1)[1].split()[1]  # after "pid (comm) state"

    return [entry for entry in found if parent(entry.split(":")[0]) not in pids]


def _sweep(output: str) -> tuple[list[str], list[str]]:
    """What the demo left behind: processes (killed here, so that a failing test leaves
    nothing to the next) and folders. Called before any other check of a test."""
    folders = _folders(output)
    left = _left_behind(folders)
    for found in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(found.split(":")[0]), signal.SIGKILL)
    return left, [folder for folder in folders if Path(folder).exists()]


def test_the_demo_runs_its_tasks_shows_results_and_leaves_nothing() -> None:
    with _demo("--tasks", "30") as demo:
        out, err = demo.communicate(timeout=240)
    processes, folders = _sweep(out + err)
    assert demo.returncode == 0, f"{out}\n{err}"
    assert "by state: 30 succeeded" in out
    shown = re.findall(r"succeeded, exit 0, worker \w+: task (\d+): \1 squared is (\d+)", out)
    assert [(int(n), int(square)) for n, square in shown] == [(0, 0), (15, 225), (29, 841)]
    ran = [int(n) for n in re.findall(r"worker \d: ran (\d+) tasks", out)]
    assert len(ran) == 2 and sum(ran) == 30, out
    assert re.search(r"throughput: 30 tasks in [\d.]+ s = \d+ tasks/s", out)
    assert processes == [], "processes left behind"
    assert folders == [], "folders left behind"


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
    processes, folders = _sweep(seen + err)
    assert demo.returncode == 130, f"{seen}\n{err}"
    assert "interrupted: everything started was stopped and removed" in seen
    assert "server: stopped" in seen
    assert processes == [], "processes left behind"
    assert folders == [], "folders left behind"


def test_a_part_that_dies_ends_the_demo_with_a_message_and_nothing_left() -> None:
    with _demo("--tasks", "5000") as demo:
        assert demo.stdout is not None
        seen = ""
        for line in demo.stdout:
            seen += line
            if line.startswith("[6/7]"):
                break
        else:
            raise AssertionError(f"the demo ended before its tasks ran:\n{seen}")
        home = re.search(r"everything under (\S+)", seen)
        assert home is not None, seen
        worker = _eldest([p for p in _left_behind([f"{home.group(1)}/worker-1"]) if "worker" in p])
        assert len(worker) == 1, worker
        os.kill(int(worker[0].split(":")[0]), signal.SIGKILL)
        out, err = demo.communicate(timeout=120)
    seen += out
    processes, folders = _sweep(seen + err)
    assert demo.returncode == 1, f"{seen}\n{err}"
    assert "cluster demo failed: the worker 1 exited (status -9) before the end" in err
    assert "server: stopped" in seen
    assert processes == [], "processes left behind"
    assert folders == [], "folders left behind"
