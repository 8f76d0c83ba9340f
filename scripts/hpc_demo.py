"""``make hpc-demo``: one fio benchmark spec run three ways by changing only ``runner:`` — on
this machine, over SSH on two hosts, and as Slurm jobs — then nothing left.

What starts (all on this machine, all stopped and removed at the end, also on a failure or
Ctrl-C): a throwaway ``sshd`` on 127.0.0.1/127.0.0.2 with generated keys and an ssh_config
naming them ``node1`` and ``node2`` (tests/sshd.py), and a throwaway single-node Slurm —
``munged``, ``slurmctld``, ``slurmd`` from a generated slurm.conf (tests/slurm.py; as root, as
in CI). The spec is examples/io-benchmark.yaml's, in ``--mode test`` (8 MiB files) unless
``--full``; each run's steps, where they ran, and the bandwidth fio measured are printed.

    .venv/bin/python scripts/hpc_demo.py [--full]

Needs openssh-server, slurm-wlm, munge and fio (``scripts/setup.sh`` installs them as root).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/sshd.py and tests/slurm.py start the throwaway servers

SPEC = (ROOT / "examples" / "io-benchmark.yaml").read_text(encoding="utf-8")
STEPS = ("write", "read", "summary")


def spec_for(runner: str, ssh_config: Path | None) -> str:
    """The example with every step on ``runner`` (and, for ssh, the hosts and their config):
    the only change between the three runs."""
    text = SPEC
    if runner == "ssh":
        assert ssh_config is not None
        text = text.replace(
            "\nparameters:",
            f"\nhosts: [node1, node2]\nssh: {{config: {ssh_config}}}\n\nparameters:",
            1,
        )
    for step in STEPS:
        text = text.replace(f"\n  {step}:\n", f"\n  {step}:\n    runner: {runner}\n", 1)
    return text


def shipyard(home: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("shipyard")
    return subprocess.run(
        [str(executable), *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "SHIPYARD_HOME": str(home), "NO_COLOR": "1"},
        check=False,
        timeout=900,
    )


def show(runner: str, home: Path, env: dict[str, str], spec: Path, mode: list[str]) -> bool:
    print(f"\n== runner: {runner}  ($ shipyard run {spec.name} {' '.join(mode)})", flush=True)
    done = shipyard(home, env, "run", str(spec), *mode, "--json")
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
        return False
    status = json.loads(done.stdout)
    for unit in status["units"]:
        node = unit.get("node") or "local"
        seconds = unit.get("duration_seconds") or 0.0
        print(f"   {unit['name']:<8} {unit['state']:<10} on {node:<22} {seconds:6.2f} s")
    measured = {m["name"]: m["value"] for m in status.get("metrics", [])}
    if "write_bw" in measured and "read_bw" in measured:
        print(f"   fio measured: write {measured['write_bw']:.1f} MiB/s, "
              f"read {measured['read_bw']:.1f} MiB/s")  # fmt: skip
    print(f"   {status['id']} {status['state']} in {status['duration_seconds']:.1f} s")
    return bool(status["state"] == "succeeded")


@contextlib.contextmanager
def servers() -> Iterator[tuple[Path, dict[str, str]]]:
    from tests.slurm import throwaway_slurm
    from tests.sshd import sshd

    with sshd() as ssh, throwaway_slurm() as slurm:
        print(f"sshd on 127.0.0.1:{ssh.port} (node1, node2: {ssh.config})")
        print(f"Slurm: node {slurm.node}, partition {slurm.partition} ({slurm.conf})")
        yield ssh.config, slurm.env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="fio's full sizes, not --mode test")
    args = parser.parse_args()
    mode = [] if args.full else ["--mode", "test"]
    with tempfile.TemporaryDirectory(prefix="shipyard-hpc-demo-") as scratch:
        folder = Path(scratch)
        home = folder / "home"
        try:
            with servers() as (ssh_config, slurm_env):
                ok = True
                for runner in ("local", "ssh", "slurm"):
                    spec = folder / f"io-{runner}.yaml"
                    spec.write_text(spec_for(runner, ssh_config), encoding="utf-8")
                    ok = show(runner, home, slurm_env, spec, mode) and ok
        except BaseException as error:  # pytest's skip/fail of a missing component included
            if isinstance(error, KeyboardInterrupt):
                print("\nstopped; everything started is stopped again", file=sys.stderr)
                return 130
            message = getattr(error, "msg", None) or str(error)
            print(f"hpc-demo: {type(error).__name__}: {message}", file=sys.stderr)
            return 1
    print("\nall three runs succeeded" if ok else "\na run failed (its output is above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
