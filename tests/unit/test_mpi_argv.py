"""mpirun's command line for an MPI step (shipyard.engine.mpi.mpirun_command): plain tables of
specs → argv and files, built through the real loader and planner."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shipyard.engine.mpi import REMOTE_RANK_WRAPPER, is_local, mpirun_command
from shipyard.plan.build import build_plan
from shipyard.plan.model import HostEntry, Plan
from shipyard.spec.loader import load_spec_text

FOLDER = Path("/runs/exec_x/mpi")


def plan_of(text: str, spec_path: Path) -> Plan:
    return build_plan(load_spec_text(textwrap.dedent(text), spec_path))


def command(
    text: str,
    *,
    cores: int = 2,
    root: bool = False,
    spec_path: Path = Path("/specs/mpi.yaml"),
    forwarded: tuple[str, ...] = (),
) -> tuple[list[str], dict[str, str]]:
    plan = plan_of(text, spec_path)
    step = next(step for step in plan.steps if step.mpi is not None)
    built = mpirun_command(
        step,
        plan,
        FOLDER,
        ["./hello"],
        cores=cores,
        root=root,
        names=frozenset({"thisbox"}),
        forwarded=forwarded,
    )
    return built.argv, {path.name: text for path, text in built.files.items()}


NO_HOSTS = """
name: m
steps:
  s: {run: ./hello, mpi: {nprocs: NPROCS}}
"""


@pytest.mark.parametrize(
    ("nprocs", "cores", "root", "expected"),
    [
        (2, 2, False, ["mpirun", "-np", "2", "--mca", "plm", "isolated", "./hello"]),
        (
            4,
            2,
            False,
            ["mpirun", "-np", "4", "--oversubscribe", "--mca", "plm", "isolated", "./hello"],
        ),
        (
            1,
            8,
            True,
            ["mpirun", "-np", "1", "--allow-run-as-root", "--mca", "plm", "isolated", "./hello"],
        ),
    ],
)
def test_without_hosts_every_rank_runs_here(
    nprocs: int, cores: int, root: bool, expected: list[str]
) -> None:
    argv, files = command(NO_HOSTS.replace("NPROCS", str(nprocs)), cores=cores, root=root)
    assert argv == expected, f"{nprocs} ranks on {cores} cores (root={root}): {argv}"
    assert files == {}, "no hostfile for a step without hosts"


def test_extra_arguments_come_before_the_program() -> None:
    argv, _ = command(
        """
        name: m
        steps:
          s: {run: ./hello, mpi: {nprocs: 2, extra: [--bind-to, none, --tag-output]}}
        """
    )
    assert argv[-4:] == ["--bind-to", "none", "--tag-output", "./hello"], argv


LOCAL_HOSTS = """
name: m
hosts:
  - localhost
  - {name: n1, address: 127.0.0.1, port: 2222}
  - {name: n2, address: 127.0.0.2, port: 2223}
  - thisbox
steps:
  s: {run: ./hello, mpi: MPI}
"""


@pytest.mark.parametrize(
    ("mpi", "hostfile", "oversubscribe"),
    [
        ("{nprocs: 8, ppn: 2}", "localhost slots=8\n", False),
        ("{nprocs: 8}", "localhost slots=8\n", False),  # ceil(8 / 4 hosts) = 2 each
        ("{nprocs: 6}", "localhost slots=8\n", False),
        ("{nprocs: 9, ppn: 2}", "localhost slots=8\n", True),  # more ranks than slots
    ],
)
def test_hosts_that_are_this_machine_are_one_localhost_line_and_need_no_ssh(
    mpi: str, hostfile: str, oversubscribe: bool
) -> None:
    argv, files = command(LOCAL_HOSTS.replace("MPI", mpi))
    assert files == {"s.hosts": hostfile}, files
    assert argv[argv.index("--hostfile") + 1] == str(FOLDER / "s.hosts")
    assert ("--oversubscribe" in argv) is oversubscribe, argv
    assert argv[-4:] == ["--mca", "plm", "isolated", "./hello"], "no ssh for local hosts"
    assert "plm_rsh_agent" not in argv


REMOTE = """
name: m
hosts:
  - localhost
  - alice@node01:2200
  - node02
  - {name: "10.0.0.9:2201", address: 10.0.0.9, port: 2201}
ssh:
  config: ssh/config
  options: [StrictHostKeyChecking=no, "ProxyJump=jump host"]
  connect_timeout: 2.5s
env: {COMMON: "1"}
steps:
  s:
    run: ./hello
    env: {OWN: "2"}
    mpi: {nprocs: 8, ppn: 2}
"""


def test_remote_hosts_go_through_ssh_with_the_specs_settings(tmp_path: Path) -> None:
    (tmp_path / "ssh").mkdir()
    (tmp_path / "ssh" / "config").write_text("", encoding="utf-8")  # validation wants a file
    argv, files = command(
        REMOTE, spec_path=tmp_path / "mpi.yaml", forwarded=("SHIPYARD_ATTEMPT", "OWN")
    )
    assert files["s.hosts"] == (
        "localhost slots=2\nnode01 slots=2\nnode02 slots=2\nshipyard-host-3 slots=2\n"
    ), "a name mpirun would read as host:port gets an alias"
    agent = argv[argv.index("plm_rsh_agent") + 1]
    assert agent == f"ssh -F {FOLDER / 's.ssh_config'}", "nothing with blanks in the agent"
    assert "isolated" not in argv, "remote hosts need the rsh launcher"
    assert argv[-5:] == [*REMOTE_RANK_WRAPPER, "./hello"], "a remote rank dies with its orted"
    assert "--oversubscribe" not in argv
    xs = [argv[i + 1] for i, word in enumerate(argv) if word == "-x"]
    assert xs == ["COMMON", "OWN", "SHIPYARD_ATTEMPT"], "the unit's variables reach remote ranks"
    config = files["s.ssh_config"]
    assert config.index("StrictHostKeyChecking=no") < config.index("Host node01"), (
        "the spec's options come first, so they win as -o would"
    )
    assert "  ProxyJump=jump host\n" in config
    assert "  ConnectTimeout 3\n" in config
    assert "Host node01\n  User alice\n  Port 2200\n" in config, (
        "no HostName for a name: the spec's config (or DNS) resolves it"
    )
    assert "Host node02\n" in config and "HostName node02" not in config
    assert "Host shipyard-host-3\n  HostName 10.0.0.9\n  Port 2201\n" in config
    assert config.endswith(f'Match all\n  Include "{tmp_path}/ssh/config"\n'), config
    assert "localhost" not in config, "this machine is never reached over ssh"


def test_inside_slurm_mpirun_takes_the_allocation() -> None:
    argv, files = command(
        """
        name: m
        steps:
          s: {run: ./hello, runner: slurm, mpi: {nprocs: 4, ppn: 2}}
        """,
        cores=1,
        root=True,
    )
    assert argv == [
        "mpirun", "-np", "4", "--allow-run-as-root", "--map-by", "ppr:2:node", "./hello"
    ]  # fmt: skip
    assert files == {}


@pytest.mark.parametrize(
    ("address", "local"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("thisbox", True),
        ("node01", False),
        ("10.0.0.1", False),
        ("1127.0.0.1", False),
    ],
)
def test_which_hosts_are_this_machine(address: str, local: bool) -> None:
    assert is_local(HostEntry(address, address), frozenset({"thisbox"})) is local, address
