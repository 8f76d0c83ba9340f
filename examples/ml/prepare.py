"""Prepare a dataset: two noisy clusters of points in the plane, split into train and test CSVs.

Plain Python (no numpy): the example runs on any machine Shipyard runs on.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default="data")
    args = parser.parse_args()
    rng = random.Random(args.seed)  # noqa: S311 - a reproducible dataset, not a secret
    rows = []
    for _ in range(args.rows):
        label = rng.randint(0, 1)
        centre = (1.0, 1.0) if label else (-1.0, -1.0)
        rows.append((rng.gauss(centre[0], 0.9), rng.gauss(centre[1], 0.9), label))
    cut = int(len(rows) * 0.8)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train.csv", rows[:cut]), ("test.csv", rows[cut:])):
        with (out / name).open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["x1", "x2", "label"])
            writer.writerows(part)
    with open(os.environ.get("SHIPYARD_METRICS", os.devnull), "a") as metrics:
        metrics.write(json.dumps({"name": "rows", "value": len(rows)}) + "\n")
    print(f"wrote {cut} training and {len(rows) - cut} test rows to {out}/")


if __name__ == "__main__":
    main()
