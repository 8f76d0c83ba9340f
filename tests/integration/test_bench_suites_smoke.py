"""bench/suites.py goes through on a tiny workload: its own PostgreSQL, ``shipyard serve --db``,
two ``shipyard manager``s (a suite each round, 2 managed workers each) beside two ``shipyard
worker --concurrency 2``. Its figures are not judged (no time is asserted), only that each is
there — the fetch figures, and the managed workers' wait for a task, come from the managers'
``--stats`` files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "suites.py"


@pytest.mark.slow
def test_bench_suites_one_small_round(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--tasks", "40", "--rounds", "1", "--prefetch", "8",
         "--fetches", "5", "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    figures = json.loads(out.read_text())["figures"]
    assert set(figures) == {"suite", "workers"}
    for name, mine in figures.items():
        for key in ("e2e tasks/s", "e2e cpu s", "e2e cpu s: coordinator", "node peak RSS MB",
                    "coordinator peak RSS MB"):  # fmt: skip
            assert len(mine[key]) == 1 and mine[key][0] > 0, (name, key, mine.get(key))
        assert mine["tasks not succeeded"] == [0], (name, mine["tasks not succeeded"])
    suite = figures["suite"]
    assert suite["e2e cpu s: managers + workers"][0] > 0, suite
    # 40 tasks, at most 8 a fetch: at least 5 fetches timed by the managers themselves.
    assert suite["fetch count"][0] >= 5, suite
    for key in (
        "fetch p50 ms",
        "fetch p95 ms (worse manager)",
        "report p95 ms (worse manager)",
        "fetch alone p50 ms",
        "fetch alone p95 ms",
    ):
        assert suite[key][0] > 0, (key, suite.get(key))
    assert suite["fetch alone over HTTP"] == [0], suite  # the in-process client's WebSocket
    # The managed workers' wait for each task, from the managers' --stats files: one a task
    # handed out (40 run, none twice on a quiet round).
    assert suite.get("task wait count") == [40], suite
    for key in ("task wait p50 ms", "task wait p95 ms (worse manager)", "task wait max ms"):
        assert suite[key][0] > 0, (key, suite.get(key))
    assert suite["task wait p50 ms"][0] <= suite["task wait max ms"][0], suite
    assert "suite ÷ workers, e2e tasks/s" in done.stdout, done.stdout
    assert "| fetch p95 ms (worse manager) |" in done.stdout, done.stdout
    assert "| task wait p95 ms (worse manager) |" in done.stdout, done.stdout
    assert "the workers' wait for a task p50/p95" in done.stderr, done.stderr[-2000:]
