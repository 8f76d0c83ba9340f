"""The two transport contenders of bench/ssh.py: one host, the steps of a chain one after the
other, each over one connection opened at the start — through OpenSSH or through asyncssh.

Each is what a runner built on that transport would do, without Shipyard's engine around it:

* ``openssh``: the shared connection as Shipyard's runner opens it (``ssh -o ControlMaster=yes
  -o ControlPersist=60 -N -f``, which returns once authenticated), then one ``ssh -o
  ControlMaster=no -o ControlPath=…`` client per step over it, its stdin a pipe kept open for
  the step's life (the remote script's watchdog reads it) and its output appended to a log;
* ``asyncssh``: ``import asyncssh``, one ``asyncssh.connect`` (reading the same ssh_config),
  then ``conn.run`` per step on that connection — stdin left open too (``run`` without
  ``input`` sends no EOF), the output appended to the same kind of log.

The commands come from a JSON file (a list of strings, one a step, built by bench/ssh.py), so
that this process imports nothing of Shipyard: what it costs is the transport's. A step that
exits non-zero stops the chain (exit 1, naming the step). The figures — the import (asyncssh),
the connection (wall and this process's CPU for it), each step's wall — go to ``--result``
as JSON; the bench times the whole process from outside.

    python bench/ssh_clients.py {openssh,asyncssh} --config SSH_CONFIG --host node1
        --commands commands.json --log steps.log --result figures.json [--control DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import time
from pathlib import Path
from typing import Any


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_openssh(args: argparse.Namespace, commands: list[str]) -> dict[str, Any]:
    common = [
        "ssh",
        "-F",
        str(args.config),
        "-T",
        "-o",
        f"ControlPath={args.control}/%C",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=ERROR",
    ]
    master = [*common, "-o", "ControlMaster=yes", "-o", "ControlPersist=60", "-N", "-f"]
    start, cpu = time.perf_counter(), _children_cpu()
    # -f: the client forks into the background once authenticated; the part that did the
    # handshake exits here, so its CPU is in RUSAGE_CHILDREN (the master's later CPU is not).
    opened = subprocess.run(
        [*master, args.host], stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    if opened.returncode != 0:
        raise SystemExit(f"openssh: the master did not connect: {opened.stderr.strip()}")
    connect, connect_cpu = time.perf_counter() - start, _children_cpu() - cpu
    steps: list[float] = []
    with args.log.open("ab") as log:
        for number, command in enumerate(commands):
            began = time.perf_counter()
            client = subprocess.Popen(
                [*common, "-o", "ControlMaster=no", "--", args.host, command],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
            )
            code = client.wait()
            assert client.stdin is not None
            client.stdin.close()  # kept open until the step ended, as the runner does
            steps.append(time.perf_counter() - began)
            if code != 0:
                raise SystemExit(f"openssh: step {number} exited with {code} (see {args.log})")
    return {"import": 0.0, "connect": connect, "connect_cpu": connect_cpu, "steps": steps}


async def run_asyncssh(args: argparse.Namespace, commands: list[str]) -> dict[str, Any]:
    start, cpu = time.perf_counter(), time.process_time()
    import asyncssh  # timed: a runner on asyncssh pays this once per engine process

    imported = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    # The same ssh_config as the OpenSSH clients (asyncssh reads its HostName, Port, User,
    # IdentityFile); its UserKnownHostsFile /dev/null would reject the key, hence None, which
    # is what the config's StrictHostKeyChecking no means to OpenSSH.
    async with asyncssh.connect(args.host, config=[str(args.config)], known_hosts=None) as conn:
        connect, connect_cpu = time.perf_counter() - start, time.process_time() - cpu
        steps: list[float] = []
        with args.log.open("a") as log:
            for number, command in enumerate(commands):
                began = time.perf_counter()
                result = await conn.run(command)
                for output in (result.stdout, result.stderr):
                    if isinstance(output, str):  # text: the connection's default encoding
                        log.write(output)
                steps.append(time.perf_counter() - began)
                if result.exit_status != 0:
                    raise SystemExit(
                        f"asyncssh: step {number} exited with {result.exit_status} (see {args.log})"
                    )
    return {"import": imported, "connect": connect, "connect_cpu": connect_cpu, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("client", choices=["openssh", "asyncssh"])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--commands", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--control", type=Path, help="the ControlPath's folder (openssh)")
    args = parser.parse_args()
    commands = json.loads(args.commands.read_text())
    if args.client == "openssh":
        if args.control is None:
            parser.error("openssh needs --control")
        figures = run_openssh(args, commands)
    else:
        figures = asyncio.run(run_asyncssh(args, commands))
    args.result.write_text(json.dumps(figures))


if __name__ == "__main__":
    main()
