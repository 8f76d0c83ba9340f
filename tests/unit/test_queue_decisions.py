"""The task queue's decisions (issue 13 §3), as tables: transitions, give-up after N, lease
expiry, watch, local_path, submissions, numeric conditions and the WHERE clause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shipyard.coordinator.decisions import (
    TASK_STATES,
    TaskFilter,
    TaskSpec,
    Watch,
    after_attempt,
    allowed,
    can_cancel,
    can_edit,
    int_condition,
    json_problem,
    lease_expired,
    local_path_problem,
    page,
    report_problem,
    spec_problem,
    tail,
    watch_outcome,
    where_clause,
)
from shipyard.errors import BadRequest

NOW = datetime(2026, 1, 1, tzinfo=UTC)
UUID = "00000000-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    ("current", "to", "ok"),
    [
        ("queued", "running", True),
        ("queued", "cancelled", True),
        ("running", "succeeded", True),
        ("running", "queued", True),
        ("running", "failed", True),
        ("running", "cancelled", False),
        ("succeeded", "queued", False),
        ("failed", "running", False),
        ("cancelled", "queued", False),
        ("queued", "succeeded", False),
    ],
)
def test_transitions(current: str, to: str, ok: bool) -> None:
    assert allowed(current, to) is ok


@pytest.mark.parametrize(
    ("outcome", "attempts", "most", "state"),
    [
        ("succeeded", 1, 3, "succeeded"),
        ("succeeded", 3, 3, "succeeded"),
        ("failed", 1, 3, "queued"),
        ("failed", 2, 3, "queued"),
        ("failed", 3, 3, "failed"),
        ("lost", 1, 1, "failed"),
        ("lost", 1, 2, "queued"),
        ("cancelled", 1, 3, "cancelled"),
    ],
)
def test_after_an_attempt(outcome: str, attempts: int, most: int, state: str) -> None:
    assert after_attempt(outcome, attempts, most) == state  # type: ignore[arg-type]
    assert allowed("running", state) or state == "cancelled"


@pytest.mark.parametrize(
    ("expires", "expired"),
    [(None, False), (NOW - timedelta(seconds=1), True), (NOW + timedelta(seconds=1), False),
     (NOW, False)],
)  # fmt: skip
def test_lease_expiry(expires: datetime | None, expired: bool) -> None:
    assert lease_expired(expires, NOW) is expired


@pytest.mark.parametrize(
    ("state", "started", "edit", "cancel"),
    [
        ("queued", False, True, True),
        ("queued", True, False, True),  # a retry waiting for its next attempt
        ("running", True, False, False),
        ("succeeded", True, False, False),
        ("cancelled", False, False, False),
    ],
)
def test_edit_and_cancel(state: str, started: bool, edit: bool, cancel: bool) -> None:
    assert can_edit(state, started) is edit
    assert can_cancel(state) is cancel


@pytest.mark.parametrize(
    ("watch", "upstream", "started", "outcome"),
    [
        ("succeeded", "queued", False, "wait"),
        ("succeeded", "running", True, "wait"),
        ("succeeded", "succeeded", True, "go"),
        ("succeeded", "failed", True, "never"),
        ("succeeded", "cancelled", False, "never"),
        ("failed", "failed", True, "go"),
        ("failed", "succeeded", True, "never"),
        ("started", "queued", False, "wait"),
        ("started", "running", True, "go"),
        ("started", "queued", True, "go"),  # started once, queued for a retry
        ("started", "cancelled", False, "never"),
        ("ended", "running", True, "wait"),
        ("ended", "cancelled", False, "go"),
        ("ended", "failed", True, "go"),
    ],
)
def test_watch(watch: str, upstream: str, started: bool, outcome: str) -> None:
    assert watch_outcome(watch, upstream, started) == outcome  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ("data", None),
        ("data/input.csv", None),
        ("a..b/c", None),
        ("/etc/passwd", "absolute"),
        ("../up", "'..'"),
        ("data/../../up", "'..'"),
        ("data\\..\\up", "'..'"),
        ("C:\\Windows", "absolute"),
        ("", "non-empty"),
        ("a\x00b", "NUL"),
    ],
)
def test_local_path(path: str, refused: str | None) -> None:
    problem = local_path_problem(path)
    assert (problem is None) if refused is None else (refused in str(problem))


def _spec(**changes: object) -> TaskSpec:
    base: dict[str, object] = {"command": ["true"], "group_id": 1, "creator_id": 1}
    return TaskSpec(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({}, None),
        ({"command": []}, "command must be a non-empty list"),
        ({"command": "echo hi"}, "command must be a non-empty list"),
        ({"command": ["echo", 3]}, "strings without NUL"),
        ({"tags": ["ok", ""]}, "tags must be a list of non-empty strings"),
        ({"labels": ["x"]}, "labels must be a JSON object"),
        ({"env": {"1BAD": "x"}}, "is not a variable name"),
        ({"env": {"GOOD": 1}}, "env GOOD must be a string"),
        ({"priority": "high"}, "priority must be a whole number"),
        ({"priority": 2**31}, "outside"),
        ({"priority": True}, "priority must be a whole number"),
        ({"max_attempts": 0}, "max_attempts 0 is outside 1..100"),
        ({"timeout": -1}, "timeout must be a positive number"),
        ({"timeout": "5m"}, "timeout must be a positive number"),
        ({"local_path": "/abs"}, "absolute"),
        ({"watch": Watch("nope")}, "is not a task uuid"),
        ({"watch": Watch(UUID, "done")}, "watch state 'done' is none of"),  # type: ignore[arg-type]
        ({"watch": Watch(UUID, "started")}, None),
    ],
)
def test_submissions(changes: dict[str, object], said: str | None) -> None:
    problem = spec_problem(_spec(**changes))
    assert (problem is None) if said is None else (said in str(problem))


@pytest.mark.parametrize(
    ("text", "parsed"),
    [(">=3", (">=", 3)), ("<5", ("<", 5)), ("!=0", ("!=", 0)), ("=2", ("=", 2)), ("7", ("=", 7)),
     (" > -1 ", (">", -1)), (4, ("=", 4))],
)  # fmt: skip
def test_int_conditions(text: str | int, parsed: tuple[str, int]) -> None:
    assert int_condition(text, "exit_status") == parsed


@pytest.mark.parametrize("text", ["", ">", "=>3", "3;DROP TABLE tasks", "1.5", "99999999999"])
def test_int_conditions_refused(text: str) -> None:
    with pytest.raises(BadRequest, match="is no condition"):
        int_condition(text, "exit_status")


@pytest.mark.parametrize(
    ("chosen", "sql", "params"),
    [
        (TaskFilter(), "TRUE", {}),
        (TaskFilter(states=["queued"]), "state = ANY(%(states)s)", {"states": ["queued"]}),
        (TaskFilter(tags=["gpu"]), "tags @> %(tags)s::text[]", {"tags": ["gpu"]}),
        (TaskFilter(labels={"a": 1}), "labels @> %(labels)s::jsonb", {"labels": '{"a": 1}'}),
        (TaskFilter(exit_status="!=0"), "exit_status <> %(exit_status)s", {"exit_status": 0}),
        (
            TaskFilter(group_ids=[1], creator_ids=[2], priority=">=5"),
            "group_id = ANY(%(groups)s) AND creator_id = ANY(%(creators)s) AND "
            "priority >= %(priority)s",
            {"groups": [1], "creators": [2], "priority": 5},
        ),
        (TaskFilter(uuids=[UUID]), "uuid = ANY(%(uuids)s::uuid[])", {"uuids": [UUID]}),
    ],
)
def test_where_clause(chosen: TaskFilter, sql: str, params: dict[str, object]) -> None:
    assert where_clause(chosen) == (sql, params)


@pytest.mark.parametrize(
    ("chosen", "said"),
    [
        (TaskFilter(states=["done"]), "state 'done' is no task state"),
        (TaskFilter(uuids=["x' OR 1=1"]), "is not a task uuid"),
        (TaskFilter(priority="high"), "is no condition"),
        (TaskFilter(tags="gpu"), "tags must be a list"),  # type: ignore[arg-type]
        (TaskFilter(labels=["a"]), "labels must be a JSON object"),  # type: ignore[arg-type]
    ],
)
def test_where_clause_refuses(chosen: TaskFilter, said: str) -> None:
    with pytest.raises(BadRequest, match=said):
        where_clause(chosen)


def test_every_state_is_known() -> None:
    assert set(TASK_STATES) == {"queued", "running", "succeeded", "failed", "cancelled"}


@pytest.mark.parametrize(("limit", "offset", "ok"), [(1, 0, True), (1000, 5, True),
                         (0, 0, False), (1001, 0, False), (5, -1, False)])  # fmt: skip
def test_pages(limit: int, offset: int, ok: bool) -> None:
    if ok:
        assert page(limit, offset) == (limit, offset)
    else:
        with pytest.raises(BadRequest):
            page(limit, offset)


@pytest.mark.parametrize(
    ("value", "mapping", "said"),
    [
        ({"a": [1, "b"]}, True, None),
        (["a"], True, "must be a JSON object"),
        (["a"], False, None),
        ({"a": "x\x00y"}, True, "NUL"),
        ({"a": float("nan")}, True, "is not JSON"),
        ({"a": object()}, True, "is not JSON"),
    ],
)
def test_json_values(value: object, mapping: bool, said: str | None) -> None:
    problem = json_problem("labels", value, mapping=mapping)
    assert (problem is None) if said is None else (said in str(problem))


@pytest.mark.parametrize(
    ("text", "keep", "kept"),
    [(None, 5, None), ("abc", 5, "abc"), ("abcdef", 3, "def"), ("a\x00b", 5, "a\ufffdb")],
)
def test_output_tail(text: str | None, keep: int, kept: str | None) -> None:
    assert tail(text, keep) == kept


@pytest.mark.parametrize(
    ("exit_status", "result", "said"),
    [(0, None, None), (-9, {"x": 1}, None), (2**40, None, "outside"), ("1", None, "whole"),
     (0, {"x": b"raw"}, "is not JSON")],
)  # fmt: skip
def test_reports(exit_status: object, result: object, said: str | None) -> None:
    problem = report_problem(exit_status, result)
    assert (problem is None) if said is None else (said in str(problem))
