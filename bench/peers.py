"""Shipyard against its peers — doit, Snakemake and ``xargs`` — round-robin in one run.

Two workloads of ``true`` commands, so that what is measured is the orchestrator, not the work:

* fan-out: 400 independent steps and one fan-in step that needs them all, 2 at a time
  (``shipyard run -q`` with ``max_parallel: 2``, ``doit -n 2``, ``snakemake --cores 2``,
  ``xargs -P2 -n1 true`` fed 401 lines: xargs has no fan-in, it runs 401 commands);
* chain: 100 steps, each needing the one before (``xargs -P1``).

Every round runs each workload with each tool in turn (A B C D, A B C D, …), each run in a fresh
working folder, so all tools see the same machine at nearly the same moment: a loaded machine
slows them all, and the ratios of one run stay comparable where absolute times do not.

Each tool runs under a small launcher (a Python process, not timed) that makes itself a child
subreaper, spawns the tool, and reaps everything the tool leaves behind; it reports:

* wall seconds from the spawn to the tool's exit;
* CPU seconds (user + system) of the whole process tree — ``getrusage(RUSAGE_CHILDREN)`` once
  every descendant is reaped, orphans included (they come back to the subreaper), the launcher
  itself excluded;
* peak RSS: ``ru_maxrss`` of the children, i.e. the largest single process of the tree.

"Orchestrator CPU per step" is (the tool's median CPU − the median CPU of ``xargs`` running the
same commands) / steps. Snakemake runs a step through ``bash -c``, so its baseline is
``xargs`` running ``bash -c 'set -euo pipefail; true'`` (timed in the same rounds). "Wall per
step above xargs" is the same difference of median wall times (the chain's target is on it).

A fresh folder means a first run for every tool: Shipyard builds its plan (Pydantic) each time.
``shipyard (plan cached)`` is the same command with the working folder fresh but the home and
the spec's path kept across runs, as when a pipeline is run again: its plan comes from the cache.

Shipyard is the installed ``shipyard`` beside this interpreter; the packages are byte-compiled
before timing (a wheel install is compiled; this environment sets ``PYTHONDONTWRITEBYTECODE``).
``--busy`` repeats the whole run with one core kept busy by a spinning process the bench starts
and stops. Nothing is asserted: the figures go in docs/performance.md.

    python bench/peers.py [--rounds 7] [--busy] [--quick] [--json results.json]
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Runs as `python -c LAUNCHER result_path stdin_path log_path argv...`. Kept to the stdlib and
# out of the timed span: the clock starts just before the spawn.
LAUNCHER = r"""
import ctypes, json, os, resource, sys, time
result_path, stdin_path, log_path, *argv = sys.argv[1:]
# PR_SET_CHILD_SUBREAPER (36): what the tool orphans is reparented here and reaped below,
# so its CPU is in RUSAGE_CHILDREN too.
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
actions = [
    (os.POSIX_SPAWN_OPEN, 0, stdin_path, os.O_RDONLY, 0),
    (os.POSIX_SPAWN_OPEN, 1, log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    (os.POSIX_SPAWN_DUP2, 1, 2),
]
start = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
wall = status = None
while True:
    try:
        reaped, raw = os.waitpid(-1, 0)
    except ChildProcessError:
        break
    if reaped == pid:
        wall = time.perf_counter() - start
        status = os.waitstatus_to_exitcode(raw)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(result_path, "w") as out:
    json.dump({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
               "rss": usage.ru_maxrss * 1024, "status": status}, out)
"""

# Shipyard again, its working folder fresh but its home kept across runs (the spec at one path):
# a re-run of a pipeline, which finds its built plan in the cache and so never loads Pydantic.
CACHED = "shipyard (plan cached)"
TOOLS = ("shipyard", CACHED, "doit", "snakemake", "xargs")
# Not a peer: the baseline of Snakemake's steps, which run through bash.
XARGS_BASH = "xargs (bash -c)"
BASH_STEP = "set -euo pipefail; true"


@dataclass(frozen=True)
class Workload:
    name: str
    steps: int  # steps the orchestrators run (the fan-out's fan-in included)
    parallel: int
    chain: bool


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    rss: int


@dataclass
class Figures:
    runs: list[Run] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)


@dataclass(frozen=True)
class Context:
    bin_dir: Path
    env: dict[str, str]
    tools: list[str]
    timeout: float
    # Other Shipyard source trees timed in the same rounds: tool name -> its src/ folder.
    sources: dict[str, Path] = field(default_factory=dict)


def workloads(quick: bool) -> list[Workload]:
    fan, chain = (40, 10) if quick else (400, 100)
    return [
        Workload(f"fan-out {fan}+1, P2", fan + 1, 2, False),
        Workload(f"chain {chain}", chain, 1, True),
    ]


def shipyard_spec(work: Workload) -> str:
    lines = [
        f"name: {'chain' if work.chain else 'fanout'}",
        "execution: {max_parallel: 2}",
        "steps:",
    ]
    if work.chain:
        lines += [
            f"  s{i}: {{run: [true]{f', needs: [s{i - 1}]' if i else ''}}}"
            for i in range(work.steps)
        ]
        return "\n".join(lines) + "\n"
    fan = work.steps - 1
    lines += [f"  s{i}: {{run: [true]}}" for i in range(fan)]
    lines.append(f"  fanin: {{needs: [{', '.join(f's{i}' for i in range(fan))}], run: [true]}}")
    return "\n".join(lines) + "\n"


def dodo(work: Workload) -> str:
    # A list action runs without a shell, as Shipyard's `run: [true]` and xargs do.
    if work.chain:
        return (
            "def task_s():\n"
            f"    for i in range({work.steps}):\n"
            "        yield {'name': str(i), 'actions': [['true']],\n"
            "               'task_dep': [f's:{i - 1}'] if i else []}\n"
        )
    fan = work.steps - 1
    return (
        "def task_s():\n"
        f"    for i in range({fan}):\n"
        "        yield {'name': str(i), 'actions': [['true']]}\n\n"
        "def task_fanin():\n"
        "    return {'actions': [['true']], 'task_dep': ['s']}\n"
    )


def snakefile(work: Workload) -> str:
    # Snakemake links steps through files: each rule touches its output after `true` ran.
    if work.chain:
        return (
            f'rule all:\n    input: "c/{work.steps - 1}"\n\n'
            "rule c:\n"
            '    input: lambda w: [f"c/{int(w.i) - 1}"] if int(w.i) else []\n'
            '    output: touch("c/{i}")\n'
            '    shell: "true"\n'
        )
    fan = work.steps - 1
    return (
        'rule all:\n    input: "fanin"\n\n'
        f'rule fanin:\n    input: expand("s/{{i}}", i=range({fan}))\n'
        '    output: touch("fanin")\n    shell: "true"\n\n'
        'rule s:\n    output: touch("s/{i}")\n    shell: "true"\n'
    )


def command(tool: str, work: Workload, folder: Path, bin_dir: Path) -> list[str]:
    """Write what ``tool`` needs into ``folder`` and return its command line."""
    if tool.startswith("shipyard"):
        (folder / "spec.yaml").write_text(shipyard_spec(work))
        return [str(bin_dir / "shipyard"), "run", "-q", "spec.yaml"]
    if tool == "doit":
        (folder / "dodo.py").write_text(dodo(work))
        parallel = ["-n", str(work.parallel)] if work.parallel > 1 else []
        return [str(bin_dir / "doit"), "run", *parallel, "-f", "dodo.py"]
    if tool == "snakemake":
        (folder / "Snakefile").write_text(snakefile(work))
        cores = str(work.parallel)
        return [str(bin_dir / "snakemake"), "--cores", cores, "--quiet", "all", "-s", "Snakefile"]
    step = ["bash", "-c", BASH_STEP] if tool == XARGS_BASH else ["true"]
    return ["xargs", f"-P{work.parallel}", "-n1", *step]


def launch(argv: list[str], folder: Path, env: dict[str, str], timeout: float) -> Run:
    """One timed run of ``argv`` in ``folder`` through the launcher."""
    result, log, feed = folder / ".result.json", folder / ".log", folder / ".stdin"
    if not feed.exists():
        feed.write_text("")
    launcher = subprocess.Popen(
        [sys.executable, "-S", "-c", LAUNCHER, str(result), str(feed), str(log), *argv],
        cwd=folder,
        env=env,
        start_new_session=True,  # so a run that hangs can be killed whole
    )
    try:
        launcher.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, 9)
        launcher.wait()
        raise SystemExit(f"{argv[0]} took over {timeout:.0f} s; see {log}") from None
    if launcher.returncode != 0:
        raise SystemExit(f"the launcher of {argv[0]} failed ({launcher.returncode})")
    report = json.loads(result.read_text())
    if report["status"] != 0:
        tail = log.read_text(errors="replace")[-1500:]
        raise SystemExit(f"{' '.join(argv[:4])} … exited {report['status']} in {folder}:\n{tail}")
    return Run(report["wall"], report["cpu"], report["rss"])


def cached_shipyard(work: Workload, base: Path, bin_dir: Path) -> tuple[list[str], Path]:
    """The command and home of the cached variant: same spec path and home every run, so the
    plan cache (keyed by the spec's text and path) is warm after the first."""
    kept = base / "cached"
    spec = kept / f"{'chain' if work.chain else 'fanout'}-{work.steps}.yaml"
    if not spec.exists():
        kept.mkdir(exist_ok=True)
        spec.write_text(shipyard_spec(work))
    return [str(bin_dir / "shipyard"), "run", "-q", str(spec)], kept / ".shipyard"


def one_run(tool: str, work: Workload, base: Path, context: Context) -> Run:
    folder = Path(tempfile.mkdtemp(prefix=f"{tool.split()[0]}-", dir=base))
    try:
        argv = command(tool, work, folder, context.bin_dir)
        home = folder / ".shipyard"
        if tool == CACHED:
            argv, home = cached_shipyard(work, base, context.bin_dir)
        if tool.startswith("xargs"):
            (folder / ".stdin").write_text("".join(f"{i}\n" for i in range(work.steps)))
        env = {**context.env, "SHIPYARD_HOME": str(home)}
        if tool in context.sources:  # ahead of the editable install's path entry
            env["PYTHONPATH"] = str(context.sources[tool])
        return launch(argv, folder, env, context.timeout)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_rounds(
    works: list[Workload], rounds: int, warmup: int, base: Path, context: Context
) -> dict[str, dict[str, Figures]]:
    """Every round: each workload, each tool in turn. Warm-up rounds are run, not kept."""
    tools = [*context.tools, XARGS_BASH] if "snakemake" in context.tools else context.tools
    figures = {work.name: {tool: Figures() for tool in tools} for work in works}
    for number in range(warmup + rounds):
        for work in works:
            for tool in tools:
                run = one_run(tool, work, base, context)
                if number >= warmup:
                    figures[work.name][tool].runs.append(run)
        label = "warm-up" if number < warmup else f"round {number - warmup + 1}/{rounds}"
        print(f"  {label} done (load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
    return figures


def baseline_of(tool: str) -> str:
    return XARGS_BASH if tool == "snakemake" else "xargs"


def ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}×" if base else "—"


def table(work: Workload, by_tool: dict[str, Figures]) -> list[str]:
    """The workload's rows as a Markdown table (ratios are of medians, same run)."""
    lines = [
        f"{work.name} ({work.steps} steps, {len(next(iter(by_tool.values())).runs)} rounds)",
        "",
        "| tool | wall min / median / max | CPU min / median / max | peak RSS "
        "| wall ÷ xargs | wall ÷ doit | CPU ÷ xargs | CPU ÷ doit | orchestrator CPU per step "
        "| wall per step above xargs |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    doit = by_tool.get("doit")
    for tool, figures in by_tool.items():
        walls = sorted(run.wall for run in figures.runs)
        cpus = sorted(run.cpu for run in figures.runs)
        wall, cpu = figures.median("wall"), figures.median("cpu")
        base = by_tool[baseline_of(tool)]
        per_step = (cpu - base.median("cpu")) / work.steps * 1000
        wall_per_step = (wall - base.median("wall")) / work.steps * 1000
        lines.append(
            f"| {tool} | {walls[0]:.3f} / {wall:.3f} / {walls[-1]:.3f} s "
            f"| {cpus[0]:.3f} / {cpu:.3f} / {cpus[-1]:.3f} s "
            f"| {max(run.rss for run in figures.runs) / 2**20:.0f} MiB "
            f"| {ratio(wall, by_tool['xargs'].median('wall'))} "
            f"| {ratio(wall, doit.median('wall') if doit else None)} "
            f"| {ratio(cpu, by_tool['xargs'].median('cpu'))} "
            f"| {ratio(cpu, doit.median('cpu') if doit else None)} "
            f"| {'—' if tool.startswith('xargs') else f'{per_step:.2f} ms'} "
            f"| {'—' if tool.startswith('xargs') else f'{wall_per_step:.2f} ms'} |"
        )
    return lines


def byte_compile(packages: list[str]) -> None:
    """Compile what will be timed, as a wheel install would have (see the module's doc)."""
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(f"{name} is not installed here: pip install -e '.[bench]'")
        for location in spec.submodule_search_locations:
            compileall.compile_dir(location, quiet=1)


def spinner() -> subprocess.Popen[bytes]:
    """One core kept busy for the ``--busy`` pass."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def measure_pass(
    label: str, args: argparse.Namespace, context: Context, base: Path
) -> dict[str, dict[str, Figures]]:
    works = workloads(args.quick)
    before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{label}: {started}, load average before {before[0]:.2f} {before[1]:.2f}", flush=True)
    figures = run_rounds(works, args.rounds, args.warmup, base, context)
    after = os.getloadavg()
    print(f"{label}: load average after {after[0]:.2f} {after[1]:.2f}\n", flush=True)
    for work in works:
        print("\n".join(table(work, figures[work.name])) + "\n", flush=True)
    return figures


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=None, help="untimed rounds (default 1)")
    parser.add_argument("--busy", action="store_true", help="repeat with one core kept busy")
    parser.add_argument("--quick", action="store_true", help="a tenth of the steps, no warm-up")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset")
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="where to run (default: .)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="LABEL=SRC",
        help="also time the Shipyard of another source tree's src/ folder (e.g. a git archive "
        "of an older commit), as 'shipyard LABEL', in the same rounds",
    )
    args = parser.parse_args()
    if args.warmup is None:
        args.warmup = 0 if args.quick else 1
    args.dir = args.dir.resolve()  # each tool runs in its own folder: paths must not be relative
    return args


def main() -> None:
    args = parse_args()
    tools = [tool for tool in args.tools.split(",") if tool]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown or "xargs" not in tools:
        raise SystemExit(f"--tools: choose among {', '.join(TOOLS)} (xargs is always needed)")
    byte_compile(["shipyard", *(tool for tool in tools if tool in ("doit", "snakemake"))])
    sources = other_sources(args.also)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "NO_COLOR": "1"}
    context = Context(bin_dir, env, [*sources, *tools], args.timeout, sources)
    results: dict[str, dict[str, dict[str, Figures]]] = {}
    # A fresh folder under the current one, where a user's .shipyard would be (not /tmp).
    with tempfile.TemporaryDirectory(prefix=".bench-peers-", dir=args.dir) as tmp:
        results["quiet"] = measure_pass("as found", args, context, Path(tmp))
        if args.busy:
            spinning = spinner()
            try:
                results["busy"] = measure_pass("one core busy", args, context, Path(tmp))
            finally:
                spinning.kill()
                spinning.wait()
    if args.json:
        args.json.write_text(json.dumps(jsonable(results), indent=2) + "\n")


def other_sources(also: list[str]) -> dict[str, Path]:
    sources: dict[str, Path] = {}
    for item in also:
        label, _, src = item.partition("=")
        if not (Path(src) / "shipyard" / "__init__.py").is_file():
            raise SystemExit(f"--also {item}: expected LABEL=DIR with DIR/shipyard/__init__.py")
        compileall.compile_dir(Path(src) / "shipyard", quiet=1)
        sources[f"shipyard {label}"] = Path(src).resolve()
    return sources


def jsonable(results: dict[str, dict[str, dict[str, Figures]]]) -> object:
    return {
        condition: {
            work: {tool: [asdict(run) for run in figures.runs] for tool, figures in by_tool.items()}
            for work, by_tool in by_work.items()
        }
        for condition, by_work in results.items()
    }


if __name__ == "__main__":
    main()
