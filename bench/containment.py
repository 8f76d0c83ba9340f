"""What tracking a unit's processes costs the engine per unit run, by mechanism.

For each of ``none`` (a bare posix_spawn + wait of ``true``), ``cgroup`` and ``marker``, 400 unit
runs are made the way the executors make them: a scope, the spawn inside it, the wait, the
"did anything escape?" check, the release. Printed: the engine process's own CPU time per run
(user + system, from getrusage: steadier than wall time on a shared machine) and wall time, three
rounds each. Nothing is asserted: figures go in docs/performance.md.

    python bench/containment.py
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

from shipyard.engine.containment import Containment, choose_containment

RUNS = 400


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def spawn() -> int:
    return os.posix_spawnp("true", ["true"], os.environ, setsid=True)


def plain() -> None:
    for _ in range(RUNS):
        os.waitpid(spawn(), 0)


def contained(containment: Containment) -> None:
    for i in range(RUNS):
        scope = containment.scope(f"s{i}")
        os.waitpid(scope.spawn(spawn), 0)
        assert not scope.escaped()
        scope.close()


def main() -> None:
    results: dict[str, list[tuple[float, float]]] = {}
    folder = Path(tempfile.mkdtemp())  # where the cgroup mechanism notes its cgroup
    for round_ in range(3):
        for name in ("none", "cgroup", "marker"):
            os.environ["SHIPYARD_CONTAINMENT"] = "marker" if name == "marker" else "auto"
            containment = choose_containment(f"exec_bench_{round_}_{name}", folder)
            cpu_before, wall_before = cpu(), time.perf_counter()
            if name == "none":
                plain()
            else:
                contained(containment)
            cpu_ms = (cpu() - cpu_before) / RUNS * 1e3
            wall_ms = (time.perf_counter() - wall_before) / RUNS * 1e3
            results.setdefault(name, []).append((cpu_ms, wall_ms))
            containment.close()
    for name, rows in results.items():
        cpu_ms = sorted(round(row[0], 3) for row in rows)
        wall_ms = sorted(round(row[1], 3) for row in rows)
        print(f"{name:7} engine CPU ms/run {cpu_ms}   wall ms/run {wall_ms}")


if __name__ == "__main__":
    main()
