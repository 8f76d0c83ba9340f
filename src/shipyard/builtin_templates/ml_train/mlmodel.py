"""The ml-train template's steps: prepare the data, train a logistic regression, evaluate it.

Plain Python on purpose (no numpy, no framework): the template runs wherever Shipyard does. Data
and model live in $SHIPYARD_RUN_DIR/ml; the model and its scores are artifacts; the loss and the
accuracy are reported as metrics through $SHIPYARD_METRICS when Shipyard gives that file.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
from pathlib import Path
from typing import Any

Point = tuple[list[float], int]


def workdir() -> Path:
    folder = Path(os.environ["SHIPYARD_RUN_DIR"]) / "ml"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def report(name: str, value: float) -> None:
    """Append one metric (a plain number: no unit) for Shipyard to record; nothing when it does
    not ask for them."""
    target = os.environ.get("SHIPYARD_METRICS")
    if target:
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(json.dumps({"name": name, "value": value}) + "\n")


def save(name: str, value: Any) -> None:
    (workdir() / name).write_text(json.dumps(value), encoding="utf-8")


def load(name: str) -> Any:
    return json.loads((workdir() / name).read_text(encoding="utf-8"))


def prepare(samples: int, features: int, separation: float, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not a secret
    points: list[Point] = []
    for _ in range(samples):
        label = rng.randrange(2)
        centre = separation if label else -separation
        points.append(([rng.gauss(centre, 1.0) for _ in range(features)], label))
    cut = int(samples * 0.8)
    save("train.json", points[:cut])
    save("test.json", points[cut:])
    print(f"{samples} points of {features} features: {cut} to train, {samples - cut} to test")


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def predict(weights: list[float], x: list[float]) -> float:
    return sigmoid(weights[0] + sum(w * v for w, v in zip(weights[1:], x, strict=True)))


def loss(weights: list[float], points: list[Point]) -> float:
    eps = 1e-12
    total = 0.0
    for x, y in points:
        p = predict(weights, x)
        total -= y * math.log(p + eps) + (1 - y) * math.log(1 - p + eps)
    return total / len(points)


def train(epochs: int, learning_rate: float, seed: int) -> None:
    points = [(list(x), int(y)) for x, y in load("train.json")]
    rng = random.Random(seed)  # noqa: S311 - initial weights
    weights = [rng.uniform(-0.01, 0.01) for _ in range(len(points[0][0]) + 1)]
    for epoch in range(epochs):
        gradient = [0.0] * len(weights)
        for x, y in points:
            error = predict(weights, x) - y
            gradient[0] += error
            for index, value in enumerate(x, start=1):
                gradient[index] += error * value
        weights = [
            w - learning_rate * g / len(points) for w, g in zip(weights, gradient, strict=True)
        ]
        if epoch == epochs - 1 or epoch % 10 == 0:
            print(f"epoch {epoch + 1}/{epochs}: loss {loss(weights, points):.4f}")
    final = loss(weights, points)
    report("train_loss", final)
    save("model.json", weights)
    artifacts = Path(os.environ["SHIPYARD_ARTIFACTS_DIR"])
    (artifacts / "model.json").write_text(json.dumps(weights), encoding="utf-8")


def evaluate(min_accuracy: float) -> None:
    weights = load("model.json")
    points = [(list(x), int(y)) for x, y in load("test.json")]
    right = sum(1 for x, y in points if (predict(weights, x) >= 0.5) == bool(y))
    accuracy = right / len(points)
    report("accuracy", accuracy)
    scores = {"accuracy": accuracy, "test_points": len(points), "min_accuracy": min_accuracy}
    artifacts = Path(os.environ["SHIPYARD_ARTIFACTS_DIR"])
    (artifacts / "scores.json").write_text(json.dumps(scores), encoding="utf-8")
    print(f"accuracy {accuracy:.4f} on {len(points)} test points (gate: {min_accuracy})")
    if accuracy < min_accuracy:
        sys.exit(f"accuracy {accuracy:.4f} is below min_accuracy {min_accuracy}")


def main(argv: list[str]) -> None:
    step, args = argv[0], argv[1:]
    if step == "data":
        prepare(int(args[0]), int(args[1]), float(args[2]), int(args[3]))
    elif step == "train":
        train(int(args[0]), float(args[1]), int(args[2]))
    elif step == "evaluate":
        evaluate(float(args[0]))
    else:
        sys.exit(f"unknown step {step!r}: data, train or evaluate")


if __name__ == "__main__":
    main(sys.argv[1:])
