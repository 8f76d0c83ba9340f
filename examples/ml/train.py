"""Train a logistic regression by gradient descent on the prepared training set.

Its input is the prepare step's artifacts folder, handed over by Shipyard (the first argument,
``{{ inputs.prepare }}`` in the spec); its output, ``model.json``, is declared in the spec and
handed to the steps that need this one.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
from pathlib import Path


def load(path: Path) -> list[tuple[float, float, int]]:
    with path.open(newline="") as file:
        return [(float(r["x1"]), float(r["x2"]), int(r["label"])) for r in csv.DictReader(file)]


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path, help="the prepare step's artifacts folder")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rate", type=float, default=0.1)
    args = parser.parse_args()
    rows = load(args.data / "data" / "train.csv")
    w1 = w2 = b = 0.0
    loss = math.log(2)
    for _ in range(args.epochs):
        loss = 0.0
        for x1, x2, y in rows:
            p = sigmoid(w1 * x1 + w2 * x2 + b)
            loss -= math.log(max(p if y else 1 - p, 1e-12))
            g = p - y
            w1 -= args.rate * g * x1
            w2 -= args.rate * g * x2
            b -= args.rate * g
        loss /= len(rows)
    Path("model.json").write_text(json.dumps({"w1": w1, "w2": w2, "b": b}))
    with open(os.environ.get("SHIPYARD_METRICS", os.devnull), "a") as metrics:
        metrics.write(json.dumps({"name": "train_loss", "value": round(loss, 6)}) + "\n")
    print(f"trained for {args.epochs} epochs: loss {loss:.4f}")


if __name__ == "__main__":
    main()
