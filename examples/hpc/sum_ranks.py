"""Sum what fio reported on each MPI rank (examples/hpc/fio-ranks.yaml's `sum` step).

Reads ``$SHIPYARD_ARTIFACTS_DIR/ranks/rank<N>.json`` (fio's JSON, one write and one read job),
prints a table per rank and the totals, writes ``summary.json`` beside them, and reports the
totals as metrics (``$SHIPYARD_METRICS``, one JSON figure a line). Exits 1 when a rank's result
is missing: ``python3 sum_ranks.py <expected ranks>``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(expected: int) -> int:
    folder = Path(os.environ["SHIPYARD_ARTIFACTS_DIR"]) / "ranks"
    rows = []
    for rank in range(expected):
        path = folder / f"rank{rank}.json"
        if not path.exists():
            print(f"rank {rank} wrote no result ({path})", file=sys.stderr)
            return 1
        jobs = {job["jobname"]: job for job in json.loads(path.read_text())["jobs"]}
        write, read = jobs["write"]["write"], jobs["read"]["read"]
        rows.append((rank, write["bw_bytes"] / 2**20, read["bw_bytes"] / 2**20,
                     write["iops"] + read["iops"]))  # fmt: skip
    print(f"{'rank':>4} {'write MiB/s':>12} {'read MiB/s':>12} {'IOPS':>10}")
    for rank, write_bw, read_bw, iops in rows:
        print(f"{rank:>4} {write_bw:>12.1f} {read_bw:>12.1f} {iops:>10.1f}")
    totals = {
        "ranks": float(len(rows)),
        "write_bw": sum(row[1] for row in rows),
        "read_bw": sum(row[2] for row in rows),
        "iops": sum(row[3] for row in rows),
    }
    print(f" all {totals['write_bw']:>12.1f} {totals['read_bw']:>12.1f} {totals['iops']:>10.1f}")
    (folder.parent / "summary.json").write_text(json.dumps(totals, indent=2) + "\n")
    units = {"ranks": "", "write_bw": "MiB/s", "read_bw": "MiB/s", "iops": "IO/s"}
    with open(os.environ["SHIPYARD_METRICS"], "a", encoding="utf-8") as metrics:
        for name, value in totals.items():
            metrics.write(json.dumps({"name": name, "value": value, "unit": units[name]}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
