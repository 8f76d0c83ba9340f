"""Reading a file of JSON lines (events.jsonl, attempts.log) in bounded memory."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T", dict, list)  # type: ignore[type-arg]


def read_json_lines(path: Path, kind: type[T]) -> Iterator[T]:
    """Each line of ``path`` that is a JSON value of ``kind``; a line the disk cut short (or
    any other) is passed over; a missing file has none."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for raw in handle:
            with contextlib.suppress(ValueError):
                value = json.loads(raw)
                if isinstance(value, kind):
                    yield value
