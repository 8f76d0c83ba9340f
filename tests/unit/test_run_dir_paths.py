"""RunDir.log_paths: the string-built log paths are exactly what log_for gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.workspace import RunDir


@pytest.mark.parametrize(
    ("root", "unit"),
    [
        ("/home/u/.shipyard/runs/exec_a_1", "s0"),
        ("/home/u/.shipyard/runs/exec_a_1", "_prepare"),
        ("/r", "a.b-c_d"),
        ("relative/runs/x", "fanin"),
        ("/", "x"),
    ],
)
def test_log_paths_match_log_for(root: str, unit: str) -> None:
    run_dir = RunDir(Path(root))
    assert run_dir.log_paths([unit]) == [str(run_dir.log_for(unit))]


def test_log_paths_keep_order() -> None:
    run_dir = RunDir(Path("/r"))
    assert run_dir.log_paths(iter(["b", "a"])) == ["/r/logs/b.log", "/r/logs/a.log"]
