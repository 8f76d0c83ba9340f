"""bench/task_queue.py goes through end to end on a tiny workload against a throwaway PostgreSQL;
its figures are not judged here, only that each is there and every task was done."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)

BENCH = Path(__file__).resolve().parents[2] / "bench" / "task_queue.py"


def test_bench_queue_quick_run(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--db", pg_url, "--tasks", "60", "--batch", "25",
         "--fetches", "20", "--wakes", "3", "--claim", "4", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    assert figures["bulk_submit"]["tasks"] == 60
    assert figures["fetch"]["fetches"] == 20 and figures["wake"]["samples"] == 3
    assert figures["end_to_end_claim1"]["tasks"] == 60
    assert figures["end_to_end_claim4"]["tasks"] == 60
