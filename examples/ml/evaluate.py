"""Evaluate the trained model on the test set and report its figures to Shipyard.

Reads the test data from the prepare step's artifacts and the model from the train step's
(``$SHIPYARD_INPUT_PREPARE``, ``$SHIPYARD_INPUT_TRAIN``), and appends ``accuracy`` and
``p95_latency_ms`` to ``$SHIPYARD_METRICS``: the spec's gates judge them.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path


def main() -> None:
    data = Path(os.environ["SHIPYARD_INPUT_PREPARE"]) / "data" / "test.csv"
    model = json.loads((Path(os.environ["SHIPYARD_INPUT_TRAIN"]) / "model.json").read_text())
    with data.open(newline="") as file:
        rows = [(float(r["x1"]), float(r["x2"]), int(r["label"])) for r in csv.DictReader(file)]
    right = 0
    latencies = []
    for x1, x2, y in rows:
        start = time.perf_counter()
        z = model["w1"] * x1 + model["w2"] * x2 + model["b"]
        guess = 1 if 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z)))) >= 0.5 else 0
        latencies.append((time.perf_counter() - start) * 1000)
        right += guess == y
    accuracy = right / len(rows)
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    with open(os.environ.get("SHIPYARD_METRICS", os.devnull), "a") as metrics:
        metrics.write(json.dumps({"name": "accuracy", "value": round(accuracy, 4)}) + "\n")
        metrics.write(
            json.dumps({"name": "p95_latency_ms", "value": round(p95, 4), "unit": "ms"}) + "\n"
        )
    print(f"accuracy {accuracy:.3f} on {len(rows)} rows; p95 latency {p95:.4f} ms")


if __name__ == "__main__":
    main()
