"""engine/ownership.py without sockets: which listeners a probe of 127.0.0.1 can reach, and the
fall-back verdict where the OS does not tell (the real sockets are in
tests/integration/test_health_ownership.py)."""

from __future__ import annotations

import errno
import os
import socket

import pytest

from shipyard.engine import ownership
from shipyard.engine.ownership import Listener, port_ownership


@pytest.mark.parametrize(
    ("family", "address", "reached"),
    [
        (socket.AF_INET, "127.0.0.1", True),
        (socket.AF_INET, "0.0.0.0", True),  # a listener on every address
        (socket.AF_INET6, "::", True),  # dual stack: takes 127.0.0.1 too
        (socket.AF_INET6, "::ffff:127.0.0.1", True),
        (socket.AF_INET, "127.0.0.2", False),
        (socket.AF_INET, "10.1.2.3", False),
        (socket.AF_INET6, "::1", False),
    ],
)
def test_which_listeners_a_loopback_probe_reaches(family: int, address: str, reached: bool) -> None:
    listener = Listener(family=family, address=address, uid=0, inode=1)
    assert ownership._answers_loopback(listener) is reached


def test_no_socket_diagnostics_is_unknown_not_foreign(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(port: int) -> list[Listener]:
        raise PermissionError(errno.EPERM, "netlink sock_diag not allowed")

    monkeypatch.setattr(ownership, "listening", refused)
    found = port_ownership(8123, os.getpid())
    assert found.verdict == "unknown" and "did not list" in found.detail


def test_unreadable_descriptors_are_unknown_not_foreign(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        ownership,
        "listening",
        lambda port: [Listener(family=socket.AF_INET, address="127.0.0.1", uid=0, inode=7)],
    )

    def unreadable(pids: object) -> set[int]:
        raise PermissionError(errno.EACCES, "another user's process")

    monkeypatch.setattr(ownership, "socket_inodes", unreadable)
    found = port_ownership(8123, os.getpid())
    assert found.verdict == "unknown" and "not readable" in found.detail
