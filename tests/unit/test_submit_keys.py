"""The pure parts of keyed submits: when a batch is sent again (a table), the keys a submit
gives its tasks, ``--key``'s checks, and what a submit prints of tasks already there."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.cli.tasks_cli import MAX_KEY, _submitted, checked_key, submitted_text, task_text
from shipyard.coordinator.client import RESEND_BASE, RESEND_CAP, SEND_TRIES, resend_wait
from shipyard.errors import ShipyardError

FIELDS: dict[str, Any] = {"tags": [], "env": {}, "priority": 0, "timeout": None,
                          "max_attempts": 3}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "keyed", "reached", "tries", "draw", "wait"),
    [
        (0, True, True, 1, 0.0, RESEND_BASE / 2),  # the answer lost: again, soon
        (0, True, True, 1, 0.999999, RESEND_BASE * 0.9999995),
        (0, True, True, 2, 0.0, RESEND_BASE),  # doubling
        (502, True, True, 1, 0.0, RESEND_BASE / 2),
        (503, True, True, 2, 0.0, RESEND_BASE),
        (504, True, True, 3, 0.0, RESEND_BASE * 2),
        (429, True, True, 1, 0.0, RESEND_BASE / 2),
        (0, True, True, SEND_TRIES, 0.0, None),  # the last try: the error is the user's
        (0, False, True, 1, 0.0, None),  # a task without a key would be queued twice
        (504, False, True, 1, 0.0, None),
        (0, True, False, 1, 0.0, None),  # nothing listens there: a wrong --server, said at once
        (400, True, True, 1, 0.0, None),  # a refusal no resend changes
        (401, True, True, 1, 0.0, None),
        (409, True, True, 1, 0.0, None),
        (500, True, True, 1, 0.0, None),
    ],
)
def test_when_a_batch_is_sent_again(
    status: int, keyed: bool, reached: bool, tries: int, draw: float, wait: float | None
) -> None:
    got = resend_wait(status, keyed=keyed, reached=reached, tries=tries, draw=draw)
    assert got == pytest.approx(wait) if wait is not None else got is None


def test_the_waits_stay_under_the_cap_and_in_all_under_ten_seconds() -> None:
    waits = [resend_wait(0, keyed=True, reached=True, tries=n, draw=0.999999)
             for n in range(1, SEND_TRIES)]  # fmt: skip
    assert all(wait is not None and wait <= RESEND_CAP for wait in waits)
    assert sum(wait or 0 for wait in waits) < 10  # a user waits at the terminal


def test_every_task_gets_a_key_of_the_commands_prefix() -> None:
    one = _submitted(["true"], "lab", 3, None, FIELDS)
    keys = [task["key"] for task in one]
    prefix = keys[0].rsplit("-", 1)[0]
    assert keys == [f"{prefix}-0", f"{prefix}-1", f"{prefix}-2"]
    other = _submitted(["true"], "lab", 3, None, FIELDS)
    assert not {task["key"] for task in other} & set(keys)  # another command: other keys
    given = _submitted(["true"], None, 2, None, FIELDS, key="nightly")
    assert [task["key"] for task in given] == ["nightly-0", "nightly-1"]
    assert all(len(task["key"]) <= 200 for task in _submitted(["t"], None, 1, None, FIELDS,
                                                              key="k" * MAX_KEY))  # fmt: skip


@pytest.mark.parametrize("key", ["", " lead", "trail ", "tab\there", "k" * (MAX_KEY + 1)])
def test_a_key_refused_before_anything_is_sent(key: str) -> None:
    with pytest.raises(ShipyardError, match="--key"):
        checked_key(key)


def test_tasks_already_there_are_said_not_hidden() -> None:
    answer = {
        "accepted": [{"index": 0, "uuid": "u0", "existing": True},
                     {"index": 1, "uuid": "u1", "existing": False}],
        "refused": [{"index": 2, "msg": "bad"}],
    }  # fmt: skip
    out, err = submitted_text(answer, "nightly")
    assert out == "u0\nu1\n"  # every task asked for, in order, new or not
    assert err == ("1 of 2 tasks already submitted under their keys (nightly-INDEX): not "
                   "queued again\ntask 2 refused: bad\n")  # fmt: skip
    assert submitted_text({"accepted": answer["accepted"][1:], "refused": []}, "k") == ("u1\n", "")


def test_a_tasks_record_shows_its_suite_and_key() -> None:
    task = {"uuid": "u", "state": "queued", "exit_status": None, "attempts": 0, "group": "lab",
            "creator": "ada", "suite_uuid": "s", "key": "k-0", "priority": 0, "tags": ["gpu"],
            "message": None, "command": ["echo", "hi"]}  # fmt: skip
    assert task_text(task) == ("u  queued, 0 attempts\n  group: lab\n  creator: ada\n"
                               "  suite: s\n  key: k-0\n  priority: 0\n  tags: gpu\n"
                               "  command: echo hi\n")  # fmt: skip
    lone = task_text({**task, "suite_uuid": None, "key": None})
    assert "suite" not in lone and "key" not in lone
