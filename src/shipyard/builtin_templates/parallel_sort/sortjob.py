"""The parallel-sort template's steps: generate, split, sort one chunk, merge, verify.

Each is one command (``sortjob.py STEP ARGS``) working in $SHIPYARD_RUN_DIR/sort, so the
template's folder (inside the installed package) is never written to. Timings are reported as
metrics through $SHIPYARD_METRICS when Shipyard gives that file.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path


def workdir() -> Path:
    folder = Path(os.environ["SHIPYARD_RUN_DIR"]) / "sort"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def report(name: str, value: float, unit: str) -> None:
    """Append one metric for Shipyard to record (nothing when it does not ask for them)."""
    target = os.environ.get("SHIPYARD_METRICS")
    if target:
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(json.dumps({"name": name, "value": value, "unit": unit}) + "\n")


def read_numbers(path: Path) -> list[int]:
    return [int(line) for line in path.read_text(encoding="ascii").split()]


def write_numbers(path: Path, numbers: list[int]) -> None:
    path.write_text("".join(f"{n}\n" for n in numbers), encoding="ascii")


def generate(count: int, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    numbers = [rng.randrange(1_000_000_000) for _ in range(count)]
    write_numbers(workdir() / "input.txt", numbers)
    print(f"generated {count} numbers (seed {seed})")


def split(chunks: int) -> None:
    numbers = read_numbers(workdir() / "input.txt")
    size = -(-len(numbers) // chunks)  # ceiling: every number lands in a chunk
    for index in range(chunks):
        write_numbers(workdir() / f"chunk-{index}.txt", numbers[index * size : (index + 1) * size])
    print(f"split {len(numbers)} numbers into {chunks} chunks of at most {size}")


def sort_chunk(index: int) -> None:
    started = time.perf_counter()
    numbers = sorted(read_numbers(workdir() / f"chunk-{index}.txt"))
    write_numbers(workdir() / f"sorted-{index}.txt", numbers)
    seconds = time.perf_counter() - started
    report("sort_seconds", seconds, "s")
    print(f"sorted chunk {index}: {len(numbers)} numbers in {seconds:.3f} s")


def merge(chunks: int) -> None:
    started = time.perf_counter()
    parts = [read_numbers(workdir() / f"sorted-{index}.txt") for index in range(chunks)]
    merged = list(heapq.merge(*parts))
    write_numbers(workdir() / "sorted.txt", merged)
    seconds = time.perf_counter() - started
    report("merge_seconds", seconds, "s")
    print(f"merged {chunks} chunks: {len(merged)} numbers in {seconds:.3f} s")


def verify(count: int) -> None:
    merged = read_numbers(workdir() / "sorted.txt")
    problems = []
    if len(merged) != count:
        problems.append(f"{len(merged)} numbers, expected {count}")
    if any(a > b for a, b in itertools.pairwise(merged)):
        problems.append("not in order")
    if sorted(read_numbers(workdir() / "input.txt")) != merged:
        problems.append("not the numbers that were generated")
    if problems:
        sys.exit("verify failed: " + "; ".join(problems))
    digest = hashlib.sha256((workdir() / "sorted.txt").read_bytes()).hexdigest()
    artifacts = Path(os.environ["SHIPYARD_ARTIFACTS_DIR"])
    (artifacts / "sorted.sha256").write_text(f"{digest}  sorted.txt\n", encoding="ascii")
    print(f"verified: {count} numbers in order, sha256 {digest[:16]}…")


def main(argv: list[str]) -> None:
    step, args = argv[0], [int(value) for value in argv[1:]]
    steps: dict[str, Callable[..., None]] = {
        "generate": generate,
        "split": split,
        "sort": sort_chunk,
        "merge": merge,
        "verify": verify,
    }
    steps[step](*args)


if __name__ == "__main__":
    main(sys.argv[1:])
