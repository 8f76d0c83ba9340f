"""MPI steps through the installed CLI (issue 16 §2), against the real Open MPI: a hello world
compiled with mpicc at test time, timeouts and stops that must take every rank down (ranks leave
mpirun's process group: only the unit's containment reaches them once mpirun is killed), and
examples/hpc/fio-ranks.yaml. Skipped without mpirun/mpicc/fio on a developer's machine; failed
in CI (apt-get install -y openmpi-bin libopenmpi-dev fio)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.conftest import Shipyard
from tests.acceptance.test_stop_grace_cli import wait_for_text
from tests.conftest import SpecWriter, missing_component

# slow as a file: real Open MPI ranks run, timed out and stopped, on this machine and over ssh
# (make test-slow and CI run it)
pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "hpc"

HELLO = r"""
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* hello [hang MARKER]: every rank prints its rank and the world's size; with "hang", each then
   ignores SIGTERM and waits for ever (MARKER only makes the rank findable in ps). */
int main(int argc, char **argv) {
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    printf("hello from rank %d of %d pid %d\n", rank, size, (int)getpid());
    fflush(stdout);
    if (argc > 2 && strcmp(argv[1], "hang") == 0) {
        signal(SIGTERM, SIG_IGN);
        printf("rank %d hangs\n", rank);
        fflush(stdout);
        for (;;) pause();
    }
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Finalize();
    return 0;
}
"""


def need(*programs: str) -> None:
    for program in programs:
        if shutil.which(program) is None:
            missing_component(f"{program} is not installed (apt-get install openmpi-bin "
                              "libopenmpi-dev fio)")  # fmt: skip


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    """The hello world, compiled with mpicc in the test's folder."""
    need("mpirun", "mpicc")
    source = tmp_path / "hello.c"
    source.write_text(HELLO, encoding="utf-8")
    binary = tmp_path / "hello"
    built = subprocess.run(
        ["mpicc", "-o", str(binary), str(source)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, f"mpicc failed:\n{built.stderr}"
    return binary


def processes_with(marker: str) -> list[str]:
    """``pid: command line`` of every live process whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone
        if any(marker.encode() in word for word in words):
            found.append(f"{entry.name}: {b' '.join(words).decode(errors='replace')}")
    return found


@pytest.fixture
def marker() -> Iterator[str]:
    """A word only this test's ranks carry (a number: it is also how long `sleep` sleeps);
    whatever of them a failed test left is killed."""
    word = f"100000.{uuid.uuid4().int % 10**12:012d}"
    yield word
    for line in processes_with(word):
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(line.split(":")[0]), signal.SIGKILL)


def run_json(shipyard: Shipyard, spec: Path, *args: str) -> dict[str, object]:
    result = shipyard("run", str(spec), "--json", *args)
    assert result.stdout, f"no JSON from run: {result.stderr}"
    status: dict[str, object] = json.loads(result.stdout)
    return status


def step_log(tmp_path: Path, execution_id: object, step: str) -> str:
    return (tmp_path / "home" / "runs" / str(execution_id) / "logs" / f"{step}.log").read_text(
        encoding="utf-8"
    )


def test_hello_world_every_rank_writes_to_the_steps_log(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path, hello: Path
) -> None:
    spec = write_spec(
        f"""
        name: mpi-hello
        steps:
          hello: {{run: [{hello}], mpi: {{nprocs: 3}}}}
        """
    )
    status = run_json(shipyard, spec)
    assert status["state"] == "succeeded", status
    log = step_log(tmp_path, status["id"], "hello")
    for rank in range(3):
        assert f"hello from rank {rank} of 3 " in log, f"rank {rank} missing from the log:\n{log}"


def test_hosts_that_are_this_machine_share_one_hostfile_line(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path, hello: Path
) -> None:
    spec = write_spec(
        f"""
        name: mpi-hosts
        hosts:
          - localhost
          - {{name: n1, address: 127.0.0.1}}
        steps:
          hello: {{run: [{hello}], mpi: {{nprocs: 4, ppn: 2}}}}
        """
    )
    status = run_json(shipyard, spec)
    assert status["state"] == "succeeded", status
    run = tmp_path / "home" / "runs" / str(status["id"])
    assert (run / "mpi" / "hello.hosts").read_text(encoding="utf-8") == "localhost slots=4\n"
    assert (run / "mpi" / "hello.hosts").stat().st_mode & 0o077 == 0, "the hostfile is private"
    log = step_log(tmp_path, status["id"], "hello")
    assert sorted(line.split(" pid ")[0] for line in log.splitlines() if "hello from" in line) == [
        f"hello from rank {rank} of 4" for rank in range(4)
    ], log


def hanging(kind: str, hello: Path, marker: str, patience: int = 0) -> str:
    """The ranks' command (a YAML flow list). The first attempt hangs, ignoring SIGTERM:
    ``mpi``, the MPI hello world after MPI_Init; ``plain``, a program that is no MPI program (a
    script mpirun starts on each rank). Both hold ``marker`` in their command line. A second
    attempt (the retry after the timeout) looks for what the first left and says so."""
    if kind == "mpi":
        hang, pattern = f'exec {hello} hang "$M"', "[h]ang $M"
    else:
        hang, pattern = 'trap "" TERM; echo rank $R hangs; exec sleep "$M"', "[s]leep $M"
    # patience: tenths of a second the retry gives them to go (remote ones go asynchronously)
    script = (
        f'R=$OMPI_COMM_WORLD_RANK; M={marker}; if [ "$SHIPYARD_ATTEMPT" = 1 ]; then {hang}; fi; '
        f'n=0; while pgrep -f "{pattern}" >/dev/null && [ $n -lt {patience} ]; do sleep 0.1; '
        "n=$((n+1)); done; "
        f'if pgrep -f "{pattern}" >/dev/null; then echo "rank $R: ranks left"; exit 3; fi; '
        'echo "rank $R: none left"'
    )
    return f"[sh, -c, '{script}']"


@pytest.mark.parametrize(
    ("kind", "stop_signal", "containment"),
    [
        ("mpi", "TERM", "auto"),
        ("mpi", "KILL", "marker"),
        ("plain", "TERM", "marker"),
        ("plain", "KILL", "marker"),
        ("plain", "KILL", "auto"),
    ],
)
def test_a_timeout_leaves_no_rank(
    shipyard: Shipyard,
    write_spec: SpecWriter,
    tmp_path: Path,
    hello: Path,
    marker: str,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    stop_signal: str,
    containment: str,
) -> None:
    """Ranks ignore SIGTERM and sit in process groups of their own: with KILL, mpirun dies at
    once and cannot take them down (an MPI rank notices it lost mpirun, a plain program does
    not); the unit's containment must (``auto``: the cgroup where this machine has one)."""
    monkeypatch.setenv("SHIPYARD_CONTAINMENT", containment)
    spec = write_spec(
        f"""
        name: mpi-timeout
        steps:
          hang:
            run: {hanging(kind, hello, marker)}
            mpi: {{nprocs: 3}}
            timeout: 3s
            stop: {{signal: {stop_signal}, timeout: 1s}}
            retries: {{count: 1, backoff: 0}}
        """
    )
    status = run_json(shipyard, spec)
    log = step_log(tmp_path, status["id"], "hang")
    assert all(f"rank {rank} hangs" in log for rank in range(3)), f"not every rank ran:\n{log}"
    # Gone when the attempt ended (the retry looked), not only at the execution's end.
    assert log.count(": none left") == 3 and "ranks left" not in log, (
        f"ranks of the timed-out attempt outlived it:\n{log}"
    )
    assert status["state"] == "succeeded", status
    assert processes_with(marker) == [], "ranks outlived the run"


def test_stop_of_a_detached_run_leaves_no_rank(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path, hello: Path, marker: str
) -> None:
    spec = write_spec(
        f"""
        name: mpi-stop
        steps:
          hang:
            run: {hanging("plain", hello, marker)}
            mpi: {{nprocs: 2}}
        """
    )
    started = shipyard("run", str(spec), "-d", "--json")
    assert started.returncode == 0, started.stderr
    execution_id = json.loads(started.stdout)["id"]
    log = tmp_path / "home" / "runs" / execution_id / "logs" / "hang.log"
    wait_for_text(log, "rank 0 hangs")
    wait_for_text(log, "rank 1 hangs")
    assert len(processes_with(marker)) >= 2, "the ranks should be running before the stop"
    # The ranks ignore SIGTERM: past the grace, everything of the unit gets SIGKILL.
    stopped = shipyard("stop", execution_id, "--yes", "--grace", "1s")
    assert stopped.returncode == 0, stopped.stderr
    status = json.loads(shipyard("status", execution_id, "--json").stdout)
    assert status["state"] not in ("pending", "running"), status
    assert processes_with(marker) == [], "ranks outlived shipyard stop"


@pytest.mark.local_only("the PATH without mpirun is the CLI's; a server's engine has its own")
def test_without_mpirun_the_step_fails_saying_what_to_install(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_spec(
        """
        name: mpi-missing
        steps:
          s: {run: [/bin/true], mpi: {nprocs: 2}}
        """
    )
    empty = tmp_path / "no-programs"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # the engine finds no mpirun
    status = run_json(shipyard, spec)
    assert status["state"] == "failed", status
    shown = shipyard("status", status["id"])
    assert "mpirun is not on PATH" in shown.stdout, shown.stdout
    assert "apt-get install openmpi-bin" in shown.stdout, shown.stdout


def test_the_fio_example_sums_every_ranks_result(shipyard: Shipyard, tmp_path: Path) -> None:
    need("mpirun", "fio")
    status = run_json(shipyard, EXAMPLES / "fio-ranks.yaml", "--mode", "test")
    assert status["state"] == "succeeded", status
    run = tmp_path / "home" / "runs" / str(status["id"])
    ranks = sorted(path.name for path in (run / "artifacts" / "ranks").iterdir())
    assert ranks == [f"rank{rank}.json" for rank in range(4)], "one fio result per rank"
    summary = json.loads((run / "artifacts" / "summary.json").read_text(encoding="utf-8"))
    assert summary["ranks"] == 4, summary
    assert summary["write_bw"] > 0 and summary["read_bw"] > 0, summary
    each = sum(
        json.loads((run / "artifacts" / "ranks" / name).read_text(encoding="utf-8"))["jobs"][0][
            "write"
        ]["bw_bytes"]
        / 2**20
        for name in ranks
    )
    assert summary["write_bw"] == pytest.approx(each), "the sum step adds every rank's figure"
    assert not (run / "scratch").exists(), "the data files are removed at the end"


@pytest.fixture
def ssh_server() -> Iterator[Any]:
    """The throwaway sshd of tests/sshd.py (node1 → 127.0.0.1, node2 → 127.0.0.2)."""
    from tests.sshd import sshd

    with sshd() as server:
        yield server


def test_remote_hosts_are_reached_through_ssh_with_the_specs_config(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path, hello: Path, ssh_server: Any
) -> None:
    """node2 is a name only the spec's ssh config knows (127.0.0.2 on the test's sshd): mpirun
    starts its daemon there through the generated ssh_config, which must leave the name to that
    config; the step's variables reach the ranks with -x. Loopback only (oob/btl on lo)."""
    spec = write_spec(
        f"""
        name: mpi-remote
        hosts: [node2]
        ssh: {{config: {ssh_server.config}}}
        steps:
          hello:
            run: [sh, -c, 'echo "rank $OMPI_COMM_WORLD_RANK FOO=$FOO"; exec {hello}']
            env: {{FOO: from-the-step}}
            mpi:
              nprocs: 2
              extra: [--mca, oob_tcp_if_include, lo, --mca, btl_tcp_if_include, lo]
        """
    )
    status = run_json(shipyard, spec)
    log = step_log(tmp_path, status["id"], "hello")
    assert status["state"] == "succeeded", f"{status}\n{log}"
    for rank in range(2):
        assert f"rank {rank} FOO=from-the-step\n" in log, log
        assert f"hello from rank {rank} of 2 " in log, log
    run = tmp_path / "home" / "runs" / str(status["id"])
    assert (run / "mpi" / "hello.hosts").read_text() == "node2 slots=2\n"
    config = (run / "mpi" / "hello.ssh_config").read_text()
    assert "Host node2\n" in config and f'Include "{ssh_server.config}"' in config, config
    assert "from-the-step" not in config


@pytest.mark.parametrize("stop_signal", ["TERM", "KILL"])
def test_a_timeout_leaves_no_rank_on_a_remote_host(
    shipyard: Shipyard,
    write_spec: SpecWriter,
    tmp_path: Path,
    hello: Path,
    marker: str,
    ssh_server: Any,
    stop_signal: str,
) -> None:
    """Ranks on a host reached over ssh are the remote orted's children, outside this
    machine's containment; orted exits when mpirun dies (its ssh client, in the unit's scope,
    is killed with it) but leaves a rank that ignores SIGTERM, so each remote rank has a
    parent-death signal. The retry looks for them, before the run's final sweep (which would
    find them here by their forwarded SHIPYARD_* variables, the "remote" host being this one);
    they go asynchronously, so it gives them up to 10 s."""
    spec = write_spec(
        f"""
        name: mpi-remote-timeout
        hosts: [node2]
        ssh: {{config: {ssh_server.config}}}
        steps:
          hang:
            run: {hanging("plain", hello, marker, patience=100)}
            mpi:
              nprocs: 2
              extra: [--mca, oob_tcp_if_include, lo, --mca, btl_tcp_if_include, lo]
            timeout: 4s
            stop: {{signal: {stop_signal}, timeout: 1s}}
            retries: {{count: 1, backoff: 0}}
        """
    )
    status = run_json(shipyard, spec)
    log = step_log(tmp_path, status["id"], "hang")
    assert all(f"rank {rank} hangs" in log for rank in range(2)), f"not every rank ran:\n{log}"
    assert log.count(": none left") == 2 and "ranks left" not in log, (
        f"remote ranks of the timed-out attempt outlived it:\n{log}"
    )
    assert status["state"] == "succeeded", status
    assert processes_with(marker) == [], "remote ranks outlived the run"
