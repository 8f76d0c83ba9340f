"""One-line results the CLI prints, as pure functions of what they report: each counted noun
through :mod:`shipyard.wording` ("1 file", never "1 files"), and no "nothing" standing in for a
list that is empty (issue 11 §21). Table-tested in tests/unit/test_sentences.py."""

from __future__ import annotations

from collections.abc import Sequence

from shipyard.wording import counted


def stop_impact(execution_id: str, running: Sequence[str], never: Sequence[str], cut: str) -> str:
    """What `stop` is about to do: "exec_x: running a, b (killed now); never started: c"."""
    doing = f"running {', '.join(running)} ({cut})" if running else "nothing is running"
    waiting = f"; never started: {', '.join(never)}" if never else ""
    return f"{execution_id}: {doing}{waiting}"


def put_back(execution_id: str, files: int, records: bool, size: str) -> str:
    """`clean --undo`: "exec_x: 1 file and its records put back (4.0KiB)"."""
    what = " and its records" if records else ""
    return f"{execution_id}: {counted(files, 'file')}{what} put back ({size})"


def cleaned(execution_id: str, items: int, size: str) -> str:
    """`clean`, per execution: "exec_x: 1 item, 4.0KiB"."""
    return f"{execution_id}: {counted(items, 'item')}, {size}"


def checkpoint_taken(checkpoint_id: str, files: int, size: str) -> str:
    """`checkpoint create`: "exec_x/ckpt-0001: 1 file, 12B"."""
    return f"{checkpoint_id}: {counted(files, 'file')}, {size}"
