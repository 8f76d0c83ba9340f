"""Every counted message issue 11 §21 named, one case per message: singular, plural, empty."""

from __future__ import annotations

import pytest

from shipyard.cli import sentences
from shipyard.engine.restarts import used_up


@pytest.mark.parametrize(
    ("running", "never", "said"),
    [
        (["a"], ["b", "c"], "exec_x: running a (killed now); never started: b, c"),
        (["a", "b"], [], "exec_x: running a, b (killed now)"),
        ([], ["c"], "exec_x: nothing is running; never started: c"),
        ([], [], "exec_x: nothing is running"),
    ],
)
def test_stop_impact(running: list[str], never: list[str], said: str) -> None:
    assert sentences.stop_impact("exec_x", running, never, "killed now") == said


@pytest.mark.parametrize(
    ("files", "records", "said"),
    [
        (1, False, "exec_x: 1 file put back (4.0KiB)"),
        (2, True, "exec_x: 2 files and its records put back (4.0KiB)"),
        (0, True, "exec_x: 0 files and its records put back (4.0KiB)"),
    ],
)
def test_put_back(files: int, records: bool, said: str) -> None:
    assert sentences.put_back("exec_x", files, records, "4.0KiB") == said


@pytest.mark.parametrize(("items", "said"), [(1, "exec_x: 1 item, 1B"), (3, "exec_x: 3 items, 1B")])
def test_cleaned(items: int, said: str) -> None:
    assert sentences.cleaned("exec_x", items, "1B") == said


@pytest.mark.parametrize(
    ("files", "said"), [(1, "exec_x/ckpt-0001: 1 file, 2B"), (0, "exec_x/ckpt-0001: 0 files, 2B")]
)
def test_checkpoint_taken(files: int, said: str) -> None:
    assert sentences.checkpoint_taken("exec_x/ckpt-0001", files, "2B") == said


@pytest.mark.parametrize(
    ("count", "why", "said"),
    [
        (1, "exited with code 3", "1 restart used up (last: exited with code 3)"),
        (2, None, "2 restarts used up (last: exited)"),
        (0, "killed by SIGKILL", "0 restarts used up (last: killed by SIGKILL)"),
    ],
)
def test_restarts_used_up(count: int, why: str | None, said: str) -> None:
    assert used_up(count, why) == said


@pytest.mark.parametrize(
    ("failed", "total", "said"),
    [(1, 1, "1 of 1 point failed"), (2, 5, "2 of 5 points failed"), (1, 2, "1 of 2 points failed")],
)
def test_failed_points_of_a_sweep(failed: int, total: int, said: str) -> None:
    from shipyard.sweeprun import failed_points

    assert failed_points(failed, total) == said
