"""The pure parts of ``shipyard tasks`` and its client: a refusal's class from its status, the
tasks a submit sends, and how lists and results are shown."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.cli.tasks_cli import _pairs, _submitted, result_text, task_rows
from shipyard.coordinator.client import refusal
from shipyard.errors import (
    BadRequest,
    Conflict,
    CoordinatorError,
    DatabaseUnavailable,
    NotFound,
    ShipyardError,
)

FIELDS: dict[str, Any] = {"tags": [], "env": {"A": "1"}, "priority": 0, "timeout": None,
                          "max_attempts": 3}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, BadRequest),
        (401, CoordinatorError),
        (403, CoordinatorError),
        (404, NotFound),
        (409, Conflict),
        (422, BadRequest),
        (503, DatabaseUnavailable),
        (507, CoordinatorError),
    ],
)
def test_a_refusal_is_the_error_of_its_status(status: int, kind: type[CoordinatorError]) -> None:
    error = refusal("GET", "/tasks/x", status, {"msg": "what is wrong", "hint": "do this"})
    assert type(error) is kind
    assert error.http_status == status
    assert error.message == f"GET /tasks/x: {status} what is wrong"
    assert error.hint == "do this"


def test_a_401_without_a_hint_says_how_to_log_in() -> None:
    error = refusal("POST", "/tasks/query", 401, {"msg": "the token has expired"})
    assert error.hint is not None and "tasks login" in error.hint


@pytest.mark.parametrize(
    ("count", "index_env", "envs"),
    [
        (1, None, [{"A": "1"}]),
        (3, "N", [{"A": "1", "N": "0"}, {"A": "1", "N": "1"}, {"A": "1", "N": "2"}]),
        (2, "A", [{"A": "0"}, {"A": "1"}]),  # the index wins over --env of the same name
    ],
)
def test_the_tasks_a_submit_sends(
    count: int, index_env: str | None, envs: list[dict[str, str]]
) -> None:
    sent = _submitted(["echo", "hi"], "lab", count, index_env, FIELDS)
    assert [task["env"] for task in sent] == envs
    assert {task["group"] for task in sent} == {"lab"}
    assert all(task["command"] == ["echo", "hi"] for task in sent)
    assert FIELDS["env"] == {"A": "1"}  # each copy's env is its own


@pytest.mark.parametrize(
    ("command", "count", "said"),
    [([], 1, "no command"), (["true"], 0, "--count 0"), (["true"], 100_001, "--count 100001")],
)
def test_a_submit_refused_before_it_is_sent(command: list[str], count: int, said: str) -> None:
    with pytest.raises(ShipyardError, match=said):
        _submitted(command, "lab", count, None, FIELDS)


@pytest.mark.parametrize(
    ("given", "found"),
    [(None, {}), (["A=1", "B=x=y", "C="], {"A": "1", "B": "x=y", "C": ""})],
)
def test_env_pairs(given: list[str] | None, found: dict[str, str]) -> None:
    assert _pairs(given, "--env") == found


@pytest.mark.parametrize("bad", ["A", "=1"])
def test_an_env_pair_without_a_name_or_value_is_refused(bad: str) -> None:
    with pytest.raises(BadRequest, match="NAME=VALUE"):
        _pairs([bad], "--env")


def test_rows_and_results_as_shown() -> None:
    task = {"uuid": "u" * 36, "state": "failed", "exit_status": 3, "attempts": 2,
            "command": ["sh", "-c", "exit 3"]}  # fmt: skip
    assert task_rows([task]).splitlines()[1] == f"{'u' * 36}  failed        3      2  sh -c exit 3"
    result = {"uuid": "u1", "state": "failed", "exit_status": 3, "attempts": [{}, {}],
              "message": "gave up after 2 attempts", "output_tail": "a\nb\n"}  # fmt: skip
    assert result_text(result) == (
        "u1  failed, exit 3, 2 attempts: gave up after 2 attempts\n  | a\n  | b\n"
    )
    queued = {"uuid": "u2", "state": "queued", "exit_status": None, "attempts": [],
              "message": None, "output_tail": None}  # fmt: skip
    assert result_text(queued) == "u2  queued, 0 attempts\n"


def test_the_client_batches_as_the_route_takes_them() -> None:
    from shipyard.coordinator import client, routes

    assert client.BATCH == routes.MAX_BATCH


@pytest.mark.parametrize(
    ("path", "no_coordinator"),
    [
        ("/tasks/query", True),
        ("/login", True),
        ("/tasks/batch", True),
        ("/tasks/abc/result", False),
    ],
)
def test_a_404_on_a_fixed_route_says_the_server_has_no_coordinator(
    path: str, no_coordinator: bool
) -> None:
    error = refusal("POST", path, 404, {"msg": "Not Found", "hint": "see /docs for the routes"})
    assert ("serve --db" in (error.hint or "")) is no_coordinator
