"""``make hpc-demo`` (scripts/hpc_demo.py) as a newcomer runs it: one fio spec run on this
machine, over SSH on two hosts and as Slurm jobs by changing only ``runner:``, each step where
its runner put it — and no sshd, Slurm daemon or munged left behind."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import missing_component

pytestmark = [
    pytest.mark.local_only("starts an sshd and a Slurm of its own, not through the local server"),
    pytest.mark.slow,  # ~15 s here: sshd, munged, slurmctld and slurmd start and stop
    pytest.mark.timeout(300),
]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "hpc_demo.py"
DAEMONS = re.compile(r"\b(sshd|slurmctld|slurmd|munged)\b.*shipyard|sy-slurm", re.IGNORECASE)


def _daemons() -> list[str]:
    listed = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    return [line for line in listed.stdout.splitlines() if DAEMONS.search(line)]


def test_one_spec_runs_here_over_ssh_and_on_slurm_and_nothing_is_left() -> None:
    needed = ["/usr/sbin/sshd", "slurmctld", "slurmd", "munged", "fio"]
    missing = [name for name in needed if shutil.which(name) is None and not os.path.exists(name)]
    if missing:
        missing_component(f"hpc-demo needs {', '.join(missing)} (scripts/setup.sh as root)")
    before = _daemons()
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=280, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    sections = done.stdout.split("== runner: ")[1:]
    assert [section.split()[0] for section in sections] == ["local", "ssh", "slurm"], done.stdout
    nodes = {
        runner: re.findall(r"succeeded\s+on (.+?)\s+\d+\.\d+ s", section)
        for runner, section in zip(("local", "ssh", "slurm"), sections, strict=True)
    }
    assert nodes["local"] == ["local"] * 3, done.stdout
    assert nodes["ssh"] == ["node1", "node2", "node1"], done.stdout  # the hosts in turn
    assert len(nodes["slurm"]) == 3 and all(n.startswith("job ") for n in nodes["slurm"]), nodes
    assert done.stdout.count("fio measured: write") == 3, done.stdout
    assert _daemons() == before, "the demo left daemons running"
