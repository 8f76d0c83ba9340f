"""bench/ssh.py and its transport clients (bench/ssh_clients.py) against a real throwaway sshd:
each client runs every step's script in order, with the step's variables and workdir, over the
one connection it opened, and stops at a failing step; a quick round of the bench runs all five
contenders. No time is asserted. asyncssh comes with the bench extra: without it these tests are
skipped locally and fail under CI=true."""

from __future__ import annotations

import importlib.util
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.engine.runners.ssh import remote_script
from tests.conftest import missing_component
from tests.sshd import SshServer, sshd

BENCH = Path(__file__).resolve().parents[2] / "bench"
CLIENTS = ("openssh", "asyncssh")


def need_asyncssh() -> None:
    if importlib.util.find_spec("asyncssh") is None:
        missing_component("asyncssh is not installed (pip install -e '.[bench]')")


@pytest.fixture
def server() -> Iterator[SshServer]:
    with sshd() as running:
        yield running


# The step's name, its working folder and the pid of the sshd process its session hangs from:
# the one per connection that serves all of that connection's sessions (its comm is "sshd").
WHERE = (
    'p=$$; while [ "$p" -gt 1 ] && [ "$(cat /proc/$p/comm)" != sshd ]; do'
    " p=$(cut -d' ' -f4 /proc/$p/stat); done;"
    ' echo "$SHIPYARD_STEP $(pwd) $p" >> order.txt'
)


def step(folder: Path, name: str, code: str) -> str:
    """Shipyard's remote script for a step ``name`` that runs the shell ``code`` in its
    workdir."""
    script = remote_script(
        ["sh", "-c", code],
        {"SHIPYARD_STEP": name, "TMPDIR": str(folder)},
        str(folder),
        f"id-{name}",
        "node1",
    )
    return f"sh -c {shlex.quote(script)}"


def run_client(
    server: SshServer, client: str, folder: Path, commands: list[str]
) -> subprocess.CompletedProcess[str]:
    """bench/ssh_clients.py's ``client`` running ``commands``; its master (openssh) closed
    after, its socket in a short folder of /tmp (a unix socket's path is short)."""
    (folder / "commands.json").write_text(json.dumps(commands))
    control = Path(tempfile.mkdtemp(prefix="cm-", dir="/tmp"))
    try:
        return subprocess.run(
            [sys.executable, str(BENCH / "ssh_clients.py"), client,
             "--config", str(server.config), "--host", "node1",
             "--commands", str(folder / "commands.json"), "--log", str(folder / "steps.log"),
             "--result", str(folder / "result.json"), "--control", str(control)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        subprocess.run(
            ["ssh", "-F", str(server.config), "-o", f"ControlPath={control}/%C", "-O", "exit",
             "node1"],
            capture_output=True, timeout=20, check=False,
        )  # fmt: skip
        shutil.rmtree(control, ignore_errors=True)


@pytest.mark.parametrize("client", CLIENTS)
def test_a_client_runs_each_step_script_in_order_over_one_connection(
    server: SshServer, client: str, tmp_path: Path
) -> None:
    if client == "asyncssh":
        need_asyncssh()
    folder = tmp_path / client
    folder.mkdir()
    commands = [step(folder, f"s{i}", WHERE) for i in range(4)]
    done = run_client(server, client, folder, commands)
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in (folder / "order.txt").read_text().splitlines()]
    assert [line[:2] for line in lines] == [[f"s{i}", str(folder)] for i in range(4)], lines
    figures = json.loads((folder / "result.json").read_text())
    assert len(figures["steps"]) == 4
    assert figures["connect"] > 0 and figures["connect_cpu"] > 0
    assert (figures["import"] > 0) == (client == "asyncssh")
    # One connection for all the steps: the same sshd process served every step's session.
    connections = {line[2] for line in lines}
    assert len(connections) == 1, f"the steps ran over {len(connections)} connections: {lines}"


@pytest.mark.parametrize("client", CLIENTS)
def test_a_failing_step_stops_the_client_and_names_the_step(
    server: SshServer, client: str, tmp_path: Path
) -> None:
    if client == "asyncssh":
        need_asyncssh()
    folder = tmp_path / client
    folder.mkdir()
    commands = [
        step(folder, "s0", "echo first >> order.txt"),
        "sh -c 'exit 3'",
        step(folder, "s2", "echo third >> order.txt"),
    ]
    done = run_client(server, client, folder, commands)
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert f"{client}: step 1 exited with 3" in done.stderr
    assert (folder / "order.txt").read_text().split() == ["first"]


@pytest.mark.slow
def test_a_quick_round_runs_every_contender(tmp_path: Path) -> None:
    need_asyncssh()
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / "ssh.py"), "--rounds", "1", "--steps", "3",
         "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    figures = json.loads(out.read_text())
    for key in ("shipyard", "plain", "cm", "openssh", "asyncssh"):
        assert figures[key]["wall_median"] > 0 and figures[key]["cpu_median"] > 0, key
    for key in ("openssh", "asyncssh"):
        assert figures[key]["connect_median"] > 0 and figures[key]["step_median"] > 0, key
    assert figures["asyncssh"]["import_median"] > 0
    assert "first connection and steps" in done.stdout
