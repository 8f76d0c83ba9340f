"""Addresses of Unix sockets: a path that fits in ``sun_path``, or a way round it.

Shared by the control socket's client (:mod:`shipyard.control`, stdlib and synchronous, what
the CLI pays for) and its server (:mod:`shipyard.engine.control`), so neither imports the other's
layer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

#: Linux's limit on a socket path is 108 bytes; deeper run directories go through /proc.
_MAX_PATH = 100


@contextlib.contextmanager
def unix_address(path: Path) -> Iterator[str]:
    """An address for ``path`` that fits a socket address: the path itself, or, when it is too
    long, ``/proc/self/fd/N/<name>`` through a descriptor of its folder (valid while open)."""
    text = str(path)
    if len(text.encode()) <= _MAX_PATH:
        yield text
        return
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)
