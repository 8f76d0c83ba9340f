"""bench/tasks.py goes through on a tiny workload: its own PostgreSQL, ``shipyard serve --db``
and two ``shipyard worker``s beside its own redis-server and two Celery workers. Its figures are
not judged here (no time is asserted), only that each is there for each system."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import missing_component

BENCH = Path(__file__).resolve().parents[2] / "bench" / "tasks.py"


@pytest.mark.slow
def test_bench_tasks_quick_run(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        missing_component("redis-server is not installed (apt-get install redis-server)")
    if importlib.util.find_spec("celery") is None:
        missing_component("Celery is not installed (pip install -e '.[bench]')")
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--tasks", "30", "--trips", "3",
         "--fetches", "5", "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    figures = json.loads(out.read_text())["figures"]
    assert set(figures) == {"shipyard", "celery", "celery (true)"}
    for name, mine in figures.items():
        for key in ("e2e tasks/s", "submit tasks/s", "trip p50 ms", "trip p95 ms", "e2e cpu s"):
            assert len(mine[key]) == 1 and mine[key][0] > 0, (name, key, mine.get(key))
    ours = figures["shipyard"]
    for key in ("fetch p95 ms", "server peak RSS MB", "e2e cpu s: server", "e2e cpu s: workers"):
        assert ours[key][0] > 0, (key, ours[key])
    assert "shipyard ÷ celery (true), e2e tasks/s" in done.stdout
    assert "Retry limit exceeded" not in done.stderr  # Celery's results let go while Redis ran
