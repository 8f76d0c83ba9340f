"""What a node manager says (its progress lines) and the environment its hooks get: pure."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.manager.hooks import hook_env
from shipyard.manager.node import _words

SUITE = "7badbf4d"


@pytest.mark.parametrize(
    ("event", "fields", "line"),
    [
        ("registered", {"manager": "m1", "group": "lab", "tags": ["gpu", "a100"]},
         "registered as m1 (group lab, tags gpu,a100)"),
        ("registered", {"manager": "m1", "group": "lab", "tags": []},
         "registered as m1 (group lab, tags none)"),
        ("suite_taken", {"suite": SUITE, "name": "squares", "group": "lab"},
         f"suite {SUITE} (squares) taken"),
        ("suite_taken", {"suite": SUITE, "name": "", "group": "lab"}, f"suite {SUITE} taken"),
        ("hook_ran", {"suite": SUITE, "hook": "env_preparation", "ok": True, "exit_status": 0,
                      "seconds": 0.25}, f"suite {SUITE}: env_preparation ok in 0.25 s"),
        ("hook_ran", {"suite": SUITE, "hook": "env_cleanup", "ok": False, "exit_status": None,
                      "seconds": 1.0}, f"suite {SUITE}: env_cleanup FAILED (exit None) in 1 s"),
        ("workers_started", {"suite": SUITE, "count": 4},
         f"suite {SUITE}: 4 managed worker(s) started"),
        ("tasks_done", {"suite": SUITE, "completed": 10, "failed": 2},
         f"suite {SUITE}: 10 task(s) done, 2 failed"),
        ("worker_ended", {"suite": SUITE, "worker": 1, "counted": True, "crashes": 2,
                          "reason": "managed worker 1 was killed by SIGKILL"},
         f"suite {SUITE}: managed worker 1 was killed by SIGKILL (crash 2)"),
        ("worker_ended", {"suite": SUITE, "worker": 1, "counted": False, "crashes": 0,
                          "reason": "managed worker 1 exited with status 0"},
         f"suite {SUITE}: managed worker 1 exited with status 0"),
        ("gave_up", {"suite": SUITE, "reason": "3 crashes"},
         f"suite {SUITE}: given up on this machine: 3 crashes"),
        ("suite_cancelled", {"suite": SUITE, "cancel_running": True},
         f"suite {SUITE} cancelled with its running tasks"),
        ("suite_cancelled", {"suite": SUITE, "cancel_running": False}, f"suite {SUITE} cancelled"),
        ("suite_done", {"suite": SUITE, "reason": "drained", "completed": 6, "failed": 0},
         f"suite {SUITE} done (drained): 6 task(s) done, 0 failed"),
        ("idle", {"manager": "m1"}, "idle"),
        ("shutdown", {"how": "force"}, "shutting down (force)"),
        ("left", {"manager": "m1", "suites": 2, "completed": 12, "failed": 1},
         "left after 2 suite(s), 12 task(s) done"),
    ],
)  # fmt: skip
def test_progress_lines(event: str, fields: dict[str, Any], line: str) -> None:
    assert _words(event, fields) == line


def test_an_unknown_event_is_still_said() -> None:
    assert _words("new_thing", {"a": 1}) == "new_thing {'a': 1}"


def test_a_hooks_own_env_overrides_the_suites_context() -> None:
    context = {"SHIPYARD_SUITE_UUID": "s", "SHIPYARD_GROUP": "lab"}
    env = hook_env(context, {"command": ["true"], "env": {"SHIPYARD_GROUP": "mine", "X": "1"}})
    assert env["SHIPYARD_SUITE_UUID"] == "s"
    assert env["SHIPYARD_GROUP"] == "mine"
    assert env["X"] == "1"
    assert env["PATH"]  # the manager's own environment under both
