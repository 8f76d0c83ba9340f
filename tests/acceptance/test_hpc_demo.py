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
    """Each daemon's pid and command line, and for Slurm's daemons (whose arguments name no
    folder) the slurm.conf of their environment."""
    listed = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    found = []
    for line in listed.stdout.splitlines():
        if not DAEMONS.search(line) and not re.search(r"\bslurm(ctld|d)\b", line):
            continue
        try:
            environ = Path(f"/proc/{line.split()[0]}/environ").read_bytes().split(b"\0")
        except OSError:
            environ = []
        conf = [v.decode(errors="replace") for v in environ if v.startswith(b"SLURM_CONF=")]
        found.append(" ".join([line, *conf]))
    return found


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
    # Other tests start servers of their own meanwhile: the demo's are those of its folders.
    folders = [
        str(Path(match).parent)
        for match in re.findall(r"(?:node2: |\()(/\S+?(?:ssh_config|slurm\.conf))\)", done.stdout)
    ]
    assert len(folders) == 2, f"the demo did not name its servers' folders:\n{done.stdout}"
    left = [line for line in _daemons() if line not in before and any(f in line for f in folders)]
    assert left == [], f"the demo left daemons running: {left}"
