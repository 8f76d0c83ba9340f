"""Reading a spec file's text: a regular file, of a sane size, in UTF-8 — or a SpecError.

`validate /dev/zero` used to read forever and a FIFO blocked in open(). No Pydantic or YAML
here: ``plan`` reads the text for its cache key before it knows whether it must parse it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from shipyard.errors import Location, SpecError, SpecProblem

#: A spec is a few KB; 4 MiB is hundreds of times the largest real one.
MAX_SPEC_BYTES = 4 * 1024 * 1024

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_spec_text(path: Path) -> str:
    """The text of the spec file at ``path``; SpecError says why it cannot be read."""
    try:
        before = path.stat()
    except FileNotFoundError:
        raise _error(f"no spec file at {path}", "check the path; specs are YAML files") from None
    except OSError as error:
        raise _error(f"cannot read {path}: {error.strerror or error}") from None
    _check_kind(path, before)
    try:
        # O_NONBLOCK: if the path became a FIFO since the stat, open() must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as error:
        raise _error(f"cannot read {path}: {error.strerror or error}") from None
    try:
        _check_kind(path, os.fstat(fd))  # what was opened, not what was looked at
        data = _read_at_most(fd, MAX_SPEC_BYTES + 1)
    except OSError as error:
        raise _error(f"cannot read {path}: {error.strerror or error}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SPEC_BYTES:
        raise _too_large(path)
    return decode_spec(data, path)


def _check_kind(path: Path, info: os.stat_result) -> None:
    if stat.S_ISREG(info.st_mode):
        if info.st_size > MAX_SPEC_BYTES:
            raise _too_large(path)
        return
    if stat.S_ISDIR(info.st_mode):
        raise _error(
            f"{path} is a folder, not a spec file", "give the spec file's path: FOLDER/NAME.yaml"
        )
    kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
    raise _error(
        f"{path} is {kind}, not a regular file: a spec is read from a file",
        "write the spec to a file and pass that file's path",
    )


def _too_large(path: Path) -> SpecError:
    return _error(
        f"{path} is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB, the largest spec Shipyard "
        "reads",
        "a spec is a few KB of YAML; check that this is the file you meant",
    )


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(1 << 20, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def decode_spec(data: bytes, path: Path | None) -> str:
    """``data`` as UTF-8; SpecError names the line and column of the first byte that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise SpecError(
            [
                SpecProblem(
                    f"the spec is not UTF-8 text: byte 0x{data[error.start]:02x} here cannot be "
                    "read as UTF-8",
                    Location(path, line, column),
                    hint="save the file as UTF-8 (for example: iconv -f latin1 -t utf-8 FILE)",
                )
            ]
        ) from None


def _error(message: str, hint: str | None = None) -> SpecError:
    return SpecError([SpecProblem(message, hint=hint)])
