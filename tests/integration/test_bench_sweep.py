"""bench/sweep.py goes through end to end on a tiny workload (real shipyard commands under
bench/peers.py's launcher); its figures are not judged here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "sweep.py"


def test_bench_sweep_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--points", "3", "--rounds", "1", "--warmup", "0",
         "--variants", "sweep P4,runs,in-process,shell", "--dir", str(tmp_path),
         "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in rows[1:]] == [
        "sweep P4",
        "runs",
        "in-process",
        "shell",
    ]
    figures = json.loads(out.read_text())
    assert all(len(runs) == 1 and runs[0]["wall"] > 0 for runs in figures.values())
