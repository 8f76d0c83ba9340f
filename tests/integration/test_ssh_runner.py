"""The ssh runner against a real sshd (tests/sshd.py): what reaches the remote command, what
comes back, and that nothing of a unit survives on the host (issue 16 §1).

The runner is driven directly here (start, terminate, kill, sample), with the execution's real
containment; tests/acceptance/test_ssh_cli.py runs specs through the installed CLI. A remote
process is found by a unique marker in its command line (the "host" is this machine)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.engine.containment import Containment
from shipyard.engine.runners.base import UnitLaunch
from shipyard.engine.runners.ssh import (
    SshHandle,
    SshRunner,
    parse_listening,
    parse_sample,
    remote_script,
)
from shipyard.plan.model import HostEntry, SshSettings
from tests.sshd import SshServer, sshd


@pytest.fixture(scope="module")
def server() -> Iterator[SshServer]:
    with sshd() as running:
        yield running


def marker_seconds() -> str:
    """A sleep duration no other process has: the marker of one test's remote processes."""
    return f"{300 + uuid.uuid4().int % 10000}.{uuid.uuid4().int % 1000:03d}"


def remote_pids(marker: str) -> list[int]:
    """Processes (but ssh clients, whose script names the marker too) running ``sleep`` with
    the marker."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                words = handle.read().split(b"\0")
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                state = stat.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if words[0].endswith(b"sleep") and marker.encode() in words and state not in (b"Z", b"X"):
            found.append(int(entry.name))
    return found


def wait_for(condition: object, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def sweep(marker: str) -> None:
    """Kill what a failed test left on the "host" (after its assertions were computed)."""
    for pid in remote_pids(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def await_for(condition: object, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return False


def make_runner(server: SshServer, host: str, containment: Containment) -> SshRunner:
    return SshRunner(HostEntry(host, host), SshSettings(config=str(server.config)), containment)


def launch(tmp_path: Path, argv: list[str], unit: str = "step", **env: str) -> UnitLaunch:
    log = tmp_path / f"{unit}.log"
    return UnitLaunch(
        unit, argv, {**os.environ, **env, "SHIPYARD_STEP": unit}, str(tmp_path), str(log)
    )


def test_the_command_runs_on_its_host_with_its_variables_and_workdir(
    server: SshServer, tmp_path: Path
) -> None:
    containment = Containment(f"ssh-{uuid.uuid4().hex[:8]}")
    runner = make_runner(server, "node2", containment)

    async def main() -> int | None:
        handle = runner.start(
            launch(
                tmp_path,
                [
                    "sh",
                    "-c",
                    'echo "$SSH_CONNECTION|$FOO|$SHIPYARD_STEP|$(pwd)|$1"; exit 3',
                    "sh",
                    "it's $HOME",
                ],
                FOO='a b\'c "d" $x',
            )
        )
        status = await handle.exited
        handle.close()
        return status.exit_code

    try:
        code = asyncio.run(main())
    finally:
        runner.close()
        containment.close()
    assert runner.host == "127.0.0.2", "the host's address is ssh's HostName for it"
    assert code == 3, "the remote command's exit status is the unit's"
    line = (tmp_path / "step.log").read_text().strip()
    connection, foo, step, workdir, argument = line.split("|")
    assert connection.split()[2] == "127.0.0.2", f"not run through node2's sshd: {line}"
    assert foo == 'a b\'c "d" $x', "a variable reaches the remote command as it was"
    assert step == "step"
    assert workdir == str(tmp_path), "the workdir is used as it is on the host"
    assert argument == "it's $HOME", "an argument reaches the command as one word, unexpanded"


def test_a_missing_workdir_is_said_in_the_log(server: SshServer, tmp_path: Path) -> None:
    containment = Containment(f"ssh-{uuid.uuid4().hex[:8]}")
    runner = make_runner(server, "node1", containment)
    gone = tmp_path / "nowhere"

    async def main() -> int | None:
        spec = launch(tmp_path, ["true"])
        handle = runner.start(UnitLaunch(spec.unit, spec.argv, spec.env, str(gone), spec.log_path))
        status = await handle.exited
        handle.close()
        return status.exit_code

    try:
        code = asyncio.run(main())
    finally:
        runner.close()
        containment.close()
    assert code == 127
    assert f"workdir {gone} does not exist on host node1" in (tmp_path / "step.log").read_text()


def test_terminate_ends_the_remote_group_even_what_ignores_the_signal(
    server: SshServer, tmp_path: Path
) -> None:
    marker = marker_seconds()
    containment = Containment(f"ssh-{uuid.uuid4().hex[:8]}")
    runner = make_runner(server, "node1", containment)
    # A child that ignores SIGTERM, and a grandchild in the background: both in the group.
    script = f"trap '' TERM; sleep {marker} & sleep {marker}; wait"

    async def main() -> tuple[bool, bool, list[int]]:
        handle = runner.start(launch(tmp_path, ["sh", "-c", script]))
        assert await await_for(lambda: len(remote_pids(marker)) == 2), "never started remotely"
        killed = await handle.terminate(0.5)
        await handle.exited
        handle.close()
        return killed, handle.leftovers(), remote_pids(marker)

    try:
        killed, leftovers, left = asyncio.run(main())
    finally:
        runner.close()
        containment.close()
        sweep(marker)
    assert killed, "what ignored SIGTERM needed SIGKILL"
    assert not leftovers
    assert left == [], f"remote processes outlived the stop: {left}"


def test_a_killed_ssh_client_takes_its_remote_group_with_it(
    server: SshServer, tmp_path: Path
) -> None:
    marker = marker_seconds()
    containment = Containment(f"ssh-{uuid.uuid4().hex[:8]}")
    runner = make_runner(server, "node2", containment)

    async def main() -> tuple[str, bool]:
        handle = runner.start(launch(tmp_path, ["sh", "-c", f"sleep {marker} & sleep {marker}"]))
        assert await await_for(lambda: len(remote_pids(marker)) == 2), "never started remotely"
        os.kill(handle.pid, signal.SIGKILL)  # as a crash or an OOM kill would
        status = await handle.exited
        # The remote watchdog's work (SIGTERM, then SIGKILL after its grace), before the
        # containment's final sweep could do anything.
        gone = await await_for(lambda: not remote_pids(marker), 15)
        handle.close()
        return status.describe(), gone

    try:
        described, gone = asyncio.run(main())
    finally:
        runner.close()
        containment.close()
        sweep(marker)
    assert described == "killed by signal KILL"
    assert gone, f"the remote group outlived its ssh client: {remote_pids(marker)}"


def test_an_unreachable_host_is_named_in_the_reason(server: SshServer, tmp_path: Path) -> None:
    containment = Containment(f"ssh-{uuid.uuid4().hex[:8]}")
    runner = make_runner(server, "down", containment)

    async def main() -> str:
        handle = runner.start(launch(tmp_path, ["true"]))
        status = await handle.exited
        handle.close()
        return status.describe()

    try:
        reason = asyncio.run(main())
    finally:
        runner.close()
        containment.close()
    assert reason.startswith("ssh to host 'down' (127.0.0.1) failed: "), reason
    assert f"port {server.closed_port}: Connection refused" in reason, reason
    assert f"==> shipyard: {reason}" in (tmp_path / "step.log").read_text()


def test_the_sampler_reads_the_remote_group(server: SshServer, tmp_path: Path) -> None:
    containment = Containment(f"ssh-{uuid.uuid4().hex[:8]}")
    runner = make_runner(server, "node1", containment)
    sampler = runner.sampler()
    # 64 MiB held and a busy loop, in a child of the leader (the group's, not the leader's)
    busy = (
        "import time\nb = bytearray(64 << 20)\nb[::4096] = b'x' * len(b[::4096])\nwhile True: pass"
    )

    async def main() -> tuple[int, float]:
        handle = runner.start(launch(tmp_path, ["sh", "-c", 'python3 -c "$1"; true', "sh", busy]))
        rss, cpu = 0, 0.0
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                sampler.sample({"step": handle})
                now = sampler.current("step")
                if now is not None and now.rss_now_bytes and now.cpu_percent_now is not None:
                    rss, cpu = now.rss_now_bytes, now.cpu_percent_now
                    if rss >= 64 << 20 and cpu > 10:
                        break
                await asyncio.sleep(0.2)
        finally:
            await handle.terminate(1.0)
            await handle.exited
            handle.close()
        usage = sampler.finish("step", cpu_seconds=0.0)
        assert usage.cpu_seconds is not None and usage.cpu_seconds > 0, usage
        return rss, cpu

    try:
        rss, cpu = asyncio.run(main())
    finally:
        runner.close()
        containment.close()
    assert rss >= 64 << 20, f"the remote group's memory was not seen: {rss} bytes"
    assert cpu > 10, f"the remote busy loop's CPU was not seen: {cpu}%"


def test_parse_sample_sums_a_group_and_skips_others() -> None:
    text = (
        "u1 100\n---\n100\n4096\n---\n"
        "100 (sh) S 1 100 100 0 -1 0 0 0 0 0 10 5 20 30 20 0 1 0 0 0 50 0\n"
        "101 (a) b) R 100 100 100 0 -1 0 0 0 0 0 100 0 7 7 20 0 1 0 0 0 25 0\n"
        "102 (zombie) Z 100 100 100 0 -1 0 0 0 0 0 900 0 0 0 20 0 1 0 0 0 99 0\n"
        "200 (other) R 1 200 200 0 -1 0 0 0 0 0 900 0 0 0 20 0 1 0 0 0 99 0\n"
    )
    # the leader: 10+5 own + 20+30 waited for; the child: 100 (its waited-for not counted)
    assert parse_sample(text) == {"u1": (1.65, 75 * 4096)}


def test_the_remote_script_quotes_every_word() -> None:
    script = remote_script(["echo", "$(rm -rf /)", "a;b"], {"X": "`id`"}, "/w d", "id1", "h")
    assert "'$(rm -rf /)' 'a;b'" in script
    assert "export 'X=`id`'" in script
    assert "cd '/w d'" in script
    assert isinstance(SshHandle, type)


def test_a_command_exiting_255_is_not_taken_for_ssh_failing(
    server: SshServer, tmp_path: Path
) -> None:
    containment = Containment(f"ssh-{uuid.uuid4().hex[:8]}")
    runner = make_runner(server, "node1", containment)

    async def main() -> str:
        handle = runner.start(launch(tmp_path, ["sh", "-c", "exit 255"]))
        status = await handle.exited
        handle.close()
        return status.describe()

    try:
        reason = asyncio.run(main())
    finally:
        runner.close()
        containment.close()
    assert reason == "exited with code 255", "the command's own 255 was blamed on ssh"


def master_pid(server: SshServer, runner: SshRunner) -> int | None:
    """The pid of the runner's shared connection, as ``ssh -O check`` says (None: none)."""
    done = subprocess.run(
        ["ssh", *runner._options, "-O", "check", "--", runner.entry.address],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"pid=(\d+)", done.stderr)
    return int(found.group(1)) if found else None


def test_a_dead_shared_connection_is_replaced(server: SshServer, tmp_path: Path) -> None:
    containment = Containment(f"ssh-{uuid.uuid4().hex[:8]}")
    runner = make_runner(server, "node1", containment)

    async def one(unit: str) -> int | None:
        handle = runner.start(launch(tmp_path, ["true"], unit=unit))
        status = await handle.exited
        handle.close()
        return status.exit_code

    try:
        assert asyncio.run(one("first")) == 0
        assert wait_for(lambda: master_pid(server, runner) is not None), "no master came up"
        first = master_pid(server, runner)
        assert first is not None
        os.kill(first, signal.SIGKILL)  # its socket stays behind
        assert wait_for(lambda: master_pid(server, runner) is None)
        assert asyncio.run(one("second")) == 0, "a unit failed with the master gone"
        assert wait_for(lambda: master_pid(server, runner) not in (None, first)), (
            "no new master replaced the dead one (its stale socket was left in the way)"
        )
    finally:
        runner.close()
        containment.close()


def test_listening_ports_are_read_on_the_host(server: SshServer) -> None:
    containment = Containment(f"ssh-{uuid.uuid4().hex[:8]}")
    runner = make_runner(server, "node2", containment)
    with socket.socket() as held, socket.socket() as closed:
        held.bind(("127.0.0.2", 0))
        held.listen()
        closed.bind(("127.0.0.2", 0))  # bound, not listening
        try:
            ports = asyncio.run(runner.listening_ports())
        finally:
            runner.close()
            containment.close()
        assert ports is not None, "the host could not be asked"
        assert held.getsockname()[1] in ports
        assert closed.getsockname()[1] not in ports
        assert server.port in ports, "sshd's own port is listening there"


def test_parse_listening_keeps_listen_state_only() -> None:
    text = (
        "  sl  local_address rem_address   st tx_queue\n"
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000\n"
        "   1: 0100007F:1F91 0100007F:D431 01 00000000:00000000\n"
        "   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 0\n"
    )
    assert parse_listening(text) == {0x1F90, 0x50}
