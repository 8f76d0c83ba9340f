"""`shipyard run` of specs with ``hosts:``, ``ssh:`` and ``runner: ssh`` against a real sshd
(tests/sshd.py: node1 on 127.0.0.1, node2 on 127.0.0.2, ``down`` on a closed port).

The "hosts" are this machine, so a remote process can be seen in /proc; the remote commands
that must be killed by the ssh runner's own means drop ``SHIPYARD_EXECUTION_ID`` from their
environment (``env -u``), so that the engine's final sweep of marked processes, which would
find them here but not on a real remote host, cannot do the work for it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.conftest import Shipyard, shipyard_executable
from tests.conftest import SpecWriter
from tests.sshd import SshServer, sshd


@pytest.fixture(scope="module")
def server() -> Iterator[SshServer]:
    with sshd() as running:
        yield running


def marker() -> str:
    """A sleep duration no other process has."""
    return f"{300 + uuid.uuid4().int % 10000}.{uuid.uuid4().int % 1000:03d}"


def processes(*words: str) -> list[tuple[int, list[str]]]:
    """Live processes whose argv contains every one of ``words`` (as whole arguments)."""
    found = []
    wanted = [w.encode() for w in words]
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")[:-1]
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                state = stat.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if argv and state not in (b"Z", b"X") and all(w in argv for w in wanted):
            found.append((int(entry.name), [a.decode(errors="replace") for a in argv]))
    return found


def sleeping(mark: str) -> list[int]:
    return [pid for pid, argv in processes(mark) if Path(argv[0]).name == "sleep"]


def kill_all(mark: str) -> None:
    for pid in sleeping(mark):
        os.kill(pid, signal.SIGKILL)


def ssh_clients(home: Path) -> list[int]:
    """The ssh runner's clients of units of the runs in ``home`` (a unit's own variables are
    in its client's environment)."""
    needle = f"SHIPYARD_HOME={home}".encode()
    found = []
    for pid, argv in processes("-E"):
        if argv and Path(argv[0]).name == "ssh":
            try:
                with open(f"/proc/{pid}/environ", "rb") as handle:
                    if needle in handle.read().split(b"\0"):
                        found.append(pid)
            except OSError:
                continue
    return found


def running_state(shipyard: Shipyard, execution: str) -> bool:
    state = json.loads(shipyard("status", execution, "--json").stdout)["state"]
    return state in ("pending", "running", "stopping")


def wait_for(condition: Any, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def header(server: SshServer, hosts: str = "[node1, node2]") -> str:
    return f"hosts: {hosts}\nssh: {{config: {server.config}, connect_timeout: 5s}}\n"


def test_a_pipeline_across_two_hosts(
    server: SshServer, shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(
        header(server)
        + """
name: across
parameters:
  greeting: {default: hi}
steps:
  first:
    run: [sh, -c, 'echo "{{ greeting }} on $SSH_CONNECTION in $(pwd) with $FOO"']
    env: {FOO: "a b'c"}
    runner: ssh
    host: node1
  second:
    run: [sh, -c, 'echo "second on $SSH_CONNECTION"']
    runner: ssh
    host: node2
    needs: [first]
"""
    )
    done = shipyard("run", str(spec), "-p", "greeting=hello there", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    logs = shipyard("logs", result["id"], "--all")
    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    first = next(line for line in lines if line.startswith("first@node1"))
    second = next(line for line in lines if line.startswith("second@node2"))
    # SSH_CONNECTION: client address, port, server address, port — the server's is the host's
    server_address = re.compile(r" on \S+ \d+ (\S+) \d+")
    assert "hello there on " in first, f"the parameter did not reach the remote command: {first}"
    assert server_address.search(first).group(1) == "127.0.0.1", first  # type: ignore[union-attr]
    assert f"in {tmp_path} with a b'c" in first, "workdir and variable reached it"
    assert server_address.search(second).group(1) == "127.0.0.2", second  # type: ignore[union-attr]


def test_a_timeout_kills_the_remote_group_and_an_unreachable_host_is_named(
    server: SshServer, shipyard: Shipyard, write_spec: SpecWriter
) -> None:
    mark = marker()
    spec = write_spec(
        header(server, "[node1, down]")
        + f"""
name: faults
execution: {{failure_strategy: continue}}
steps:
  slow:
    run: [env, -u, SHIPYARD_EXECUTION_ID, sh, -c, 'sleep {mark} & sleep {mark}']
    runner: ssh
    host: node1
    timeout: 1s
  unreachable:
    run: ['true']
    runner: ssh
    host: down
    retries: {{count: 1, backoff: 10ms}}
"""
    )
    try:
        done = shipyard("run", str(spec), "--json")
        left = sleeping(mark)
    finally:
        kill_all(mark)
    assert done.returncode != 0
    units = {unit["name"]: unit for unit in json.loads(done.stdout)["units"]}
    assert units["slow"]["reason"] == "timed out after 1.0s", units["slow"]
    assert left == [], f"the timed-out step's remote processes outlived it: {left}"
    unreachable = units["unreachable"]
    assert unreachable["attempts"] == 2, "the retry policy applies to a connection failure"
    assert unreachable["reason"].startswith("ssh to host 'down' (127.0.0.1) failed: "), unreachable
    assert f"port {server.closed_port}: Connection refused" in unreachable["reason"]


def test_a_killed_ssh_client_fails_the_attempt_and_the_step_is_retried(
    server: SshServer, write_spec: SpecWriter, tmp_path: Path
) -> None:
    mark = marker()
    # The second attempt says whether the first's remote sleep is still there.
    (tmp_path / "step.sh").write_text(
        f"""if [ "$SHIPYARD_ATTEMPT" = 1 ]; then sleep {mark}; fi
for f in /proc/[0-9]*/cmdline; do
  [ "$(tr '\\0' ' ' < "$f" 2>/dev/null)" = "sleep {mark} " ] && echo x
done > left.txt
echo "left=$(wc -l < left.txt)"
"""
    )
    spec = write_spec(
        header(server)
        + """
name: dropped
steps:
  step:
    run: [env, -u, SHIPYARD_EXECUTION_ID, sh, step.sh]
    runner: ssh
    host: node2
    retries: {count: 1, backoff: 1s}
"""
    )
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    command = [shipyard_executable(), "run", str(spec), "--json"]
    running = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert wait_for(lambda: sleeping(mark)), "the first attempt never started remotely"
        clients = ssh_clients(tmp_path / "home")
        assert len(clients) == 1, clients
        os.kill(clients[0], signal.SIGKILL)
        out, err = running.communicate(timeout=60)
    finally:
        if running.poll() is None:
            running.kill()
            running.communicate()
        kill_all(mark)
    assert running.returncode == 0, out + err
    result = json.loads(out)
    assert result["units"][0]["attempts"] == 2
    log = next((tmp_path / "home").glob("runs/*/logs/step.log")).read_text()
    assert "left=0" in log, f"the killed client's remote sleep was still running: {log}"


def test_stop_kills_the_remote_group(
    server: SshServer, shipyard: Shipyard, write_spec: SpecWriter
) -> None:
    mark = marker()
    spec = write_spec(
        header(server)
        + f"""
name: stopped
steps:
  long:
    run: [env, -u, SHIPYARD_EXECUTION_ID, sh, -c, 'trap "" TERM; sleep {mark} & sleep {mark}']
    runner: ssh
    host: node1
    stop: {{timeout: 1s}}
"""
    )
    try:
        started = shipyard("run", str(spec), "-d", "--json")
        assert started.returncode == 0, started.stderr
        execution = json.loads(started.stdout)["id"]
        assert wait_for(lambda: len(sleeping(mark)) == 2), "never started remotely"
        stopped = shipyard("stop", execution, "--grace", "1s", "--yes")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        # Gone by the stop's own means (the local client alone would take the watchdog's
        # grace): the grace, a control command's round trip, and some slack.
        gone = wait_for(lambda: not sleeping(mark), 10)
        left = sleeping(mark)
    finally:
        kill_all(mark)
    assert wait_for(lambda: not running_state(shipyard, execution)), "the run never ended"
    status = json.loads(shipyard("status", execution, "--json").stdout)
    assert status["units"][0]["state"] == "cancelled", status["units"][0]
    assert gone, f"the stopped step's remote processes outlived it: {left}"


def test_services_on_hosts_with_http_and_tcp_probes(
    server: SshServer, shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    (tmp_path / "client.py").write_text(
        "import os, urllib.request\n"
        "url = os.environ['SHIPYARD_URL_WEB']\n"
        "print(url, urllib.request.urlopen(url).status)\n"
    )
    spec = write_spec(
        header(server)
        + """
name: fleet
services:
  web:
    run: 'exec python3 -m http.server "$PORT" --bind 127.0.0.2'
    shell: true
    runner: ssh
    host: node2
    port: auto
    health: {http: /, interval: 100ms}
  raw:
    run: 'exec python3 -m http.server "$PORT" --bind 127.0.0.1'
    shell: true
    runner: ssh
    host: node1
    port: auto
    health: {tcp: true, interval: 100ms}
steps:
  client:
    run: [python3, client.py]
    needs: [web, raw]
"""
    )
    done = shipyard("run", str(spec), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    units = {unit["name"]: unit for unit in result["units"]}
    logs = shipyard("logs", result["id"], "client").stdout
    url, code = logs.split()[-2:]
    assert url.startswith("http://127.0.0.2:"), f"web's URL is not on its host's address: {url}"
    assert code == "200"
    assert units["web"]["state"] == "stopped" and units["raw"]["state"] == "stopped", units
    port = url.rsplit(":", 1)[1].strip("/")
    assert not processes("http.server", port), "a service outlived its fleet on its host"


def test_a_killed_engine_leaves_nothing_on_the_host(
    server: SshServer, shipyard: Shipyard, write_spec: SpecWriter
) -> None:
    """The supervisor SIGKILLed: its watchdog ends the units it journalled (the ssh client's
    pid), and the client's end makes the remote watchdog kill the remote group."""
    mark = marker()
    spec = write_spec(
        header(server)
        + f"""
name: orphaned
steps:
  long:
    run: [env, -u, SHIPYARD_EXECUTION_ID, sh, -c, 'sleep {mark} & sleep {mark}']
    runner: ssh
    host: node2
"""
    )
    try:
        started = shipyard("run", str(spec), "-d", "--json")
        assert started.returncode == 0, started.stderr
        execution = json.loads(started.stdout)["id"]
        assert wait_for(lambda: len(sleeping(mark)) == 2), "never started remotely"
        status = json.loads(shipyard("status", execution, "--json").stdout)
        os.kill(status["supervisor_pid"], signal.SIGKILL)
        gone = wait_for(lambda: not sleeping(mark), 20)
        left = sleeping(mark)
    finally:
        kill_all(mark)
    assert gone, f"the remote processes outlived the killed engine: {left}"


def test_a_port_taken_on_the_host_is_refused_before_anything_starts(
    server: SshServer, shipyard: Shipyard, write_spec: SpecWriter
) -> None:
    """The port of a service on node2 is checked there (its listening ports, any address):
    one held on the host's other address, which a bind at node2's address here would not
    see, is refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        spec = write_spec(
            header(server)
            + f"""
name: taken
services:
  web:
    run: 'exec python3 -m http.server "$PORT" --bind 127.0.0.2'
    shell: true
    runner: ssh
    host: node2
    port: {port}
"""
        )
        done = shipyard("up", str(spec), timeout=30)  # refused at once; a start would hang
    assert done.returncode != 0, done.stdout
    assert f"port {port} of service 'web' is already in use" in done.stdout + done.stderr
