"""``shipyard logs --export FILE``: the lines, with their time and level, written to a file as
JSON lines (``.jsonl``) or one JSON array (``.json``), streamed: one line in memory at a time."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from shipyard.api import LogLine

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}


def export_format(path: Path) -> str:
    """``jsonl`` or ``json``, by the file's suffix; any other is refused."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ShipyardError(
            f"--export '{path}': cannot tell the format from the suffix '{path.suffix}'",
            hint="name the file out.jsonl (one JSON object a line) or out.json (a JSON array)",
        )
    return kind


def open_export(path: Path, *, force: bool) -> int:
    """A descriptor of ``path`` opened for writing: a new file, or (``force``) one emptied.
    Created exclusively otherwise, so an existing file is never overwritten by a race."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_TRUNC if force else os.O_EXCL)
    try:
        return os.open(path, flags, 0o600)  # a log can hold secrets a step printed
    except FileExistsError:
        raise ShipyardError(
            f"--export '{path}' exists already",
            hint="give another file name, or add --force to overwrite it",
        ) from None
    except IsADirectoryError:
        raise ShipyardError(
            f"--export '{path}' is a folder", hint="give a file name like out.jsonl"
        ) from None
    except FileNotFoundError:
        raise ShipyardError(
            f"--export '{path}': the folder '{path.parent}' does not exist",
            hint="create it first, or export to an existing folder",
        ) from None
    except PermissionError:
        raise ShipyardError(
            f"--export '{path}': no permission to write there", hint="export to another folder"
        ) from None


def export(lines: Iterable[LogLine], path: Path, *, force: bool) -> int:
    """Write ``lines`` to ``path`` (format by its suffix); returns how many were written.
    Everything is checked before the file is created, and before the first line is read."""
    from shipyard.cli.plain import log_line_json

    kind = export_format(path)
    descriptor = open_export(path, force=force)
    count = 0
    with open(descriptor, "w", encoding="utf-8", newline="\n") as out:
        write = out.write
        if kind == "jsonl":
            for line in lines:
                write(log_line_json(line) + "\n")
                count += 1
        else:
            separator = "[\n"
            for line in lines:
                write(separator + log_line_json(line))
                separator = ",\n"
                count += 1
            write("[]\n" if count == 0 else "\n]\n")
    return count
