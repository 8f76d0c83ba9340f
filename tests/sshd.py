"""A throwaway OpenSSH server for the tests of the ssh runner (issue 16 §1).

``/usr/sbin/sshd -D -e -f CONFIG`` of the OS package (``apt-get install openssh-server``),
nothing of the system's own configuration: a generated host key and user key (``ssh-keygen``),
a config in a temporary folder (a free high port on 127.0.0.1 and 127.0.0.2, the folder's
authorized_keys, no PAM, no passwords, root by key only: CI runs as root), and an ssh_config
file with the hosts the tests use:

* ``node1`` → 127.0.0.1 and ``node2`` → 127.0.0.2 (two "hosts": two loopback addresses of one
  server, so a unit's host address differs with its host), both on the server's port;
* ``down`` → 127.0.0.1 on a port nothing listens on (an unreachable host).

Ready once a real ``ssh node1 true`` succeeds. The server is killed and the folder removed at
the end. Without sshd the test is skipped locally and fails under ``CI=true``
(:func:`tests.conftest.missing_component`).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import missing_component

SSHD = "/usr/sbin/sshd"
#: The loopback addresses of the two hosts
ADDRESSES = {"node1": "127.0.0.1", "node2": "127.0.0.2"}


@dataclass(frozen=True)
class SshServer:
    folder: Path
    port: int
    config: Path  # the ssh_config file of the hosts (node1, node2, down)
    key: Path
    log: Path
    closed_port: int  # where "down" points: nothing listens there

    def ssh(
        self, host: str, command: str, *, timeout: float = 20
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on ``host`` with a plain ssh of this config."""
        return subprocess.run(
            ["ssh", "-F", str(self.config), "-T", host, command],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )


def _free_port(addresses: tuple[str, ...]) -> int:
    """A port free on every one of ``addresses`` (bound and released)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = int(probe.getsockname()[1])
        ok = True
        for address in addresses[1:]:
            with socket.socket() as other:
                try:
                    other.bind((address, port))
                except OSError:
                    ok = False
        if ok:
            return port
    raise RuntimeError("no port free on every loopback address the test needs")


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "shipyard-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


@contextlib.contextmanager
def sshd() -> Iterator[SshServer]:
    """A running sshd and its client config (see the module's doc)."""
    if (
        not os.path.exists(SSHD)
        or shutil.which("ssh") is None
        or shutil.which("ssh-keygen") is None
    ):
        missing_component(
            "no OpenSSH server and client here (apt-get install openssh-server openssh-client)"
        )
    folder = Path(tempfile.mkdtemp(prefix="shipyard-sshd-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        folder.chmod(0o700)
        if os.getuid() == 0:
            # sshd's privilege separation folder (Debian's is made by its init scripts)
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        _keygen(folder / "host_key")
        _keygen(folder / "user_key")
        (folder / "authorized_keys").write_text((folder / "user_key.pub").read_text())
        port = _free_port(tuple(ADDRESSES.values()))
        closed = _free_port(("127.0.0.1",))
        listen = "\n".join(f"ListenAddress {address}:{port}" for address in ADDRESSES.values())
        (folder / "sshd_config").write_text(
            f"""{listen}
HostKey {folder}/host_key
PidFile {folder}/sshd.pid
AuthorizedKeysFile {folder}/authorized_keys
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
MaxSessions 64
MaxStartups 64:30:128
LogLevel ERROR
"""
        )
        user = getpass.getuser()
        common = f"""  User {user}
  IdentityFile {folder}/user_key
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
"""
        hosts = "".join(
            f"Host {name}\n  HostName {address}\n  Port {port}\n{common}"
            for name, address in ADDRESSES.items()
        )
        hosts += f"Host down\n  HostName 127.0.0.1\n  Port {closed}\n{common}"
        config = folder / "ssh_config"
        config.write_text(hosts)
        log = folder / "sshd.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(folder / "sshd_config")],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        server = SshServer(folder, port, config, folder / "user_key", log, closed)
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"sshd exited with {process.returncode}: {log.read_text()}")
            done = server.ssh("node1", "true", timeout=10)
            if done.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not accept a login: {done.stderr} {log.read_text()}")
            time.sleep(0.1)
        yield server
    finally:
        if process is not None:
            _close_masters(folder / "ssh_config")
            # The listener and every connection's own sshd (they are in its session)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            _kill_connections(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _close_masters(config: Path) -> None:
    """The ssh runner's shared connections to this server end cleanly (``ssh -O exit``), their
    sockets removed with them rather than left stale in the runner's folder."""
    from shipyard.engine.runners.ssh import _control_dir

    for host in ADDRESSES:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                ["ssh", "-F", str(config), "-o", f"ControlPath={_control_dir()}/%C", "-O", "exit",
                 host],
                capture_output=True,
                timeout=10,
                check=False,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip


def _kill_connections(folder: Path) -> None:
    """The per-connection sshd processes of this server (they run with its config on their
    command line) and the ssh masters of its config, so nothing of the test outlives it."""
    needle = str(folder).encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                cmdline = handle.read()
        except OSError:
            continue
        if needle in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
