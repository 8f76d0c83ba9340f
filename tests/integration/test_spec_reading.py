"""A spec is read from a regular file of a sane size, in UTF-8; anything else is a clear error.

`validate /dev/zero` once read forever, a FIFO blocked in open() and a Latin-1 file gave the
decoder's message with no line.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard.errors import SpecError
from shipyard.spec.loader import load_spec
from shipyard.spec.reading import MAX_SPEC_BYTES

GOOD = "name: p\nsteps:\n  a: {run: [echo, hi]}\n"


def finishes(call: Callable[[], object], seconds: float = 10) -> BaseException | None:
    """Run ``call`` on a daemon thread; fail the test (not hang it) if it has not returned."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            call()
        except BaseException as error:  # handed to the test to judge
            outcome.append(error)
        else:
            outcome.append(None)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"reading the spec had not returned after {seconds}s (it blocks)"
    return outcome[0]


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    try:
        error = finishes(lambda: load_spec(fifo))
    finally:
        # Without the fix a reader is blocked in open(): a writer that comes and goes frees it.
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert isinstance(error, SpecError), error
    assert "is a named pipe (FIFO), not a regular file" in str(error)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_a_device_is_refused_without_reading_it(device: str) -> None:
    error = finishes(lambda: load_spec(device))
    assert isinstance(error, SpecError), error
    assert f"{device} is a character device, not a regular file" in str(error)


def test_a_folder_and_a_missing_file_are_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="is a folder, not a spec file"):
        load_spec(tmp_path)
    with pytest.raises(SpecError, match="no spec file at"):
        load_spec(tmp_path / "missing.yaml")


def test_a_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    target = tmp_path / "real.yaml"
    target.write_text(GOOD, encoding="utf-8")
    (tmp_path / "link.yaml").symlink_to(target)
    assert load_spec(tmp_path / "link.yaml").spec.name == "p"


def test_an_oversized_file_is_refused_with_the_limit(tmp_path: Path) -> None:
    spec = tmp_path / "big.yaml"
    with spec.open("w", encoding="utf-8") as handle:
        handle.write(GOOD)
        handle.truncate(MAX_SPEC_BYTES + 1)  # sparse: no 4 MB written to the disk
    with pytest.raises(SpecError) as error:
        load_spec(spec)
    assert f"larger than {MAX_SPEC_BYTES // 2**20} MiB" in str(error.value)


def test_a_file_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    spec = tmp_path / "padded.yaml"
    spec.write_text(GOOD + "#" * (MAX_SPEC_BYTES - len(GOOD)), encoding="utf-8")
    assert load_spec(spec).spec.name == "p"


def test_a_spec_that_is_not_utf8_names_the_line_and_column(tmp_path: Path) -> None:
    spec = tmp_path / "latin1.yaml"
    spec.write_bytes("name: p\nsteps:\n  a: {run: [echo, café]}\n".encode("latin-1"))
    with pytest.raises(SpecError) as error:
        load_spec(spec)
    (problem,) = error.value.problems
    assert problem.message.startswith("the spec is not UTF-8 text: byte 0xe9")
    assert problem.location is not None
    assert (problem.location.line, problem.location.column) == (3, 22)
    assert problem.hint and "UTF-8" in problem.hint
