"""Train a logistic regression on the prepared digits (the prepare step's artifacts folder, the
first argument) and write ``model.joblib``.

``--shuffle-labels true`` trains the deliberately bad model of the example: the training labels
are shuffled, so the model learns nothing (about 10 % accuracy) and is unsure of every answer.
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from pathlib import Path

import joblib
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path, help="the prepare step's artifacts folder")
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--shuffle-labels", default="false", choices=["true", "false"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train = np.load(args.data / "data" / "train.npz")
    x, y = train["x"], train["y"]
    if args.shuffle_labels == "true":
        y = np.random.default_rng(args.seed).permutation(y)
    # shuffled labels never converge: the bad model stops at the iteration bound, on purpose
    warnings.simplefilter("ignore", ConvergenceWarning)
    model = LogisticRegression(C=args.c, max_iter=300).fit(x, y)
    joblib.dump(model, "model.joblib")
    with open(os.environ.get("SHIPYARD_METRICS", os.devnull), "a") as metrics:
        figure = {"name": "train_accuracy", "value": round(float(model.score(x, y)), 4)}
        metrics.write(json.dumps(figure) + "\n")
    print(f"trained on {len(y)} images (C={args.c}, shuffled labels: {args.shuffle_labels})")


if __name__ == "__main__":
    main()
