"""Evaluate the trained model on the test set and report its figures to Shipyard.

Reads the test images from the prepare step's artifacts and the model from the train step's
(``$SHIPYARD_INPUT_PREPARE``, ``$SHIPYARD_INPUT_TRAIN``) and appends ``accuracy``,
``mean_confidence`` and ``p95_latency_ms`` (one image at a time, as the service answers) to
``$SHIPYARD_METRICS``: the spec's gates judge them.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import joblib
import numpy as np


def main() -> None:
    test = np.load(Path(os.environ["SHIPYARD_INPUT_PREPARE"]) / "data" / "test.npz")
    model = joblib.load(Path(os.environ["SHIPYARD_INPUT_TRAIN"]) / "model.joblib")
    x, y = test["x"], test["y"]
    accuracy = float(model.score(x, y))
    confidence = float(model.predict_proba(x).max(axis=1).mean())
    latencies = []
    for row in x[:200]:
        start = time.perf_counter()
        model.predict_proba(row.reshape(1, -1))
        latencies.append((time.perf_counter() - start) * 1000)
    p95 = float(np.percentile(latencies, 95))
    figures = [
        {"name": "accuracy", "value": round(accuracy, 4)},
        {"name": "mean_confidence", "value": round(confidence, 4)},
        {"name": "p95_latency_ms", "value": round(p95, 3), "unit": "ms"},
    ]
    with open(os.environ.get("SHIPYARD_METRICS", os.devnull), "a") as metrics:
        metrics.writelines(json.dumps(figure) + "\n" for figure in figures)
    print(
        f"accuracy {accuracy:.3f} on {len(y)} test images; mean confidence {confidence:.3f};"
        f" p95 latency {p95:.3f} ms"
    )


if __name__ == "__main__":
    main()
