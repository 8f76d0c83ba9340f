"""An MPI step's command line (issue 16 §2): ``mpirun`` (Open MPI 4.1) over the step's hosts,
with the hostfile (and, for remote hosts, an ssh_config) written into the run's ``mpi/`` folder.

mpirun runs where the step's runner starts it (here, or inside a Slurm job) and reaches the hosts
itself:

* no hosts: every rank on this machine, ``--oversubscribe`` when there are more ranks than cores;
* hosts that are this machine (``localhost``, ``127.x``, ``::1``, its host name) become one
  ``localhost`` line of the hostfile: their ranks start without ssh, and when no host is remote
  mpirun is told so (``--mca plm isolated``), so it needs no ssh client at all;
* remote hosts are reached through ``ssh -F <run>/mpi/<step>.ssh_config`` (``plm_rsh_agent``),
  a config that gives each host its address, user and port, then the spec's ``ssh.options`` and
  ``connect_timeout``, then ``Include`` of the spec's ``ssh.config``. Open MPI splits the agent on
  blanks without reading quotes, so everything with spaces goes into that file, never into the
  agent's words. The step's own variables (and the unit's ``SHIPYARD_*``) reach remote ranks
  with ``-x NAME``, and each rank runs under ``setpriv --pdeathsig KILL`` where the host has it.

Stops and timeouts: Open MPI puts every local rank in a process group of its own (``setpgid`` in
its launcher), so the engine's signal to mpirun's group reaches mpirun only; a SIGKILL of mpirun
alone leaves its ranks running, re-parented. What takes them down is the unit's containment: a
rank is born in the unit's cgroup, and it inherits the unit's ``SHIPYARD_UNIT`` marker from
mpirun's environment, so the engine's stop signals and SIGKILLs every rank too
(tests/acceptance/test_mpi_cli.py checks both mechanisms, and that the ranks are gone
when the attempt ends, before a retry starts). Ranks on remote hosts are children of the remote
``orted``, out of this machine's containment; when mpirun dies (its ssh client, in the unit's
scope, dies with it) orted exits, but it leaves a rank that ignores SIGTERM running (seen with
4.1.4): hence the parent-death signal, which SIGKILLs each remote rank when its orted exits.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.engine.process import SpawnError
from shipyard.plan.model import HostEntry, Plan, PlannedStep
from shipyard.workspace import write_private

#: Addresses that are this machine whatever its name: their ranks start without ssh.
LOCAL_ADDRESSES = frozenset({"localhost", "localhost.localdomain", "::1", "ip6-localhost"})

#: A host name Open MPI's hostfile and ssh take as it is (else the host gets an alias).
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

#: What each rank runs under when some host is remote: util-linux's setpriv sets the parent-
#: death signal (SIGKILL when the rank's orted exits) and execs the rank's argv, same process.
#: A host whose setpriv lacks --pdeathsig (util-linux before 2.33) or has none runs the argv
#: as it is: the argv is the script's "$@", never re-read by the shell.
REMOTE_RANK_WRAPPER = (
    "/bin/sh",
    "-c",
    'if setpriv --pdeathsig KILL -- true 2>/dev/null; then exec setpriv --pdeathsig KILL -- "$@";'
    ' fi; exec "$@"',
    "shipyard-rank",
)

#: The runner key of steps run inside a Slurm job (shipyard.plan.placement.SLURM).
_SLURM = "slurm"


@dataclass(frozen=True, slots=True)
class MpiCommand:
    """mpirun's argv and the files it reads: ``files`` maps a path to its text."""

    argv: list[str]
    files: dict[Path, str] = field(default_factory=dict)


def this_machine_names() -> frozenset[str]:
    """The names by which this machine is a host of the spec (besides loopback)."""
    name = socket.gethostname()
    return frozenset({name, name.split(".")[0]})


def local_cores() -> int:
    """The cores mpirun places ranks on without ``--oversubscribe``: Open MPI counts cores, not
    hardware threads, among the CPUs this process may use."""
    allowed = len(os.sched_getaffinity(0))
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or allowed
    except ImportError:  # pragma: no cover - psutil is a dependency
        physical = allowed
    return max(1, min(allowed, physical))


def is_local(host: HostEntry, names: frozenset[str]) -> bool:
    """Is ``host`` this machine (its ranks start without ssh)?"""
    address = host.address.lower()
    return address in LOCAL_ADDRESSES or address.startswith("127.") or host.address in names


def mpirun_command(
    step: PlannedStep,
    plan: Plan,
    folder: Path,
    argv: list[str],
    *,
    cores: int,
    root: bool,
    names: frozenset[str] = frozenset(),
    forwarded: Iterable[str] = (),
) -> MpiCommand:
    """Pure: the mpirun command line of ``step`` running ``argv``, and the files it needs under
    ``folder`` (the run's ``mpi/``). ``cores``: this machine's; ``root``: running as root (Open
    MPI refuses it without ``--allow-run-as-root``); ``names``: this machine's host names;
    ``forwarded``: variables remote ranks get besides the step's ``env`` (``-x``)."""
    mpi = step.mpi
    if mpi is None:
        raise ValueError(f"step '{step.name}' has no mpi settings")
    command = ["mpirun", "-np", str(mpi.nprocs)]
    if root:  # containers and CI run as root
        command.append("--allow-run-as-root")
    if step.runner == _SLURM:
        # Inside the job, mpirun takes the allocation's nodes from Slurm itself.
        if mpi.ppn is not None:
            command += ["--map-by", f"ppr:{mpi.ppn}:node"]
        return MpiCommand([*command, *mpi.extra, *argv])
    known = {host.name: host for host in plan.hosts}
    hosts = [known[name] for name in step.hosts if name in known]
    if not hosts:
        if mpi.nprocs > cores:
            command.append("--oversubscribe")  # more ranks than this machine's cores
        command += ["--mca", "plm", "isolated"]  # every rank here: no ssh
        return MpiCommand([*command, *mpi.extra, *argv])
    per_host = mpi.ppn or math.ceil(mpi.nprocs / len(hosts))
    local = [host for host in hosts if is_local(host, names)]
    remote = [host for host in hosts if not is_local(host, names)]
    lines = [f"localhost slots={per_host * len(local)}\n"] if local else []
    aliases = _aliases(remote)
    lines += [f"{aliases[host.name]} slots={per_host}\n" for host in remote]
    hostfile = folder / f"{step.name}.hosts"
    files = {hostfile: "".join(lines)}
    command += ["--hostfile", str(hostfile)]
    if mpi.nprocs > per_host * len(hosts):
        command.append("--oversubscribe")  # more ranks than the hosts' slots
    if remote:
        config = folder / f"{step.name}.ssh_config"
        files[config] = ssh_config_text(remote, aliases, plan)
        command += ["--mca", "plm_rsh_agent", f"ssh -F {config}"]
        for name in sorted({*step.env, *forwarded}):
            command += ["-x", name]
        # A remote rank is its orted's child, out of this machine's reach: it must die with
        # orted, which exits when it loses mpirun without killing a rank that ignores SIGTERM.
        argv = [*REMOTE_RANK_WRAPPER, *argv]
    else:
        command += ["--mca", "plm", "isolated"]  # every host is this machine: no ssh
    return MpiCommand([*command, *mpi.extra, *argv], files)


def _aliases(remote: list[HostEntry]) -> dict[str, str]:
    """A name for each remote host in the hostfile and the ssh_config: its own when plain, else
    ``shipyard-host-<n>`` (a name like ``10.0.0.5:2222`` would read as a port to mpirun)."""
    out: dict[str, str] = {}
    for number, host in enumerate(remote, 1):
        plain = _PLAIN_NAME.match(host.name) is not None
        out[host.name] = host.name if plain else f"shipyard-host-{number}"
    return out


def ssh_config_text(remote: list[HostEntry], aliases: dict[str, str], plan: Plan) -> str:
    """The ssh_config mpirun's ssh reads: the spec's options first (as ``-o`` would, they win),
    each host's address (when its alias is not the address itself: a name the spec's config
    defines must reach that config), user and port, then the spec's own config file."""
    settings = plan.ssh
    lines = ["# written by shipyard for mpirun (plm_rsh_agent)\n", "Host *\n"]
    lines.append(f"  ConnectTimeout {max(1, math.ceil(settings.connect_timeout))}\n")
    lines += [f"  {option}\n" for option in settings.options]
    for host in remote:
        alias = aliases[host.name]
        lines.append(f"Host {alias}\n")
        if alias != host.address:  # else the name is ssh's to resolve (the spec's config, DNS)
            lines.append(f"  HostName {host.address}\n")
        if host.user is not None:
            lines.append(f"  User {host.user}\n")
        if host.port is not None:
            lines.append(f"  Port {host.port}\n")
    if settings.config:
        lines.append(f'Match all\n  Include "{settings.config}"\n')
    return "".join(lines)


def mpirun_argv(
    step: PlannedStep,
    plan: Plan,
    folder: Path,
    argv: list[str],
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """``argv`` run by mpirun with the step's ``mpi`` settings; its hostfile (if the step has
    hosts) and ssh_config (if some are remote) written owner-only under ``folder``. ``env``: the
    unit's whole environment, whose ``SHIPYARD_*`` variables (its attempt, step, run folder,
    parameters …) remote ranks get too, as the step's ``env:``; not the rest of this process's
    environment (a remote host has its own PATH). Raises SpawnError (the attempt fails with its
    message) when mpirun is missing or a file cannot be written."""
    # Looked up as the spawn will: on the step's PATH (a named environment's) if it has one.
    if step.runner != _SLURM and shutil.which("mpirun", path=step.env.get("PATH")) is None:
        raise SpawnError(
            f"step '{step.name}' has mpi: but mpirun is not on PATH: install Open MPI "
            "(apt-get install openmpi-bin) or remove mpi: from the step"
        )
    command = mpirun_command(
        step,
        plan,
        folder,
        argv,
        cores=local_cores(),
        root=os.geteuid() == 0,
        names=this_machine_names(),
        forwarded=[n for n in env or {} if n.startswith("SHIPYARD_") and n != "SHIPYARD_UNIT"],
    )
    if any(path.suffix == ".ssh_config" and len(str(path).split()) > 1 for path in command.files):
        raise SpawnError(
            f"step '{step.name}': the run folder {folder} holds a blank, which mpirun's ssh "
            "agent (plm_rsh_agent) cannot take: use a SHIPYARD_HOME without spaces"
        )
    try:
        if command.files:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path, text in command.files.items():
            write_private(path, text)
    except OSError as error:
        raise SpawnError(f"step '{step.name}': cannot write its MPI files: {error}") from error
    return command.argv
