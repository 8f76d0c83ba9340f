"""The ssh runner (issue 16): units on another host, through this machine's OpenSSH client.

Each unit is one local ``ssh`` client process, started like a local unit (in its unit run's
containment scope, its output appended to the unit's log, journalled by its pid), running one
POSIX ``sh`` script on the host. The script (every word in it ``shlex.quote``'d):

* goes to the unit's workdir, used as it is there (a shared filesystem, as on clusters; a
  missing one is said in the log, exit 127), and exports the unit's own variables (the
  ``SHIPYARD_*`` ones and those that differ from, or are not in, this process's environment);
* starts the command as the leader of a process group of its own (``setsid``, in the
  foreground, so its signals are at their defaults) and notes that group's id in a private
  file on the host, named by a unique id (:attr:`SshHandle.remote_id`);
* watches its stdin, which the local client keeps open (a pipe nothing is written to) for the
  unit's whole life: at EOF (the client died, or the connection dropped) it sends the group
  SIGTERM, then SIGKILL after :data:`WATCHDOG_GRACE` seconds;
* once the command exited, ends what it left in its group the same way, and exits with the
  command's status, which becomes the unit's.

Stops, timeouts and signals reach the remote group by a second, short ``ssh`` over the shared
connection (``kill -SIG -PGID``, the group read from the file). Connections are shared: the
runner starts one ControlMaster per host (``ControlPersist``, a private socket folder under
/tmp), outside every unit's scope, so that it outlives the unit that needed it first and is
never taken for that unit's leftover. A unit started before the master is up connects on its
own (``ControlMaster=no``: correct, only slower).

ssh's own messages go to a private file (``ssh -E``), not to the log: an exit of 255 with a
message there is a connection failure, which becomes the unit's reason, naming the host
(:class:`SshExitStatus`); the retry policy then applies as to any failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from shipyard.engine.containment import UnitScope, kill_now, release
from shipyard.engine.liveness import pid_alive
from shipyard.engine.process import (
    SIGNALS,
    ExitStatus,
    Launched,
    SpawnError,
    _watch_exit,
    group_alive,
)
from shipyard.engine.runners.base import Handle, UnitLaunch
from shipyard.errors import ShipyardError
from shipyard.models import ResourceUsage
from shipyard.plan.model import HostEntry, SshSettings
from shipyard.plan.placement import SSH_PREFIX

if TYPE_CHECKING:
    from shipyard.engine.containment import Containment

__all__ = [
    "HostUnreachable",
    "SshExitStatus",
    "SshHandle",
    "SshRunner",
    "SshSampler",
    "parse_listening",
    "remote_script",
]

#: Seconds between SIGTERM and SIGKILL when the remote watchdog (or the end of a command that
#: left processes in its group) ends the remote group.
WATCHDOG_GRACE = 2
#: The remote folder (per user) of the group files: ``$TMPDIR`` or /tmp on the host.
REMOTE_DIR = '"${TMPDIR:-/tmp}/shipyard-remote-${USER:-$(id -u)}"'
#: Seconds a control command (a signal to the remote group, a sample) may take at most.
CONTROL_TIMEOUT = 15.0
#: The lines of ssh's own log (``-E``) that are not errors.
_NOT_ERRORS = (
    "Warning: Permanently added",
    # The shared connection refused one more session (sshd's MaxSessions): ssh went on with a
    # connection of its own
    "mux_client_request_session: session request failed",
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
UNREACHABLE_HINT = (
    "check the host's name, address and ssh port in hosts:, and that `ssh HOST true` works "
    "from this shell without a password (BatchMode)"
)


class HostUnreachable(ShipyardError):
    """ssh could not reach a host at all (its client exited 255 saying why)."""


@dataclass(frozen=True)
class SshExitStatus(ExitStatus):
    """The local client's exit, with the reason when ssh itself failed (not the command):
    "ssh to host 'down' (127.0.0.1) failed: ssh: connect to host … Connection refused"."""

    reason: str = ""

    def describe(self) -> str:
        return self.reason or super().describe()


def remote_script(
    argv: list[str],
    env: Mapping[str, str],
    workdir: str,
    remote_id: str,
    host: str,
) -> str:
    """The POSIX sh script that runs ``argv`` on the host (see the module's doc). Every value
    in it is a ``shlex.quote``'d word; ``env`` holds only the variables to export."""
    q = shlex.quote
    exports = []
    for key, value in env.items():
        if not _NAME.match(key):
            raise SpawnError(
                f"environment variable {key!r} cannot be passed over ssh (not a shell name)"
            )
        exports.append(f"export {q(f'{key}={value}')}")
    missing = f"==> shipyard: workdir {workdir} does not exist on host {host}"
    unusable = f"on host {host} (not a folder of this user)"
    grace = WATCHDOG_GRACE
    lines = [
        f"d={REMOTE_DIR}",
        '{ [ -d "$d" ] || mkdir -m 700 "$d" 2>/dev/null || [ -d "$d" ]; } && [ -O "$d" ] || {'
        f" printf '%s %s %s\\n' {q('==> shipyard: cannot use')} \"$d\" {q(unusable)} >&2;"
        " exit 125; }",
        f'f="$d"/{q(remote_id)}',
        f"cd {q(workdir)} 2>/dev/null || {{ printf '%s\\n' {q(missing)} >&2; exit 127; }}",
        *exports,
        # The client's stdin, kept on fd 3 for the watchdog (a background list's stdin would
        # be /dev/null).
        "exec 3<&0",
        # The watchdog: EOF on stdin means the client is gone. It waits (bounded) for the
        # group file, in case the client died the instant the command started.
        "{ while read -r _; do :; done",
        '  n=0; while [ ! -s "$f" ] && [ "$n" -lt 5 ]; do sleep 1; n=$((n+1)); done',
        '  pg=; read -r pg 2>/dev/null <"$f"',
        '  if [ -n "$pg" ]; then kill -TERM -"$pg"; sleep '
        + str(grace)
        + '; kill -KILL -"$pg"; rm -f "$f"; fi',
        "} <&3 >/dev/null 2>&1 &",
        "w=$!",
        # The command: in the foreground (its signals at their defaults), the leader of a
        # group of its own; its pid is its group's id once setsid ran in the same process.
        """sh -c 'echo $$ >"$1"; shift; exec setsid "$@"' sh "$f" """
        + " ".join(q(word) for word in argv)
        + " </dev/null 3<&-",
        "s=$?",
        'kill "$w" 2>/dev/null',
        # What the command left in its group goes too (as the local runner's leftovers do).
        'pg=; read -r pg 2>/dev/null <"$f"',
        'if [ -n "$pg" ] && kill -0 -"$pg" 2>/dev/null; then kill -TERM -"$pg";'
        f' sleep {grace}; kill -KILL -"$pg" 2>/dev/null; fi',
        'rm -f "$f"',
        'exit "$s"',
    ]
    return "\n".join(lines) + "\n"


def _remote_kill(remote_id: str, sig: str) -> str:
    """The remote command that sends ``sig`` to the group noted under ``remote_id`` (exit 3
    when there is no such group any more)."""
    if sig not in SIGNALS:
        raise ValueError(f"unknown signal {sig!r}")  # validation allows only SIGNALS' names
    return (
        f'd={REMOTE_DIR}; pg=; read -r pg 2>/dev/null <"$d"/{shlex.quote(remote_id)};'
        f' [ -n "$pg" ] && kill -{sig} -"$pg" 2>/dev/null || exit 3'
    )


def _control_dir() -> Path:
    """This user's private folder of control sockets and ssh logs: /tmp/shipyard-ssh-<uid>
    (short: a socket path is limited to 108 bytes), made 0700 and checked to be ours; a fresh
    one if that name is taken by anything else."""
    path = Path(tempfile.gettempdir()) / f"shipyard-ssh-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
        if stat.S_IMODE(info.st_mode) != 0o700:
            path.chmod(0o700)
        return path
    return Path(tempfile.mkdtemp(prefix="shipyard-ssh-"))


#: Seconds after which a unit's ssh log or a sample's output is taken for a leftover of an
#: engine that died (a live unit's log is written to by its client: a week-old one is not)
LEFTOVER_AGE = 7 * 24 * 3600


def _sweep(folder: Path) -> None:
    """Remove the ssh logs and sample outputs that engines which died left in ``folder`` (this
    user's own: a live engine removes its own when its units end)."""
    limit = time.time() - LEFTOVER_AGE
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.startswith(("err-", "sample-")) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_mtime < limit:
                        Path(entry.path).unlink()


def _ssh_config(argv: list[str]) -> dict[str, str]:
    """What ``ssh -G`` says of a destination ({} when ssh cannot be asked)."""
    try:
        done = subprocess.run(
            [*argv[:1], "-G", *argv[1:]],
            capture_output=True,
            text=True,
            timeout=CONTROL_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    if done.returncode != 0:
        return {}
    found: dict[str, str] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        found.setdefault(key.lower(), value)
    return found


class SshHandle:
    """A unit on a host: the local ssh client (a process group here, in the unit run's scope)
    and the remote group it started (named by :attr:`remote_id`)."""

    def __init__(
        self,
        runner: SshRunner,
        launched: Launched,
        scope: UnitScope,
        launch: UnitLaunch,
        stdin: int,
        remote_id: str,
        errors: Path,
    ) -> None:
        self.runner = runner
        self.launched = launched
        self.scope = scope
        self.unit = launch.unit
        self.stop_signal = launch.stop_signal
        self.log_path = launch.log_path
        self.remote_id = remote_id
        self.pid = launched.pid
        self.started = launched.started
        self.started_monotonic = launched.started_monotonic
        self._stdin = stdin  # the write end of the client's stdin: closed = EOF remotely
        self._errors = errors
        loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[ExitStatus] = loop.create_future()
        launched.exited.add_done_callback(self._client_exited)

    def _client_exited(self, future: asyncio.Future[ExitStatus]) -> None:
        status = future.result()
        reason = self.runner.failure(status, self._errors, self.log_path)
        self._close_stdin()
        if not self.exited.done():
            self.exited.set_result(
                SshExitStatus(status.exit_code, status.signal, status.cpu_seconds, reason)
            )

    def alive(self) -> bool:
        return not self.launched.exited.done() and pid_alive(self.launched.pid)

    def leftovers(self) -> bool:
        # Honest for the local part only: what is left on the host is the remote script's to
        # end (it does, once the command exited), and the watchdog's if the client died.
        return group_alive(self.launched.pgid) or self.scope.escaped()

    def members(self) -> list[int]:
        return self.scope.members()

    def signal(self, sig: str | None = None) -> None:
        """``sig`` to the remote group (the local client stays: it carries the output)."""
        self.runner.fire(_remote_kill(self.remote_id, sig or self.stop_signal))

    async def terminate(self, grace: float, sig: str | None = None) -> bool:
        """``sig`` to the remote group, SIGKILL to it and to the local client after
        ``grace``; returns once the local client is gone. True if SIGKILL was needed."""
        name = sig or self.stop_signal
        if not self.launched.exited.done():
            await self.runner.control(_remote_kill(self.remote_id, name))
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and not self.launched.exited.done():
            await asyncio.sleep(0.02)
        killed = not self.launched.exited.done()
        if killed:
            await self.runner.control(_remote_kill(self.remote_id, "KILL"))
            self._close_stdin()  # the watchdog's cue, if the control command did not get there
            kill_now(self.launched.pgid, self.scope)
        for _ in range(250):
            if self.launched.exited.done() and not self.leftovers():
                break
            await asyncio.sleep(0.02)
        if self.leftovers():
            kill_now(self.launched.pgid, self.scope)  # an ssh of the unit's that left its group
            killed = True
        return killed

    def kill(self) -> None:
        """SIGKILL to the remote group (over the shared connection) and to the local client
        (whose end makes the remote watchdog kill the group too, if that did not get there)."""
        self.runner.fire(_remote_kill(self.remote_id, "KILL"))
        self._close_stdin()
        kill_now(self.launched.pgid, self.scope)

    async def release(self) -> None:
        """Wait (bounded) until the killed unit is empty, then release it as :meth:`close`
        does (a fleet ends its services this way, without a close)."""
        await release(self.scope)
        self._forget()

    def close(self) -> None:
        self.scope.close()
        self._forget()

    def _forget(self) -> None:
        """The unit is over: its stdin pipe and its ssh log go."""
        self._close_stdin()
        with contextlib.suppress(OSError):
            self._errors.unlink()

    def journal_entry(self) -> str:
        # The local client's pid: killing its group after a crash ends the connection, and the
        # remote watchdog kills the remote group.
        return f"{self.launched.pid} {self.launched.started:.6f} {self.unit}\n"

    def _close_stdin(self) -> None:
        if self._stdin >= 0:
            with contextlib.suppress(OSError):
                os.close(self._stdin)
            self._stdin = -1


@dataclass
class _Track:
    """One unit's remote figures (see :class:`SshSampler`)."""

    remote_id: str
    last_cpu: float | None = None  # seconds, at last_time
    last_time: float = 0.0
    cpu_seconds: float | None = None
    cpu_peak: float = 0.0
    cpu_sum: float = 0.0
    cpu_samples: int = 0
    cpu_last: float | None = None
    rss_peak: int = 0
    rss_sum: int = 0
    rss_last: int = 0
    samples: int = 0


@dataclass
class _Probe:
    """A sample being taken on the host: its ssh process, writing into ``output`` (a file with
    no name: nothing is left behind, whatever happens to the engine)."""

    process: subprocess.Popen[bytes]
    output: IO[bytes]
    started: float
    keys: dict[str, str] = field(default_factory=dict)  # remote id → unit key


class SshSampler:
    """Remote CPU and memory of each running unit's group, read from the host's procfs.

    A sample never blocks the event loop: each :meth:`sample` reads what the previous one's
    ssh process wrote (if it has finished) and starts the next. CPU % is the change of the
    group's CPU time (its live members', plus what the leader waited for) between two samples;
    memory is the group's summed RSS.
    """

    def __init__(self, runner: SshRunner) -> None:
        self.runner = runner
        self._tracks: dict[str, _Track] = {}
        self._probe: _Probe | None = None

    def sample(self, running: Mapping[str, Handle]) -> None:
        probe = self._probe
        if probe is not None:
            if probe.process.poll() is None:
                if time.monotonic() - probe.started < CONTROL_TIMEOUT:
                    return  # still reading: the next tick takes it
                probe.process.kill()
                probe.process.wait()
            else:
                self._read(probe)
            probe.output.close()
            self._probe = None
        ids: dict[str, str] = {}
        for key, handle in running.items():
            if isinstance(handle, SshHandle):
                self._tracks.setdefault(key, _Track(handle.remote_id))
                ids[handle.remote_id] = key
        if ids:
            self._probe = self.runner.probe(ids)

    def finish(self, key: str, *, cpu_seconds: float) -> ResourceUsage:
        """The unit's figures; its CPU time is the remote group's last sampled one (the local
        ``cpu_seconds`` are the ssh client's own, not the command's), None if never sampled."""
        track = self._tracks.pop(key, None)
        if not self._tracks and self._probe is not None:
            # Nothing left to sample: the sample under way would only be read by a next run
            # of this sampler, if any; it goes now (a Popen left running is a leak).
            self._probe.process.kill()
            self._probe.process.wait()
            self._probe.output.close()
            self._probe = None
        if track is None or track.samples == 0:
            return ResourceUsage(cpu_seconds=None, samples=0)
        return _summary(track, live=False)

    def current(self, key: str) -> ResourceUsage | None:
        track = self._tracks.get(key)
        if track is None or track.samples == 0:
            return None
        return _summary(track, live=True)

    def _read(self, probe: _Probe) -> None:
        try:
            probe.output.seek(0)
            text = probe.output.read().decode("utf-8", errors="replace")
        except OSError:
            return
        figures = parse_sample(text)
        for remote_id, (cpu, rss) in figures.items():
            key = probe.keys.get(remote_id)
            track = self._tracks.get(key) if key is not None else None
            if track is None:
                continue
            if track.last_cpu is not None and probe.started > track.last_time:
                percent = max(
                    0.0, 100.0 * (cpu - track.last_cpu) / (probe.started - track.last_time)
                )
                track.cpu_peak = max(track.cpu_peak, percent)
                track.cpu_last = percent
                track.cpu_sum += percent
                track.cpu_samples += 1
            track.last_cpu, track.last_time, track.cpu_seconds = cpu, probe.started, cpu
            track.rss_peak = max(track.rss_peak, rss)
            track.rss_last = rss
            track.rss_sum += rss
            track.samples += 1


def _summary(track: _Track, *, live: bool) -> ResourceUsage:
    return ResourceUsage(
        cpu_percent_now=round(track.cpu_last, 1) if live and track.cpu_last is not None else None,
        rss_now_bytes=track.rss_last if live else None,
        cpu_percent_peak=round(track.cpu_peak, 1) if track.cpu_samples else None,
        cpu_percent_mean=round(track.cpu_sum / track.cpu_samples, 1) if track.cpu_samples else None,
        rss_peak_bytes=track.rss_peak,
        rss_mean_bytes=track.rss_sum // track.samples,
        cpu_seconds=round(track.cpu_seconds, 4) if track.cpu_seconds is not None else None,
        samples=track.samples,
    )


def sample_script(remote_ids: list[str]) -> str:
    """The remote command of a sample: ``id pgid`` lines of the given units, the clock tick
    and page size, then every process's ``/proc/PID/stat`` line."""
    files = " ".join(f'"$d"/{shlex.quote(i)}' for i in remote_ids)
    return (
        f"d={REMOTE_DIR}; for f in {files}; do"
        ' [ -s "$f" ] && printf \'%s %s\\n\' "${f##*/}" "$(cat "$f")"; done;'
        " echo ---; getconf CLK_TCK; getconf PAGESIZE; echo ---;"
        " cat /proc/[0-9]*/stat 2>/dev/null; true"
    )


def parse_sample(text: str) -> dict[str, tuple[float, int]]:
    """``{remote id: (CPU seconds, RSS bytes)}`` of each group in a sample's output."""
    units, _, rest = text.partition("---\n")
    settings, _, stats = rest.partition("---\n")
    numbers = settings.split()
    if len(numbers) < 2 or not all(n.isdigit() for n in numbers[:2]):
        return {}
    tick, page = int(numbers[0]) or 100, int(numbers[1])
    groups: dict[int, str] = {}
    for line in units.splitlines():
        remote_id, _, leader = line.partition(" ")
        if leader.strip().isdigit():
            groups[int(leader)] = remote_id
    totals: dict[str, list[float]] = {}
    for line in stats.splitlines():
        name_end = line.rfind(")")
        fields = line[name_end + 2 :].split()
        if name_end < 0 or len(fields) < 22 or not fields[2].isdigit():
            continue
        pid, group = int(line.split(" ", 1)[0]), int(fields[2])
        if group not in groups or fields[0] in ("Z", "X"):
            continue
        # fields: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
        # stime cutime cstime … rss at index 21
        ticks = int(fields[11]) + int(fields[12])
        if pid == group:  # the leader: what it waited for counts too
            ticks += int(fields[13]) + int(fields[14])
        total = totals.setdefault(groups[group], [0.0, 0.0])
        total[0] += ticks / tick
        total[1] += int(fields[21]) * page
    return {key: (cpu, int(rss)) for key, (cpu, rss) in totals.items()}


def parse_listening(text: str) -> set[int]:
    """The local ports of the sockets in LISTEN state (``0A``) of ``/proc/net/tcp*`` lines."""
    ports = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and ":" in fields[1]:
            with contextlib.suppress(ValueError):
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class SshRunner:
    """Units on ``host`` through OpenSSH, tracked locally by ``containment`` (the execution's)."""

    def __init__(
        self,
        host: HostEntry,
        settings: SshSettings,
        containment: Containment,
        *,
        program: str = "ssh",
    ) -> None:
        self.entry = host
        self.settings = settings
        self.containment = containment
        self.program = program
        self.name = f"{SSH_PREFIX}{host.name}"
        self._dir = _control_dir()
        _sweep(self._dir)
        self._options = self._common_options()
        seen = _ssh_config([program, *self._options, host.address])
        #: The address the host's units' ports and probes use: ssh's own HostName for it
        self.host = seen.get("hostname") or host.address
        self._socket = Path(seen["controlpath"]) if seen.get("controlpath") else None
        self._master: subprocess.Popen[bytes] | None = None
        self._tasks: set[asyncio.Task[int]] = set()
        # Its files' names: this runner's own, though other engines use the same host
        self._key = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"

    def _common_options(self) -> list[str]:
        """The ssh options of every client of this host, before the destination. The first
        value ssh obtains wins: ours for the connection sharing, then the spec's options,
        then our defaults."""
        s = self.settings
        argv = [
            "-o",
            f"ControlPath={self._dir}/%C",
            *(["-F", s.config] if s.config else []),
        ]
        for option in s.options:
            argv += ["-o", option]
        argv += [
            "-o",
            "BatchMode=yes",
            "-o",
            f"ConnectTimeout={max(1, round(s.connect_timeout))}",
            "-o",
            "LogLevel=ERROR",
        ]
        if self.entry.port is not None:
            argv += ["-p", str(self.entry.port)]
        if self.entry.user is not None:
            argv += ["-l", self.entry.user]
        return argv

    def client_argv(self, command: str, errors: Path | None = None) -> list[str]:
        """A client of the shared connection (or its own, if there is none yet) running
        ``command`` (one string, as ssh sends it) on the host."""
        log = ["-E", str(errors)] if errors is not None else []
        return [
            self.program,
            "-T",
            "-o",
            "ControlMaster=no",
            *log,
            *self._options,
            "--",
            self.entry.address,
            command,
        ]

    def master_argv(self) -> list[str]:
        """The shared connection: authenticated, then in the background, ending once idle for
        ``persist`` seconds."""
        persist = max(1, round(self.settings.persist))
        return [
            self.program,
            "-o",
            "ControlMaster=yes",
            "-o",
            f"ControlPersist={persist}s",
            *self._options,
            "-N",
            "-f",
            "--",
            self.entry.address,
        ]

    def _ensure_master(self) -> None:
        """Start the shared connection unless one is up (its socket answers) or on its way.
        Never in a unit's scope: it outlives the unit that needed it first."""
        if self._master is not None and self._master.poll() is None:
            return  # authenticating
        if self._master_up():
            return
        env = {k: v for k, v in os.environ.items() if k != "SHIPYARD_UNIT"}
        with contextlib.suppress(OSError):
            self._master = subprocess.Popen(
                self.master_argv(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )

    def _master_up(self) -> bool:
        """Does a master answer on the control socket? One that died (killed, its host
        rebooted) left its socket behind: removed here (our private folder), or ssh would
        neither use it nor let a new master take its place."""
        if self._socket is None:
            return True  # ssh -G did not say where: nothing to start a master for
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            try:
                probe.connect(str(self._socket))
            except FileNotFoundError:
                return False
            except OSError:
                if self._socket.parent == self._dir:
                    with contextlib.suppress(OSError):
                        self._socket.unlink()
                return False
        return True

    def start(self, launch: UnitLaunch) -> SshHandle:
        """Start ``launch`` on the host: a local ssh client in the unit run's scope, with the
        scope's marker, its stdin a pipe kept open, its output appended to the unit's log."""
        remote_id = f"{uuid.uuid4().hex}"
        here = dict(os.environ)
        own = {
            key: value
            for key, value in launch.env.items()
            if key != "SHIPYARD_UNIT" and (key.startswith("SHIPYARD_") or here.get(key) != value)
        }
        script = remote_script(
            launch.argv, own, launch.cwd or str(Path.cwd()), remote_id, self.entry.name
        )
        errors = self._dir / f"err-{self._key}-{remote_id}"
        argv = self.client_argv(f"sh -c {shlex.quote(script)}", errors)
        self._ensure_master()
        scope = self.containment.scope(launch.unit)
        env = launch.env
        env["SHIPYARD_UNIT"] = scope.marker
        loop = asyncio.get_running_loop()
        read_end, write_end = os.pipe()
        try:
            launched = scope.spawn(
                lambda: _spawn_client(argv, env, launch.log_path, read_end, loop)
            )
        except BaseException:
            os.close(write_end)
            scope.close()
            raise
        finally:
            os.close(read_end)
        scope.leader = launched.pid
        return SshHandle(self, launched, scope, launch, write_end, remote_id, errors)

    def sampler(self) -> SshSampler:
        return SshSampler(self)

    def failure(self, status: ExitStatus, errors: Path, log_path: str) -> str:
        """The reason of a client exit that ssh caused (255 and a message of its own), also
        written to the unit's log; "" when the exit is the command's."""
        try:
            text = errors.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        if status.exit_code != 255:
            return ""
        reason = self.ssh_failure(text)
        if reason:
            with contextlib.suppress(OSError), open(log_path, "a", encoding="utf-8") as log:
                log.write(f"==> shipyard: {reason}\n")
        return reason

    def ssh_failure(self, stderr: str) -> str:
        """ "ssh to host 'NAME' (ADDRESS, port N) failed: <ssh's last words>" from what the
        ssh client wrote; "" when it wrote nothing of its own."""
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        lines = [line for line in lines if not line.startswith(_NOT_ERRORS)]
        if not lines:
            return ""
        where = self.entry.address if self.host == self.entry.address else self.host
        port = f", port {self.entry.port}" if self.entry.port is not None else ""
        return f"ssh to host '{self.entry.name}' ({where}{port}) failed: {lines[-1]}"

    async def control(self, command: str) -> int:
        """Run ``command`` on the host over the shared connection; its exit status (255 if
        ssh failed, -1 if it could not run or took longer than :data:`CONTROL_TIMEOUT`)."""
        try:
            process = await asyncio.create_subprocess_exec(
                *self.client_argv(command),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            return -1
        try:
            return await asyncio.wait_for(process.wait(), CONTROL_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            return -1

    async def listening_ports(self) -> set[int] | None:
        """The TCP ports something listens on at the host (any address), from its
        ``/proc/net/tcp`` and ``tcp6``: where the fleet checks and allocates the ports of this
        host's services. None when the host's answer cannot be read (its units will say why);
        :class:`HostUnreachable` when ssh itself failed (exit 255 with words of its own): the
        fleet ends at once naming the host, rather than starting services there."""
        try:
            process = await asyncio.create_subprocess_exec(
                *self.client_argv("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true"),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError:
            return None
        try:
            out, err = await asyncio.wait_for(process.communicate(), CONTROL_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            return None
        if process.returncode == 255:
            reason = self.ssh_failure(err.decode(errors="replace"))
            if reason:
                raise HostUnreachable(reason, hint=UNREACHABLE_HINT)
        if process.returncode != 0:
            return None
        return parse_listening(out.decode(errors="replace"))

    def fire(self, command: str) -> None:
        """:meth:`control` without waiting for it (from synchronous code on the loop; without
        a running loop nothing is sent: a killed client's watchdog still ends the group)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self.control(command))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def probe(self, keys: dict[str, str]) -> _Probe | None:
        """Start a sample of the groups of ``keys`` (remote id → unit key), its output into a
        private file (read once the process ended: no pipe to fill and block on)."""
        output = tempfile.TemporaryFile(dir=self._dir)  # noqa: SIM115 - the probe owns it
        try:
            process = subprocess.Popen(
                self.client_argv(sample_script(sorted(keys))),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            output.close()
            return None
        return _Probe(process, output, time.monotonic(), dict(keys))

    def close(self) -> None:
        """End the shared connection (``ssh -O exit``) and reap what was started for it."""
        if self._master is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(
                    [self.program, "-O", "exit", *self._options, "--", self.entry.address],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=CONTROL_TIMEOUT,
                    check=False,
                )
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._master.wait(timeout=CONTROL_TIMEOUT)


_devnull_signals = (signal.SIGPIPE, signal.SIGXFSZ)


def _spawn_client(
    argv: list[str],
    env: dict[str, str],
    log_path: str,
    stdin: int,
    loop: asyncio.AbstractEventLoop,
) -> Launched:
    """:func:`shipyard.engine.process.spawn` with a pipe as stdin: the ssh client, in a session
    of its own, its output appended to ``log_path``."""
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        pid = os.posix_spawnp(
            argv[0],
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, stdin, 0),
                (os.POSIX_SPAWN_DUP2, log_fd, 1),
                (os.POSIX_SPAWN_DUP2, log_fd, 2),
            ],
            setsid=True,
            setsigmask=(),
            setsigdef=_devnull_signals,
        )
    except FileNotFoundError:
        raise SpawnError(
            f"command not found: {argv[0]} (the ssh runner needs OpenSSH's client: "
            "install openssh-client)"
        ) from None
    except OSError as error:
        raise SpawnError(f"cannot start {argv[0]}: {error.strerror or error}") from None
    except ValueError as error:
        raise SpawnError(f"cannot start {argv[0]!r}: {error}") from None
    finally:
        os.close(log_fd)
    exited: asyncio.Future[ExitStatus] = loop.create_future()
    launched = Launched(pid, time.time(), time.monotonic(), exited)
    _watch_exit(launched, loop)
    return launched
