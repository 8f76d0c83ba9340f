"""Where each unit runs (issue 16): the runner key the engine looks its runner up by
(``local``, ``ssh:<host>``, ``slurm``), the host a unit of the ssh runner is placed on, an MPI
step's hosts, and a Slurm unit's settings (the spec's top-level ``slurm:`` under the step's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from shipyard.plan.model import (
    HostEntry,
    MpiSettings,
    PlannedService,
    PlannedStep,
    SlurmSettings,
    SshSettings,
)
from shipyard.spec.hosts import placement
from shipyard.spec.models import SlurmSpec, Spec

LOCAL = "local"
SLURM = "slurm"
SSH_PREFIX = "ssh:"


def ssh_key(host: str) -> str:
    """The runner key of host ``host`` (a HostEntry's name)."""
    return f"{SSH_PREFIX}{host}"


def placed_steps(
    spec: Spec, hosts: Sequence[HostEntry], steps: list[PlannedStep]
) -> list[PlannedStep]:
    """``steps`` with their runner key, host, MPI hosts and Slurm settings."""
    if not any(s.runner != LOCAL or s.mpi is not None for s in spec.steps.values()):
        return steps
    on_ssh = placement(hosts, [(n, s.host) for n, s in spec.steps.items() if s.runner == "ssh"])
    every = [host.name for host in hosts]
    out = []
    for step in steps:
        written = spec.steps[step.name]
        mpi = None
        if written.mpi is not None:
            mpi = MpiSettings(written.mpi.nprocs, written.mpi.ppn, list(written.mpi.extra))
        if written.runner == "ssh":
            host = on_ssh[step.name]
            out.append(replace(step, runner=ssh_key(host), host=host))
        elif written.runner == "slurm":
            slurm = _slurm(spec.slurm, written.slurm)
            out.append(replace(step, runner=SLURM, slurm=slurm, mpi=mpi,
                               hosts=list(written.hosts or [])))  # fmt: skip
        else:
            hosts_of = list(written.hosts or every) if mpi is not None else []
            out.append(replace(step, runner=LOCAL, mpi=mpi, hosts=hosts_of))
    return out


def placed_services(
    spec: Spec, hosts: Sequence[HostEntry], services: list[PlannedService], origin: dict[str, str]
) -> list[PlannedService]:
    """``services`` (replicas named apart; ``origin``: replica → the spec's service) with their
    runner key and host: a service's ``host:`` for all its replicas, else the hosts in turn."""
    if not any(spec.services[origin[s.name]].runner == "ssh" for s in services):
        return services
    asked = [
        (s.name, spec.services[origin[s.name]].host)
        for s in services
        if spec.services[origin[s.name]].runner == "ssh"
    ]
    on_ssh = placement(hosts, asked)
    return [
        replace(s, runner=ssh_key(on_ssh[s.name]), host=on_ssh[s.name]) if s.name in on_ssh else s
        for s in services
    ]


def ssh_settings(spec: Spec, base: str) -> SshSettings:
    """The spec's ``ssh:`` (its config path made absolute from the spec's folder ``base``)."""
    if spec.ssh is None:
        return SshSettings()
    config = spec.ssh.config
    if config is not None and not config.startswith("/"):
        config = f"{base.rstrip('/')}/{config}"
    return SshSettings(
        config=config,
        options=list(spec.ssh.options),
        connect_timeout=spec.ssh.connect_timeout,
        persist=spec.ssh.persist,
    )


def _slurm(common: SlurmSpec | None, own: SlurmSpec | None) -> SlurmSettings:
    """The step's settings over the spec's: a key the step sets wins."""
    merged: dict[str, object] = {}
    for source in (common, own):
        if source is not None:
            merged.update({key: getattr(source, key) for key in source.model_fields_set})
    extra = merged.pop("extra", [])
    return SlurmSettings(extra=list(extra) if isinstance(extra, list) else [], **merged)  # type: ignore[arg-type]
