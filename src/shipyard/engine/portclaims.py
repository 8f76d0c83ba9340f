"""Ports claimed by this user's fleets, so that two fleets brought up at the same moment never
take the same one.

:func:`shipyard.engine.wiring.port_is_free` asks the host by binding, but between that question
and the service's own bind there are seconds (the process starts, loads, then listens): a
second fleet asking in between hears "free" too, and one of the two services cannot listen.
So a fleet also *claims* each port it takes: an exclusive ``flock`` on a small file named after
the host and port, held by the fleet's supervisor for as long as the fleet runs. Another fleet
skips a port it cannot lock. The kernel drops a lock when its process ends, however it ends
(SIGKILL, a crash), so a claim never outlives its fleet and nothing needs cleaning up; the
files themselves stay (empty, one per port ever claimed) — deleting a lock file races with a
process about to lock it.

The claims live in a folder of this user (0700, beside the supervisor registry,
:func:`shipyard.supervisors.registry_dir`; ``$SHIPYARD_PORT_CLAIMS_DIR`` to choose another).
Fleets of other users are not seen: their services' binds still are, by the probe. A claims
folder that cannot be used never stops a fleet: the probe alone decides, as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Mapping
from pathlib import Path

from shipyard.errors import ShipyardError

__all__ = ["PortClaims", "claims_dir"]


def claims_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where this user's port claims are: ``$SHIPYARD_PORT_CLAIMS_DIR``, else a ``ports``
    folder beside the supervisor registry."""
    from shipyard.supervisors import registry_dir

    env = os.environ if env is None else env
    chosen = env.get("SHIPYARD_PORT_CLAIMS_DIR")
    if chosen:
        return Path(chosen)
    return registry_dir(env).parent / "ports"


def claim_file_name(host: str, port: int) -> str:
    """The lock file of ``port`` on ``host``: the host made safe for a file name (an IPv6
    address has colons, a host name could hold a slash)."""
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', host)}-{port}.lock"


class PortClaims:
    """The ports one fleet holds. :meth:`claim` a port before giving it to a service;
    :meth:`release` them all when the fleet has come down (or let the process end)."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self._checked: Path | None = None  # the folder, once made and found private
        self._held: dict[tuple[str, int], int] = {}  # (host, port) → the locked file's fd

    def claim(self, host: str, port: int) -> bool:
        """Take ``port`` on ``host`` for this fleet: False when another live fleet of this
        user holds it. True when it is ours now — or when the claims folder cannot be used
        (the bind probe still guards the port)."""
        if (host, port) in self._held:
            return True
        try:
            folder = self._folder()
        except (OSError, ShipyardError):
            return True
        try:
            fd = os.open(
                folder / claim_file_name(host, port),
                os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                0o600,
            )
        except OSError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError:
            os.close(fd)
            return True
        self._held[(host, port)] = fd
        return True

    def held(self) -> list[tuple[str, int]]:
        return sorted(self._held)

    def release(self) -> None:
        """Let every port go (closing the file drops its lock)."""
        held, self._held = self._held, {}
        for fd in held.values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def _folder(self) -> Path:
        """The claims folder, made if missing, checked once: ShipyardError unless it is a
        folder of ours that no one else may write into (a lock planted there would keep our
        fleets off a port)."""
        if self._checked is None:
            from shipyard.supervisors import private_dir

            chosen = self._directory or claims_dir()
            self._checked = private_dir(
                chosen, "the port claims folder", "SHIPYARD_PORT_CLAIMS_DIR"
            )
        return self._checked
