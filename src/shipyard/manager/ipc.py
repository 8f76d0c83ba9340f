"""The line between a manager and its managed workers: a Unix socket in the manager's folder,
one JSON object a line each way, each worker asking and its manager answering (no coordinator
round trip per task).

Worker → manager, and the answers:

- ``{"op": "fetch", "worker": i}`` → ``{"op": "task", "task": ClaimedTask}`` | ``{"op": "wait"}``
  (nothing now: ask again) | ``{"op": "stop"}`` (leave: the suite is through here);
- ``{"op": "started", "worker": i, "uuid", "pid"}`` → ``{"op": "ok"}`` (the task's process
  group, which the manager kills on a cancel or a lost lease);
- ``{"op": "result", "worker": i, "uuid", "attempt", "exit_status", "output", "waited"}`` →
  ``{"op": "ok"}`` (``waited``: the seconds from the worker's first ``fetch`` for this task to
  the task, ``wait`` answers included, as the worker timed it; ``--stats`` sums them up).
"""

from __future__ import annotations

import json
import socket
from io import BufferedIOBase
from pathlib import Path
from typing import Any

from shipyard.unixsocket import unix_address

#: The most bytes one line may have (a result carries a 64 KiB tail, escaped).
MAX_LINE = 4 * 1024 * 1024


def send(stream: BufferedIOBase, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message).encode() + b"\n")
    stream.flush()


def receive(stream: BufferedIOBase) -> dict[str, Any] | None:
    """The next message; None when the other side closed."""
    line = stream.readline(MAX_LINE)
    if not line:
        return None
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError(f"not a message: {line[:100]!r}")
    return message


def listen(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path.unlink(missing_ok=True)
    with unix_address(path) as address:
        server.bind(address)
    server.listen(256)
    return server


def connect(path: Path) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with unix_address(path) as address:
        client.connect(address)
    return client
