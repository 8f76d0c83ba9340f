"""Bandwidth, IOPS and latency percentiles of the fio template's phases, from fio's JSON.

Printed as a table, written to artifacts/summary.json, and reported as metrics: one JSON line
per figure appended to $SHIPYARD_METRICS when Shipyard gives that file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def phase_figures(folder: Path, phase: str) -> dict[str, Any]:
    job = json.loads((folder / f"{phase}.json").read_text(encoding="utf-8"))["jobs"][0][phase]
    latency = job.get("clat_ns", {}).get("percentile", {})
    return {
        "phase": phase,
        "mib_s": job["bw_bytes"] / 2**20,
        "iops": job["iops"],
        "p50_us": latency.get("50.000000", 0) / 1e3,
        "p99_us": latency.get("99.000000", 0) / 1e3,
    }


def report(name: str, value: float, unit: str) -> None:
    """Append one metric for Shipyard to record (nothing when it does not ask for them)."""
    target = os.environ.get("SHIPYARD_METRICS")
    if target:
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(json.dumps({"name": name, "value": value, "unit": unit}) + "\n")


def main() -> None:
    folder = Path(os.environ["SHIPYARD_ARTIFACTS_DIR"])
    rows = [phase_figures(folder, phase) for phase in ("write", "read")]
    print(f"{'phase':<6} {'MiB/s':>10} {'IOPS':>10} {'p50 us':>10} {'p99 us':>10}")
    for row in rows:
        print(
            f"{row['phase']:<6} {row['mib_s']:>10.1f} {row['iops']:>10.1f}"
            f" {row['p50_us']:>10.1f} {row['p99_us']:>10.1f}"
        )
        report(f"{row['phase']}_bw", row["mib_s"], "MiB/s")
        report(f"{row['phase']}_iops", row["iops"], "IOPS")
    (folder / "summary.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
