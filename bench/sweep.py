"""A sweep's cost per point against separate ``shipyard run`` commands and a shell loop,
round-robin in one run (issue 12 §2's target: the sweep's overhead per point ≤ 1/3 of a
separate ``shipyard run``'s).

The workload: one spec with an int parameter ``n`` and one step ``true`` (so what is measured
is the orchestration, not the work), at N points (default 100). Each round runs, in turn:

* ``sweep P4``: ``shipyard sweep spec.yaml -m n=1,…,N --max-parallel-runs 4 --json``;
* ``sweep P1``: the same, one point at a time (the same concurrency as the loops below);
* ``runs``: a shell loop of N ``shipyard run -q spec.yaml -p n=$i``, one after the other;
* ``in-process``: one Python process calling ``ops.run(spec, {"n": i})`` N times, the engine
  in that process (the other way a sweep could run its points; see docs/performance.md);
* ``shell``: a shell loop running ``true`` N times — the work without any orchestrator.

Each variant runs in a fresh folder with a fresh home, under bench/peers.py's launcher (a
child subreaper: wall from spawn to exit, CPU of the whole process tree, the detached sweep
process and every point's supervisor included, since they come back to it once orphaned).

Overhead per point = (the variant's median − the shell loop's median) / N, for wall and CPU.
The ratio is a sweep's overhead per point over the ``runs`` loop's. The packages are
byte-compiled first; nothing is asserted; the figures go in docs/performance.md.

``--src DIR`` times the Shipyard of another source tree's ``src/`` folder (a ``git archive``
of a commit: a working tree that others edit meanwhile can break a run half-way).

    python bench/sweep.py [--points 100] [--rounds 5] [--warmup 1] [--src DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

SPEC = """\
name: trivial
parameters:
  n: {type: int, default: 0}
steps:
  s: {run: ["true"]}
"""

IN_PROCESS = """\
import sys
from pathlib import Path
import shipyard
ops = shipyard.connect(Path(sys.argv[1]))
for n in range(1, int(sys.argv[2]) + 1):
    status = ops.run("spec.yaml", {"n": n})
    assert status.state.value == "succeeded", status
ops.close()
"""

VARIANTS = ("sweep P4", "sweep P1", "runs", "in-process", "shell")


def load_peers() -> ModuleType:
    """bench/peers.py, for its launcher, its figures and its byte-compiling."""
    path = Path(__file__).resolve().parent / "peers.py"
    spec = importlib.util.spec_from_file_location("bench_peers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


def command(variant: str, points: int, folder: Path, bin_dir: Path) -> list[str]:
    shipyard = str(bin_dir / "shipyard")
    values = ",".join(str(n) for n in range(1, points + 1))
    if variant.startswith("sweep"):
        parallel = variant.split("P")[1]
        return [shipyard, "sweep", "spec.yaml", "-m", f"n={values}",
                "--max-parallel-runs", parallel, "--json"]  # fmt: skip
    if variant == "runs":
        loop = f'for i in $(seq 1 {points}); do "$0" run -q spec.yaml -p n=$i || exit 1; done'
        return ["sh", "-c", loop, shipyard]
    if variant == "in-process":
        (folder / "inprocess.py").write_text(IN_PROCESS)
        return [sys.executable, "inprocess.py", str(folder / ".shipyard"), str(points)]
    return ["sh", "-c", f"for i in $(seq 1 {points}); do true; done"]


def one_run(
    peers: ModuleType, variant: str, points: int, base: Path, bin_dir: Path, src: Path | None
) -> object:
    folder = Path(tempfile.mkdtemp(prefix="sweep-", dir=base))
    try:
        (folder / "spec.yaml").write_text(SPEC)
        env = {**os.environ, "NO_COLOR": "1", "SHIPYARD_HOME": str(folder / ".shipyard")}
        if src is not None:  # ahead of the editable install's path entry, for every process
            env["PYTHONPATH"] = str(src)
        argv = command(variant, points, folder, bin_dir)
        return peers.launch(argv, folder, env, 600.0)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def per_point(value: float, shell: float, points: int) -> float:
    return (value - shell) / points * 1000


def report(figures: dict[str, object], points: int) -> list[str]:
    shell_wall = figures["shell"].median("wall")  # type: ignore[attr-defined]
    shell_cpu = figures["shell"].median("cpu")  # type: ignore[attr-defined]
    runs = figures["runs"]
    run_wall = per_point(runs.median("wall"), shell_wall, points)  # type: ignore[attr-defined]
    run_cpu = per_point(runs.median("cpu"), shell_cpu, points)  # type: ignore[attr-defined]
    rounds = len(runs.runs)  # type: ignore[attr-defined]
    lines = [
        f"{points} points of a `true` step, {rounds} rounds (min / median / max)",
        "",
        "| variant | wall | CPU (process tree) | wall per point above the shell loop "
        "| CPU per point above it | ÷ a separate run's (wall) | ÷ (CPU) |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, data in figures.items():
        walls = sorted(run.wall for run in data.runs)  # type: ignore[attr-defined]
        cpus = sorted(run.cpu for run in data.runs)  # type: ignore[attr-defined]
        wall = per_point(data.median("wall"), shell_wall, points)  # type: ignore[attr-defined]
        cpu = per_point(data.median("cpu"), shell_cpu, points)  # type: ignore[attr-defined]
        shell = variant == "shell"
        lines.append(
            f"| {variant} | {walls[0]:.2f} / {data.median('wall'):.2f} / {walls[-1]:.2f} s "  # type: ignore[attr-defined]
            f"| {cpus[0]:.2f} / {data.median('cpu'):.2f} / {cpus[-1]:.2f} s "  # type: ignore[attr-defined]
            f"| {'—' if shell else f'{wall:.1f} ms'} | {'—' if shell else f'{cpu:.1f} ms'} "
            f"| {'—' if shell else f'{wall / run_wall:.2f}'} "
            f"| {'—' if shell else f'{cpu / run_cpu:.2f}'} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset")
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="where to run (default: .)")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    parser.add_argument("--src", type=Path, help="a source tree's src/ folder to time instead")
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    if set(variants) - set(VARIANTS) or not {"shell", "runs"} <= set(variants):
        raise SystemExit(f"--variants: choose among {', '.join(VARIANTS)} (shell and runs needed)")
    peers = load_peers()
    peers.byte_compile(["shipyard"])
    src = args.src.resolve() if args.src else None
    if src is not None:
        if not (src / "shipyard" / "__init__.py").is_file():
            raise SystemExit(f"--src {src}: expected DIR/shipyard/__init__.py")
        compileall.compile_dir(src / "shipyard", quiet=1)
    bin_dir = Path(sys.executable).parent
    figures = {variant: peers.Figures() for variant in variants}
    load = os.getloadavg()
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')}, load average before {load[0]:.2f} {load[1]:.2f}")
    with tempfile.TemporaryDirectory(prefix=".bench-sweep-", dir=args.dir.resolve()) as tmp:
        for number in range(args.warmup + args.rounds):
            for variant in variants:  # round-robin: A B C …, A B C …
                run = one_run(peers, variant, args.points, Path(tmp), bin_dir, src)
                if number >= args.warmup:
                    figures[variant].runs.append(run)
            label = "warm-up" if number < args.warmup else f"round {number - args.warmup + 1}"
            print(f"  {label} done (load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
    load = os.getloadavg()
    print(f"load average after {load[0]:.2f} {load[1]:.2f}\n")
    print("\n".join(report(figures, args.points)))
    if args.json:
        data = {v: [dataclasses.asdict(run) for run in f.runs] for v, f in figures.items()}
        args.json.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
