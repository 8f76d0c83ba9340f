"""The ssh runner against plain ``ssh`` loops — a 100-step chain to localhost, round-robin.

Five contenders run the same chain of 100 ``true`` commands on one host of a throwaway sshd
(tests/sshd.py: 127.0.0.1, a free high port, generated keys), each step after the one before:

* ``shipyard``: ``shipyard run -q`` of a spec of 100 steps, each ``runner: ssh`` and needing the
  one before (the runner shares one ControlMaster connection per host);
* ``ssh loop``: a shell loop of 100 ``ssh node1 true``, one connection (and handshake) each
  (``ControlMaster=no``, ``ControlPath=none``);
* ``ssh loop, ControlMaster``: the same loop with ``ControlMaster=auto``, a ``ControlPath`` and
  ``ControlPersist``: the first ssh opens the shared connection, the others reuse it;
* ``openssh``: Shipyard's transport without its engine (bench/ssh_clients.py): a Python process
  opens the master as the runner does (``ssh -M -N -f``), then starts one ``ssh -o
  ControlPath=…`` client per step, stdin a pipe kept open, sending the step's remote script;
* ``asyncssh``: the same process and the same scripts over one asyncssh connection reused
  (``conn.run`` per step), as a runner built on asyncssh would run them.

The last two send, for each step, the very script Shipyard's runner sends
(``shipyard.engine.runners.ssh.remote_script``: ``cd`` to the workdir, ``export`` of the step's
``SHIPYARD_*`` variables and ``TMPDIR``, the stdin watchdog, ``setsid true``), as ``sh -c
SCRIPT``: so ``shipyard`` against ``openssh`` is what the engine adds over its transport, and
``asyncssh`` against ``openssh`` is what the other transport would change. The two loops send a
bare ``true``. Both clients also report their first-connection cost: ``import asyncssh``, and
the handshake (``asyncssh.connect``; the master's ``ssh -M -N -f`` until authenticated) in wall
and CPU seconds.

Every round runs the contenders in turn, each in a fresh folder, so that all see the machine at
nearly the same moment (a loaded machine slows them all; the ratios of one run stay comparable
where absolute times do not). Each run starts without a shared connection (the one of the run
before is closed with ``ssh -O exit``) and ends once everything it started is reaped: this
process is a child subreaper, so the masters that ssh daemonizes come back to it and their CPU
counts.

Reported per contender: wall seconds (min and median), CPU seconds of the whole process tree
(median; ``getrusage(RUSAGE_CHILDREN)`` after reaping, the sshd side not included — it is the
same server work for all), and the ratios of the medians to the plain loops and to
``openssh``. Shipyard's packages
and asyncssh's are byte-compiled before timing (this environment sets
``PYTHONDONTWRITEBYTECODE``; a wheel install is compiled). Nothing is asserted: the figures go in
docs/performance.md and docs/hpc.md. asyncssh comes with the ``bench`` extra.

    python bench/ssh.py [--rounds 5] [--steps 100] [--json results.json]
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import ctypes
import importlib.util
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sshd import SshServer, sshd  # noqa: E402 - the repository's root first

from shipyard.engine.runners.ssh import remote_script  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36
CLIENTS = Path(__file__).resolve().with_name("ssh_clients.py")
#: The contenders run by bench/ssh_clients.py, and its client for each
DRIVEN = {"openssh": "openssh", "asyncssh": "asyncssh"}


@dataclass
class Contender:
    label: str
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    # bench/ssh_clients.py's own figures, one per round (its contenders only)
    clients: list[dict[str, float]] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        figures = {
            "wall_min": min(self.walls),
            "wall_median": statistics.median(self.walls),
            "cpu_median": statistics.median(self.cpus),
        }
        for key in ("import", "connect", "connect_cpu", "step"):
            if self.clients:
                figures[f"{key}_median"] = statistics.median(run[key] for run in self.clients)
        return figures


def shipyard_executable() -> str:
    beside = Path(sys.executable).with_name("shipyard")
    return str(beside) if beside.exists() else (shutil.which("shipyard") or "shipyard")


def chain_spec(server: SshServer, steps: int) -> str:
    lines = [
        "name: sshchain",
        "hosts: [node1]",
        f"ssh: {{config: {server.config}}}",
        "execution: {max_parallel: 1}",
        "steps:",
    ]
    for i in range(steps):
        needs = f", needs: [s{i - 1}]" if i else ""
        lines.append(f"  s{i}: {{run: ['true'], runner: ssh, host: node1{needs}}}")
    return "\n".join(lines) + "\n"


def loop_script(server: SshServer, steps: int, control: Path | None) -> str:
    if control is None:
        options = "-o ControlMaster=no -o ControlPath=none"
    else:
        options = f"-o ControlMaster=auto -o ControlPath={control}/%C -o ControlPersist=60"
    ssh = f"ssh -F {server.config} -T {options} node1 true </dev/null"
    return f"i=0; while [ $i -lt {steps} ]; do {ssh} || exit 1; i=$((i+1)); done"


def step_commands(steps: int, folder: Path) -> list[str]:
    """What Shipyard's runner sends for each step of the chain: ``sh -c`` its remote script, with
    the variables a step of a run exports (its workdir ``folder``, a temporary folder there)."""
    execution = uuid.uuid4().hex[:12]
    tmp = folder / "tmp"
    tmp.mkdir()
    commands = []
    for i in range(steps):
        env = {
            "SHIPYARD_EXECUTION_ID": execution,
            "SHIPYARD_RUN_DIR": str(folder / "run"),
            "SHIPYARD_STEP": f"s{i}",
            "SHIPYARD_ATTEMPT": "1",
            "TMPDIR": str(tmp),
        }
        script = remote_script(["true"], env, str(folder), uuid.uuid4().hex, "node1")
        commands.append(f"sh -c {shlex.quote(script)}")
    return commands


def client_argv(server: SshServer, key: str, folder: Path, control: Path, steps: int) -> list[str]:
    """bench/ssh_clients.py running the chain through ``key``'s transport, in ``folder``."""
    (folder / "commands.json").write_text(json.dumps(step_commands(steps, folder)))
    return [
        sys.executable,
        str(CLIENTS),
        DRIVEN[key],
        "--config",
        str(server.config),
        "--host",
        "node1",
        "--commands",
        str(folder / "commands.json"),
        "--log",
        str(folder / "steps.log"),
        "--result",
        str(folder / "client.json"),
        "--control",
        str(control),
    ]


def client_figures(folder: Path) -> dict[str, float]:
    raw = json.loads((folder / "client.json").read_text())
    return {
        "import": raw["import"],
        "connect": raw["connect"],
        "connect_cpu": raw["connect_cpu"],
        "step": statistics.median(raw["steps"]),
    }


def children() -> set[int]:
    """This process's children (orphans adopted as a subreaper included)."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            found.update(int(pid) for pid in (task / "children").read_text().split())
    return found


def reap_all(keep: set[int], limit: float = 30.0) -> None:
    """Reap every child and orphan that came back to us but ``keep`` (the sshd), waiting
    (bounded) for those still running."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] != 0:
                pass
        if not children() - keep:
            return
        time.sleep(0.02)


def close_masters(server: SshServer, *folders: Path) -> None:
    for folder in folders:
        subprocess.run(
            [
                "ssh",
                "-F",
                str(server.config),
                "-o",
                f"ControlPath={folder}/%C",
                "-O",
                "exit",
                "node1",
            ],
            capture_output=True,
            check=False,
        )


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall seconds of ``argv``, from its spawn to its exit."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stdout}{done.stderr}")
    return wall


def _cpu_since(before: resource.struct_rusage) -> float:
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_round(
    server: SshServer, steps: int, contenders: dict[str, Contender], base: Path, round_no: int
) -> None:
    runner_dir = Path(tempfile.gettempdir()) / f"shipyard-ssh-{os.getuid()}"
    control = Path(tempfile.mkdtemp(prefix="bench-ssh-cm-", dir="/tmp"))
    env = {**os.environ, "NO_COLOR": "1"}
    keep = children()  # the sshd
    for key, contender in contenders.items():
        folder = base / f"{key}-{round_no}"
        folder.mkdir()
        close_masters(server, runner_dir, control)
        reap_all(keep)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        if key == "shipyard":
            (folder / "spec.yaml").write_text(chain_spec(server, steps))
            argv = [shipyard_executable(), "run", "-q", "spec.yaml"]
            run_env = {**env, "SHIPYARD_HOME": str(folder / "home")}
        elif key in DRIVEN:
            argv = client_argv(server, key, folder, control, steps)
            run_env = env
        else:
            argv = ["sh", "-c", loop_script(server, steps, control if key == "cm" else None)]
            run_env = env
        wall = timed(argv, folder, run_env)
        close_masters(server, runner_dir, control)  # the master's own CPU counts, then it goes
        reap_all(keep)
        contender.walls.append(wall)
        contender.cpus.append(_cpu_since(before))
        if key in DRIVEN:
            contender.clients.append(client_figures(folder))
        print(f"  round {round_no} {contender.label:<36} {wall:7.2f} s", flush=True)
    shutil.rmtree(control, ignore_errors=True)


def byte_compile(packages: list[str]) -> None:
    """Compile what will be timed, as a wheel install would have (see the module's doc)."""
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(f"{name} is not installed here: pip install -e '.[bench]'")
        for location in spec.submodule_search_locations:
            compileall.compile_dir(location, quiet=1)


def print_tables(contenders: dict[str, Contender], results: dict[str, dict[str, float]]) -> None:
    print(
        f"{'':<36} {'wall min':>9} {'median':>9} {'CPU s':>8} {'/loop':>7} {'/CM loop':>9}"
        f" {'/openssh':>9}"
    )
    plain, cm = results["plain"]["wall_median"], results["cm"]["wall_median"]
    openssh = results["openssh"]["wall_median"]
    for key, contender in contenders.items():
        figures = results[key]
        print(
            f"{contender.label:<36} {figures['wall_min']:9.2f} {figures['wall_median']:9.2f}"
            f" {figures['cpu_median']:8.2f} {figures['wall_median'] / plain:7.2f}"
            f" {figures['wall_median'] / cm:9.2f} {figures['wall_median'] / openssh:9.2f}"
        )
    print(
        f"\nfirst connection and steps (medians){'':<1} {'import s':>9} {'connect s':>10}"
        f" {'its CPU s':>10} {'step ms':>8}"
    )
    for key in DRIVEN:
        figures = results[key]
        print(
            f"{contenders[key].label:<36} {figures['import_median']:9.3f}"
            f" {figures['connect_median']:10.3f} {figures['connect_cpu_median']:10.3f}"
            f" {figures['step_median'] * 1000:8.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    byte_compile(["shipyard", "asyncssh"])
    contenders = {
        "shipyard": Contender("shipyard (ssh runner)"),
        "plain": Contender("ssh loop"),
        "cm": Contender("ssh loop, ControlMaster"),
        "openssh": Contender("OpenSSH clients, one master"),
        "asyncssh": Contender("asyncssh, one connection"),
    }
    with sshd() as server, tempfile.TemporaryDirectory(prefix="bench-ssh-") as base:
        started = os.getloadavg()[0]
        print(
            f"{args.steps}-step chain on node1 (127.0.0.1:{server.port}), {args.rounds} rounds,"
            f" load average before {started:.1f}",
            flush=True,
        )
        for round_no in range(1, args.rounds + 1):
            run_round(server, args.steps, contenders, Path(base), round_no)
    load = os.getloadavg()[0]
    results = {key: c.summary() for key, c in contenders.items()}
    print(f"\nload average at the end: {load:.1f} ({os.cpu_count()} cores)")
    print_tables(contenders, results)
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"steps": args.steps, "load_before": started, "load": load, **results}, indent=2
            )
        )


if __name__ == "__main__":
    main()
