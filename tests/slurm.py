"""A throwaway single-node Slurm for the tests of the Slurm runner (issue 16 §3).

Everything from the OS packages (``apt-get install slurm-wlm munge``), nothing of the system's
own configuration: a generated munge key and a ``munged`` with its socket, pid, seed and log in
a temporary folder; a generated ``slurm.conf`` (one node named after this machine on
127.0.0.1, its CPUs and memory as they are, one partition, free high ports on loopback,
state, spool, pid and log files in the folder, no accounting daemon); ``slurmctld -D`` and
``slurmd -D`` in the foreground. Ready once ``sinfo`` shows the node idle. Every process is
killed and the folder removed at the end.

The clients (``sbatch``, ``squeue``, ``scontrol``, ``scancel``) find it through ``SLURM_CONF``:
:attr:`SlurmCluster.env`, which the tests put into the engine's environment. No binaries: the
test is skipped locally and fails under ``CI=true`` (:func:`tests.conftest.missing_component`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import missing_component

#: What a test needs of the OS packages
BINARIES = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")
#: The partition the generated configuration has (the default one)
PARTITION = "shipyard"
#: How long ended jobs stay known to slurmctld (``MinJobAge``): longer than any test
MIN_JOB_AGE = 600


@dataclass(frozen=True)
class SlurmCluster:
    folder: Path
    conf: Path
    node: str
    partition: str

    @property
    def env(self) -> dict[str, str]:
        """What the Slurm clients need to reach this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *argv: str) -> str:
        """A Slurm client command against this cluster; its stdout (a RuntimeError with its
        stderr if it fails)."""
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            check=False,
            timeout=30,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr}")
        return done.stdout

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol -o show job`` of ``job_id`` as key → value."""
        line = self.run("scontrol", "-o", "show", "job", job_id).strip()
        fields: dict[str, str] = {}
        for word in line.split(" "):
            key, _, value = word.partition("=")
            fields[key] = value
        return fields

    def node_state(self) -> str:
        return self.run("sinfo", "-h", "-n", self.node, "-o", "%T").strip()


def _missing() -> list[str]:
    return [name for name in BINARIES if shutil.which(name) is None]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _memory_mb() -> int:
    """This machine's memory in MB, less a tenth (a node claiming more than slurmd finds is
    drained)."""
    with open("/proc/meminfo", encoding="ascii") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024 * 9 // 10
    return 1024


def slurm_conf(
    folder: Path,
    node: str,
    *,
    ctld_port: int,
    slurmd_port: int,
    settings: Mapping[str, str] | None = None,
) -> str:
    """The generated slurm.conf (see the module's docstring); ``settings`` replace the lines of
    the same key, or are added (a test's own cluster with, say, memory enforcement)."""
    cpus = min(os.cpu_count() or 1, 2)
    lines = [
        "ClusterName=shipyardtest",
        f"SlurmctldHost={node}(127.0.0.1)",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={slurmd_port}",
        "AuthType=auth/munge",
        f"AuthInfo=socket={folder / 'munge.socket'}",
        f"StateSaveLocation={folder / 'state'}",
        f"SlurmdSpoolDir={folder / 'spool'}",
        f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
        f"SlurmdPidFile={folder / 'slurmd.pid'}",
        f"SlurmctldLogFile={folder / 'slurmctld.log'}",
        f"SlurmdLogFile={folder / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "SchedulerType=sched/backfill",
        "SchedulerParameters=sched_min_interval=0,batch_sched_delay=0",
        "MpiDefault=none",
        "ReturnToService=2",
        f"MinJobAge={MIN_JOB_AGE}",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "SlurmctldTimeout=30",
        "SlurmdTimeout=30",
        "KillWait=2",
        "InactiveLimit=0",
        f"NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={_memory_mb()} State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP",
    ]
    extra = dict(settings or {})
    lines = [
        f"{key}={extra.pop(key)}" if (key := line.partition("=")[0]) in extra else line
        for line in lines
    ]
    return "\n".join([*lines, *(f"{key}={value}" for key, value in extra.items()), ""])


def _wait_idle(cluster: SlurmCluster, daemons: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    state = ""
    while time.monotonic() < deadline:
        for daemon in daemons:
            if daemon.poll() is not None:
                raise RuntimeError(
                    f"{daemon.args!r} exited with {daemon.returncode}; see {cluster.folder}"
                )
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            state = cluster.node_state()
            if state == "idle":
                return
        time.sleep(0.2)
    raise RuntimeError(f"the Slurm node is not idle after 60 s (sinfo: {state!r})")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def throwaway_slurm(
    settings: Mapping[str, str] | None = None, files: Mapping[str, str] | None = None
) -> Iterator[SlurmCluster]:
    """A running single-node Slurm (see the module's docstring), stopped and removed on exit;
    ``settings``: slurm.conf lines of its own (:func:`slurm_conf`); ``files``: more files
    beside slurm.conf, by name (``cgroup.conf``: Slurm reads it from the same folder)."""
    missing = _missing()
    if missing:
        missing_component(
            f"Slurm is not installed ({', '.join(missing)} not on PATH): "
            "apt-get install slurm-wlm munge"
        )
    if os.geteuid() != 0:
        missing_component("the throwaway Slurm runs as root (SlurmUser=root), as CI does")
    folder = Path(tempfile.mkdtemp(prefix="sy-slurm-"))  # short: the munge socket path
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    folder.chmod(0o755)
    node = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    conf.write_text(
        slurm_conf(
            folder, node, ctld_port=_free_port(), slurmd_port=_free_port(), settings=settings
        ),
        encoding="utf-8",
    )
    for name, text in (files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    cluster = SlurmCluster(folder, conf, node, PARTITION)
    env = {**os.environ, **cluster.env}
    daemons: list[subprocess.Popen[bytes]] = []
    try:
        key = folder / "munge.key"
        subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True)
        key.chmod(0o600)
        munged = [
            "munged", "--foreground", "--force",
            f"--socket={folder / 'munge.socket'}", f"--key-file={key}",
            f"--pid-file={folder / 'munged.pid'}", f"--log-file={folder / 'munged.log'}",
            f"--seed-file={folder / 'munged.seed'}",
        ]  # fmt: skip
        with open(folder / "munged.out", "ab") as out:  # its notices, not the test's output
            daemons.append(
                subprocess.Popen(munged, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            )
        deadline = time.monotonic() + 10
        while not (folder / "munge.socket").exists():
            if time.monotonic() > deadline or daemons[0].poll() is not None:
                raise RuntimeError(f"munged did not start; see {folder / 'munged.log'}")
            time.sleep(0.05)
        log = open(folder / "daemons.out", "ab")  # noqa: SIM115 - closed in finally
        try:
            for command in (["slurmctld", "-D", "-i"], ["slurmd", "-D", "-N", node]):
                daemons.append(
                    subprocess.Popen(
                        command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
                    )
                )
        finally:
            log.close()
        _wait_idle(cluster, daemons)
        yield cluster
    finally:
        # Jobs first (their slurmstepd would outlive slurmd), then the daemons, newest first.
        if len(daemons) == 3:
            with contextlib.suppress(Exception):
                subprocess.run(["scancel", "--full", "-p", PARTITION], env=env, timeout=10,
                               check=False, capture_output=True)  # fmt: skip
        for daemon in reversed(daemons):
            _stop(daemon)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    with throwaway_slurm() as cluster:
        yield cluster


@pytest.fixture
def slurm_env(slurm_cluster: SlurmCluster, monkeypatch: pytest.MonkeyPatch) -> SlurmCluster:
    """The cluster, with ``SLURM_CONF`` in this process's environment (the engine passes its
    environment to the Slurm commands it runs)."""
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    return slurm_cluster
