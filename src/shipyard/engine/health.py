"""Health probes of a service, and whether a good answer really came from it.

A probe is an HTTP GET over a bare asyncio socket, a TCP connect, an A2A agent card, or a
command; each takes the host the service runs on (its runner's ``host``). A good answer counts
only while what listens on the service's port is its own process tree (:class:`Listener`, over
:mod:`shipyard.engine.ownership`), not a process that held the port and answered for a service
that died of EADDRINUSE.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from shipyard.engine.ownership import holder, port_ownership
from shipyard.engine.wiring import port_is_free, service_url
from shipyard.plan.model import HealthSettings

#: Once healthy, how often a good probe's answer is checked to come from the service's own
#: listener (seconds); until healthy, every good probe is.
OWNERSHIP_RECHECK = 5.0

_MAX_ANSWER = 1 << 20


async def connect(host: str, port: int) -> socket.socket:
    """A TCP connection to ``host:port`` on a bare non-blocking socket: a probe runs many
    times a second per service, and streams (transport, protocol, reader, writer) cost several
    times what the connection itself does."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def http_get(
    host: str, port: int, path: str, *, status_only: bool = False
) -> tuple[int, bytes]:
    """A minimal HTTP/1.0 GET: (status, body). The answer is read as far as it needs to be —
    its status line with ``status_only``, else its ``Content-Length`` (or until the server
    closes) — never waiting on a server that keeps the connection open. Raises OSError on a
    bad answer."""
    loop = asyncio.get_running_loop()
    sock = await connect(host, port)
    try:
        request = f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode()
        await loop.sock_sendall(sock, request)
        response = bytearray()
        while len(response) < _MAX_ANSWER and not _complete(response, status_only=status_only):
            chunk = await loop.sock_recv(sock, 1 << 16)
            if not chunk:
                break
            response += chunk
    finally:
        sock.close()
    head, _, body = bytes(response).partition(b"\r\n\r\n")
    parts = head.split(b"\r\n", 1)[0].split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise OSError("not an HTTP answer")
    return int(parts[1]), body


def _complete(response: bytearray, *, status_only: bool) -> bool:
    """Has enough of an HTTP answer arrived?"""
    if status_only:
        return b"\r\n" in response
    head, found, body = bytes(response).partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value.strip())
    return False  # no length given: the server's close ends it


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe's verdict and what it saw, in words a user can act on: the status code, the
    agent card's mismatch, the connection error, the command's exit code."""

    ok: bool
    detail: str


async def probe(
    health: HealthSettings,
    *,
    name: str,
    host: str,
    port: int | None,
    env: dict[str, str],
    workdir: str,
    log: LogWatch | None = None,
) -> ProbeResult:
    """One probe of service ``name`` as its ``health`` says; not ok on any failure or after
    its timeout, with what went wrong. ``log``: what a ``log_line`` check reads (its start's
    part of the service's log)."""
    if health.log_line is not None:
        if log is None:
            return ProbeResult(False, "its log is not being read")
        return log.check()
    try:
        async with asyncio.timeout(health.timeout):
            if health.exec is not None:
                return await probe_exec(health.exec, env=env, cwd=workdir)
            if port is None:
                return ProbeResult(False, "it has no port to probe")
            if health.a2a:
                return await probe_a2a(name, host, port)
            if health.http is None:
                (await connect(host, port)).close()
                return ProbeResult(True, f"{host}:{port} accepted a connection")
            status, _ = await http_get(host, port, health.http, status_only=True)
            return http_verdict(status, health.http)
    except TimeoutError:
        return ProbeResult(False, f"no answer within {health.timeout:g}s")
    except (OSError, ValueError) as error:
        return ProbeResult(False, connection_trouble(error, host, port))


def http_verdict(status: int, path: str) -> ProbeResult:
    if 200 <= status < 400:
        return ProbeResult(True, f"HTTP {status} from {path}")
    return ProbeResult(False, f"HTTP {status} from {path} (2xx or 3xx wanted)")


def connection_trouble(error: OSError | ValueError, host: str, port: int | None) -> str:
    """An error of a probe's connection, said with where (``connection refused by
    127.0.0.1:8123``)."""
    where = f"{host}:{port}" if port is not None else host
    if isinstance(error, ConnectionRefusedError):
        return f"connection refused by {where} (nothing listens there)"
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror.lower()} ({where})"
    return f"{error} ({where})"


#: Where A2A agents serve their card, tried in turn: the A2A spec's current path, its older
#: one, and the A2A job deployer's (agentic-deployment-engine's agents, docs/importing.md).
_CARD_PATHS = (
    "/.well-known/agent-card.json",
    "/.well-known/agent.json",
    "/.well-known/agent-configuration",
)


async def probe_a2a(name: str, host: str, port: int) -> ProbeResult:
    """The agent card parses, and names this service and the URL it was given."""
    for path in _CARD_PATHS:
        status, body = await http_get(host, port, path)
        if status == 404:
            continue
        if status != 200:
            return ProbeResult(False, f"HTTP {status} from {path} (200 wanted)")
        try:
            card = json.loads(body)
        except ValueError:
            return ProbeResult(False, f"the agent card at {path} is not JSON")
        mismatch = card_mismatch(card, name, service_url(port, host))
        if mismatch is not None:
            return ProbeResult(False, f"the agent card at {path} {mismatch}")
        return ProbeResult(True, f"the agent card at {path} names '{name}' and its URL")
    return ProbeResult(False, f"no agent card: HTTP 404 from {' and '.join(_CARD_PATHS)}")


def card_mismatch(card: object, name: str, url: str) -> str | None:
    """What is wrong with an agent card for service ``name`` at ``url``, or None."""
    if not isinstance(card, dict):
        return "is not a JSON object"
    if card.get("name") != name:
        return f"names {_shown(card.get('name'))}, not '{name}'"
    given = str(card.get("url", "")).rstrip("/")
    if given != url:
        return f"gives the url {_shown(card.get('url'))}, not '{url}'"
    return None


def _shown(value: object) -> str:
    """A value from a card, quoted and cut short (a card is the service's to write)."""
    if value is None:
        return "nothing"
    text = str(value)
    return f"'{text[:60]}…'" if len(text) > 60 else f"'{text}'"


async def probe_exec(argv: list[str], *, env: dict[str, str], cwd: str) -> ProbeResult:
    """The command exits 0 (its output goes nowhere)."""
    import shlex

    shown = shlex.join(argv)
    shown = shown if len(shown) <= 60 else shown[:59] + "…"
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            cwd=cwd,
        )
    except OSError as error:
        return ProbeResult(False, f"`{shown}` could not start: {error.strerror or error}")
    try:
        code = await process.wait()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    if code == 0:
        return ProbeResult(True, f"`{shown}` exited 0")
    if code < 0:
        return ProbeResult(False, f"`{shown}` was killed by signal {-code}")
    return ProbeResult(False, f"`{shown}` exited with code {code}")


#: Most of a log a ``log_line`` check reads at one probe (the rest at the next ones): a service
#: that writes fast never keeps the engine's loop reading.
LOG_READ_BUDGET = 4 << 20
_LOG_CHUNK = 1 << 16


@dataclass
class LogWatch:
    """Has a line containing ``text`` been written to the log at ``path`` since ``offset`` (its
    size when the service's current start began: the log is appended to across restarts)?

    Read on from where the last probe stopped, in bounded chunks; only the last ``len(text) - 1``
    bytes are carried over between chunks. ``text`` holds no newline (validation refuses one),
    so a match never spans two lines. Once seen, it stays seen until the next start (a new
    watch). A rotated log (emptied: smaller than the offset) is read again from its start."""

    path: str
    text: str
    offset: int = 0
    seen: bool = False
    _carry: bytes = b""

    @classmethod
    def from_start(cls, path: str, text: str) -> LogWatch:
        """A watch of what a start about to happen will write: from the log's current end."""
        try:
            size = os.path.getsize(path)  # noqa: PTH202 - a string path, once per start
        except OSError:
            size = 0
        return cls(path, text, offset=size)

    def check(self) -> ProbeResult:
        found = f"a line containing {self.text!r} is in its log"
        if self.seen or self._read():
            self.seen = True
            return ProbeResult(True, found)
        return ProbeResult(False, f"no line containing {self.text!r} in its log yet")

    def _read(self) -> bool:
        needle = self.text.encode()
        try:
            with open(self.path, "rb") as log:
                size = os.fstat(log.fileno()).st_size
                if size < self.offset:  # rotated (copied away and emptied) since
                    self.offset, self._carry = 0, b""
                log.seek(self.offset)
                budget = LOG_READ_BUDGET
                while budget > 0:
                    chunk = log.read(min(_LOG_CHUNK, budget))
                    if not chunk:
                        return False
                    budget -= len(chunk)
                    self.offset += len(chunk)
                    data = self._carry + chunk
                    if needle in data:
                        return True
                    self._carry = data[-(len(needle) - 1) :] if len(needle) > 1 else b""
        except OSError:
            return False  # not written yet
        return False


#: Records an event about the service: (action, **data).
Report = Callable[..., object]


@dataclass
class Listener:
    """What is known of who listens on a service's port."""

    port: int | None
    host: str
    checked: float = -1e9  # monotonic time its listener was last found its own
    taken: str | None = None  # who answered on its port instead of it, once seen

    def own_answer(
        self,
        *,
        leader: int,
        members: Callable[[], Iterable[int]] | None,
        healthy: bool,
        started: float,
        report: Report,
    ) -> bool:
        """May a good probe on the port count? Only while the listener is the tree of
        ``leader`` (and ``members``). It is looked up (~0.2 ms) before every healthy
        transition (``healthy`` False), then every :data:`OWNERSHIP_RECHECK` seconds."""
        if self.port is None:
            return True
        now = time.monotonic()
        if healthy and now - self.checked < OWNERSHIP_RECHECK:
            return True
        found = port_ownership(self.port, leader, members)
        if found.verdict in ("own", "unknown"):
            if found.verdict == "unknown" and self.checked < started:
                # The OS does not tell: the alive check is what is left (said once a start).
                report("health_owner_unknown", detail=found.detail)
            self.checked = now
            return True
        if found.verdict == "foreign" and self.taken is None:
            self.taken = holder(self.port)  # tens of ms: once, not every probe
            report(
                "service_port_not_its_own", port=self.port, detail=found.detail, holder=self.taken
            )
        return False

    def trouble(self, *, running: bool) -> list[str]:
        """What is wrong with a down service's port, for its failure reason: someone else
        answered there, or holds it now."""
        if self.port is None:
            return []
        if self.taken is not None:
            return [f"port {self.port} was answered by another process: {self.taken}"]
        if not running and not port_is_free(self.port, self.host):
            return [f"port {self.port} is in use by another process: {holder(self.port)}"]
        return []
