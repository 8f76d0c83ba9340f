"""Is the process answering on a service's port the service's own? A health probe on a port
only says that *something* answered: a service that crashed with EADDRINUSE was reported healthy
because the process that held its port answered for it.

The listening sockets of a port are asked of the kernel over netlink (``sock_diag``, the
interface ``ss`` uses), filtered to the listening state: ~75 µs on this machine. Reading
``/proc/net/tcp`` and ``tcp6`` — what psutil's ``net_connections`` does, for the whole machine or
per process — cost 13-36 ms here (the kernel walks every TCP hash bucket), far too much for
something a probe loop asks. The listener's inode is then looked for among the open descriptors
of the unit's leader (the usual case: an ``exec``'d server), and only if not there among those of
its descendants (psutil; ~2 ms, a scan of /proc) and the unit's other processes (its cgroup or
its marker: engine/containment.py).

Where the OS does not tell (no netlink socket diagnostics, or the unit's descriptors are not
readable by this user), the verdict is ``unknown`` and the caller falls back on the unit being
alive.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["own", "foreign", "none", "unknown"]

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x301  # NLM_F_REQUEST | NLM_F_DUMP
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TCP_LISTEN = 10
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_SOCKID_SIZE = 48  # inet_diag_sockid: ports, addresses, interface, cookie
#: Where a connection to 127.0.0.1 can land: the loopback address or a wildcard.
_ANSWERS_LOOPBACK: dict[int, set[ipaddress.IPv4Address | ipaddress.IPv6Address]] = {
    socket.AF_INET: {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("0.0.0.0")},  # noqa: S104 (compared, never bound)
    socket.AF_INET6: {ipaddress.ip_address("::"), ipaddress.ip_address("::ffff:127.0.0.1")},
}


@dataclass(frozen=True, slots=True)
class Listener:
    family: int
    address: str
    uid: int
    inode: int


@dataclass(frozen=True, slots=True)
class Ownership:
    """``own``: every socket listening where a probe of the port lands is the unit's;
    ``foreign``: one is not; ``none``: nothing listens there; ``unknown``: the OS did not tell
    (``detail`` says why)."""

    verdict: Verdict
    detail: str = ""


def port_ownership(
    port: int, leader: int, members: Callable[[], Iterable[int]] | None = None
) -> Ownership:
    """Who listens on loopback ``port``: the process tree of ``leader`` (and ``members``, the
    unit's processes as its containment knows them, which includes those that left the tree
    with a double fork), or someone else?"""
    try:
        listeners = [item for item in listening(port) if _answers_loopback(item)]
    except OSError as error:
        return Ownership("unknown", f"the kernel did not list listening sockets ({error})")
    if not listeners:
        return Ownership("none", f"nothing listens on port {port}")
    wanted = {item.inode for item in listeners}
    try:
        mine = socket_inodes([leader])
        if not wanted <= mine:
            others = set(_descendants(leader)) | set(members() if members else ())
            mine |= socket_inodes(others - {leader})
    except PermissionError as error:
        return Ownership("unknown", f"the unit's open files are not readable ({error})")
    strangers = [item for item in listeners if item.inode not in mine]
    if not strangers:
        return Ownership("own")
    first = strangers[0]
    return Ownership(
        "foreign",
        f"port {port} is held by a socket outside the service's processes "
        f"(on {first.address}, uid {first.uid}, inode {first.inode})",
    )


def listening(port: int) -> list[Listener]:
    """Every TCP socket (IPv4 and IPv6) listening on ``port``, from the kernel. Raises OSError
    where netlink socket diagnostics are not available."""
    found: list[Listener] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as link:
        link.settimeout(1.0)  # the kernel answers at once; never hang a probe loop on it
        for sequence, family in enumerate((socket.AF_INET, socket.AF_INET6), start=1):
            # inet_diag_req_v2: family, protocol, extensions, pad, states; a zeroed socket id.
            request = struct.pack("=BBBxI", family, socket.IPPROTO_TCP, 0, 1 << _TCP_LISTEN)
            request += bytes(_SOCKID_SIZE)
            header = _HEADER.pack(
                _HEADER.size + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, sequence, 0
            )
            link.send(header + request)
            found += [listener for local, listener in _answers(link) if local == port]
    return found


def _answers(link: socket.socket) -> Iterable[tuple[int, Listener]]:
    """(local port, listener) of every answer to one dump request, until its end."""
    while True:
        data = link.recv(1 << 16)
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, kind, _, _, _ = _HEADER.unpack_from(data, offset)
            if kind == _NLMSG_DONE:
                return
            if kind == _NLMSG_ERROR:
                (code,) = struct.unpack_from("=i", data, offset + _HEADER.size)
                raise OSError(-code, os.strerror(-code))
            yield _listener(data, offset + _HEADER.size)
            offset += (length + 3) & ~3
        if not data:
            return


def _listener(data: bytes, at: int) -> tuple[int, Listener]:
    """One inet_diag_msg: family, state, timer, retransmits, the socket id, then expires,
    read queue, write queue, uid, inode."""
    family = data[at]
    port = struct.unpack_from("!H", data, at + 4)[0]
    raw = data[at + 8 : at + 8 + (4 if family == socket.AF_INET else 16)]
    uid, inode = struct.unpack_from("=II", data, at + 4 + _SOCKID_SIZE + 12)
    address = str(ipaddress.ip_address(raw))
    return port, Listener(family=family, address=address, uid=uid, inode=inode)


def _answers_loopback(listener: Listener) -> bool:
    return ipaddress.ip_address(listener.address) in _ANSWERS_LOOPBACK.get(listener.family, set())


def socket_inodes(pids: Iterable[int]) -> set[int]:
    """The inodes of the sockets these processes hold open. A process that has gone is
    skipped; one whose descriptors this user may not read raises PermissionError."""
    inodes: set[int] = set()
    for pid in pids:
        try:
            entries = list(os.scandir(f"/proc/{pid}/fd"))
        except (FileNotFoundError, ProcessLookupError):
            continue
        for entry in entries:
            try:
                target = os.readlink(entry.path)  # noqa: PTH115 (no Path object per descriptor)
            except (FileNotFoundError, ProcessLookupError):
                continue  # closed meanwhile
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def _descendants(pid: int) -> list[int]:
    import psutil  # only when the leader itself does not hold the socket

    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def holder(port: int) -> str:
    """Which process listens on ``port``, for a message: ``pid 123 (python3 -m http.server)``.
    A scan of every process (psutil, tens of ms): only once something is known to be wrong."""
    import psutil

    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return "a process this user cannot see"
    for connection in connections:
        local = connection.laddr
        if connection.status != psutil.CONN_LISTEN or not local or local.port != port:
            continue
        if connection.pid is None:
            return "a process of another user"
        try:
            command = " ".join(psutil.Process(connection.pid).cmdline())[:120]
        except psutil.Error:
            command = "?"
        return f"pid {connection.pid} ({command})"
    return "no process now"
