"""An MPI step's command line (issue 16 §2): ``mpirun`` (Open MPI) over the step's hosts, with
the hostfile written into the run's folder. mpirun runs where the step's runner starts it (here,
or inside a Slurm job) and reaches the hosts itself; a stop or timeout signals mpirun's process
group, and mpirun takes every rank down with it."""

from __future__ import annotations

import math
import os
import shlex
from pathlib import Path

from shipyard.plan.model import HostEntry, Plan, PlannedStep

#: Addresses that are this machine: their ranks start without ssh.
LOCAL_ADDRESSES = frozenset({"localhost", "127.0.0.1", "::1"})


def hostfile_text(hosts: list[HostEntry], slots: int) -> str:
    """Open MPI's hostfile: one line per host with its slots."""
    return "".join(f"{host.address} slots={slots}\n" for host in hosts)


def mpirun_argv(step: PlannedStep, plan: Plan, folder: Path, argv: list[str]) -> list[str]:
    """``argv`` run by mpirun with the step's ``mpi`` settings; the hostfile (if the step has
    hosts) is written under ``folder`` (the run's ``mpi/``)."""
    mpi = step.mpi
    assert mpi is not None
    known = {host.name: host for host in plan.hosts}
    hosts = [known[name] for name in step.hosts if name in known]
    command = ["mpirun", "-np", str(mpi.nprocs)]
    if os.geteuid() == 0:  # Open MPI refuses root without it (containers, CI)
        command.append("--allow-run-as-root")
    per_host = mpi.ppn or math.ceil(mpi.nprocs / max(1, len(hosts) or 1))
    cores = os.cpu_count() or 1
    if hosts:
        folder.mkdir(parents=True, exist_ok=True)
        hostfile = folder / f"{step.name}.hosts"
        hostfile.write_text(hostfile_text(hosts, per_host), encoding="utf-8")
        command += ["--hostfile", str(hostfile)]
        remote = [host for host in hosts if host.address not in LOCAL_ADDRESSES]
        if remote:
            command += ["--mca", "plm_rsh_agent", _ssh_agent(plan, remote[0])]
    if mpi.ppn is not None:
        command += ["--map-by", f"ppr:{mpi.ppn}:node"]
    if per_host > cores or (not hosts and mpi.nprocs > cores):
        command.append("--oversubscribe")  # more ranks than this machine's cores
    return [*command, *mpi.extra, *argv]


def _ssh_agent(plan: Plan, host: HostEntry) -> str:
    """What mpirun starts its remote daemons with: ssh with the spec's config and options."""
    words = ["ssh"]
    if plan.ssh.config:
        words += ["-F", plan.ssh.config]
    for option in plan.ssh.options:
        words += ["-o", option]
    if host.port is not None:
        words += ["-p", str(host.port)]
    return " ".join(shlex.quote(word) for word in words)
