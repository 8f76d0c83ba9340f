"""Addresses the servers (``shipyard serve``, ``shipyard mcp --http``) decide on."""

from __future__ import annotations


def is_loopback(host: str) -> bool:
    """Is ``host`` this machine only (127.0.0.0/8, ::1, ``localhost``)? A name that is not an
    address is not: it could resolve anywhere."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
