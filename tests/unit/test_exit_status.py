"""How a unit's end is told: in words, as a return code, and when another waiter reaped it."""

from __future__ import annotations

import os
import subprocess

import pytest

from shipyard.engine.process import ExitStatus, _reap_blocking


@pytest.mark.parametrize(
    ("status", "words", "code", "ok"),
    [
        (ExitStatus(0, None, 0.0), "exited with code 0", 0, True),
        (ExitStatus(3, None, 0.0), "exited with code 3", 3, False),
        (ExitStatus(None, "KILL", 0.0), "killed by signal KILL", 137, False),
        (ExitStatus(None, "TERM", 0.0), "killed by signal TERM", 143, False),
        (
            ExitStatus(None, None, 0.0),
            "ended, its exit status unknown (reaped elsewhere)",
            255,
            False,
        ),
    ],
)
def test_an_exit_in_words_and_as_a_return_code(
    status: ExitStatus, words: str, code: int, ok: bool
) -> None:
    assert status.describe() == words
    assert status.returncode == code
    assert status.ok is ok


def test_a_leader_reaped_by_someone_else_still_ends_with_an_unknown_status() -> None:
    """The exit watcher's wait4 finds no child (another waiter reaped it): it must still
    answer — an exception there left the unit's exit unresolved and the engine waiting for
    ever (a fleet's `down` hung that way once)."""
    child = subprocess.Popen(["true"])
    os.waitpid(child.pid, 0)  # reaped here, behind the watcher's back
    child.returncode = 0  # so Popen does not try to reap it again
    status = _reap_blocking(child.pid)
    assert status.unknown, status
