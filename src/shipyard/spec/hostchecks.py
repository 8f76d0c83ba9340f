"""The spec's hosts read and named (a hostfile or a list), and the units' ``runner`` /
``host`` / ``hosts`` / ``mpi`` / ``slurm`` keys checked against them (issue 16). Every problem
with the spec's file:line (a hostfile's own line for a bad entry in it)."""

from __future__ import annotations

import difflib
from pathlib import Path

from shipyard.errors import Location, SpecProblem
from shipyard.plan.model import HostEntry
from shipyard.spec.hosts import HostsProblem, hostfile_entries, resolve
from shipyard.spec.models import HostSpec, Spec
from shipyard.spec.yamlsource import SourceMap

#: A hostfile larger than this is refused (a hostfile is a list of names).
MAX_HOSTFILE = 1 << 20


def spec_hosts(
    spec: Spec, source: SourceMap, base: Path
) -> tuple[list[HostEntry], list[SpecProblem]]:
    """The spec's hosts, and every problem with them and with the units' placement keys."""
    hosts: list[HostEntry] = []
    problems: list[SpecProblem] = []
    if spec.hosts is not None:
        try:
            hosts = _read(spec.hosts, base)
        except HostsProblem as problem:
            problems.append(_hosts_problem(spec, source, base, problem))
    if spec.ssh is not None and spec.ssh.config is not None:
        config = base / spec.ssh.config
        if not config.is_file():
            problems.append(SpecProblem(
                f"ssh config '{spec.ssh.config}' is not a file ({config})",
                source.locate(("ssh", "config")),
                hint="give the path of an ssh_config file, relative to the spec file's folder",
            ))  # fmt: skip
    names = [host.name for host in hosts]
    problems += _placement_problems(spec, source, names, hosts_given=spec.hosts is not None)
    return hosts, problems


def _read(written: str | list[str | HostSpec], base: Path) -> list[HostEntry]:
    if isinstance(written, str):
        file = base / written
        try:
            if file.stat().st_size > MAX_HOSTFILE:
                raise HostsProblem(f"hostfile '{written}' is larger than {MAX_HOSTFILE} bytes")
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise HostsProblem(f"hostfile '{written}' cannot be read: {reason} ({file})") from None
        return resolve([(line, entry) for line, entry in hostfile_entries(text)])
    items: list[tuple[int | None, str | HostEntry]] = []
    for item in written:
        if isinstance(item, HostSpec):
            items.append((None, HostEntry(item.name, item.address, item.user, item.port)))
        else:
            items.append((None, item))
    return resolve(items)


def _hosts_problem(spec: Spec, source: SourceMap, base: Path, problem: HostsProblem) -> SpecProblem:
    hint = "entries are [user@]name[:port]; node[01-04] expands; # starts a comment"
    if isinstance(spec.hosts, str) and problem.line is not None:
        where = Location((base / spec.hosts).resolve(), problem.line, 1)
        return SpecProblem(problem.message, where, hint=hint)
    return SpecProblem(problem.message, source.locate(("hosts",)), hint=hint)


def _placement_problems(
    spec: Spec, source: SourceMap, names: list[str], *, hosts_given: bool
) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    units = [("steps", name, unit.runner, unit.host) for name, unit in spec.steps.items()]
    units += [("services", name, unit.runner, unit.host) for name, unit in spec.services.items()]
    for kind, name, runner, host in units:
        if runner == "ssh" and not names and not hosts_given:
            problems.append(SpecProblem(
                f"{kind[:-1]} '{name}' has runner: ssh but the spec lists no hosts",
                source.locate((kind, name, "runner")),
                hint="add hosts: [node01, node02] (or hosts: hostfile.txt) at the top level",
            ))  # fmt: skip
        if host is not None and runner != "ssh":
            problems.append(SpecProblem(
                f"{kind[:-1]} '{name}' has host: '{host}' but runs on runner: {runner}",
                source.locate((kind, name, "host")),
                hint="host: places a unit of runner: ssh; add runner: ssh or remove host:",
            ))  # fmt: skip
        elif host is not None and names and host not in names:
            problems.append(_unknown_host(source, (kind, name, "host"), host, names))
    problems += _step_problems(spec, source, names)
    for name, service in spec.services.items():
        if service.runner == "slurm":
            problems.append(SpecProblem(
                f"service '{name}' has runner: slurm: services run on local or ssh",
                source.locate(("services", name, "runner")),
                hint="run it as a step of runner: slurm, or on a host with runner: ssh",
            ))  # fmt: skip
    return problems


def _step_problems(spec: Spec, source: SourceMap, names: list[str]) -> list[SpecProblem]:
    """A step's MPI hosts, slurm settings and mpi with its runner."""
    problems: list[SpecProblem] = []
    for name, step in spec.steps.items():
        for index, host in enumerate(step.hosts or []):
            if host not in names:
                problems.append(_unknown_host(source, ("steps", name, "hosts", index), host, names))
        if step.hosts is not None and step.mpi is None:
            problems.append(SpecProblem(
                f"step '{name}' has hosts: but no mpi:",
                source.locate(("steps", name, "hosts")),
                hint="hosts: lists an MPI step's hosts; for one host write runner: ssh and host:",
            ))  # fmt: skip
        if step.slurm is not None and step.runner != "slurm":
            problems.append(SpecProblem(
                f"step '{name}' has slurm: settings but runs on runner: {step.runner}",
                source.locate(("steps", name, "slurm")),
                hint="add runner: slurm, or remove slurm:",
            ))  # fmt: skip
        if step.mpi is not None and step.runner == "ssh":
            problems.append(SpecProblem(
                f"step '{name}' has mpi: and runner: ssh",
                source.locate(("steps", name, "runner")),
                hint="an MPI step starts mpirun here (runner: local), which reaches its hosts "
                "itself, or inside a Slurm job (runner: slurm)",
            ))  # fmt: skip
    return problems


def _unknown_host(
    source: SourceMap, path: tuple[str | int, ...], host: str, names: list[str]
) -> SpecProblem:
    close = difflib.get_close_matches(host, names, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"the hosts are: {', '.join(names[:10])}"
    return SpecProblem(f"host '{host}' is not one of the spec's hosts", source.locate(path), hint)
