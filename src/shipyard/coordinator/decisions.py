"""The task queue's decisions, without I/O (issue 13 §3): what a submission may hold, which
state a task goes to after an attempt, when a lease has run out, whether a watched upstream
lets a task go, and the WHERE clause of a query. :mod:`shipyard.coordinator.tasks` performs
them against PostgreSQL; these are table-tested on their own.
"""

from __future__ import annotations

import json
import re
import uuid as uuidlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Literal

from shipyard.errors import BadRequest

TaskState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Outcome = Literal["succeeded", "failed", "lost", "cancelled"]
WatchState = Literal["started", "succeeded", "failed", "ended"]

TASK_STATES: tuple[TaskState, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
WATCH_STATES: tuple[WatchState, ...] = ("started", "succeeded", "failed", "ended")
ATTEMPT_OUTCOMES = ("running", "succeeded", "failed", "lost", "cancelled")
WORKER_STATES = ("active", "draining", "gone")
#: PostgreSQL's INTEGER, the column priority and exit status are stored in.
INT32 = (-(2**31), 2**31 - 1)
MAX_ATTEMPTS = 100
MAX_COMMAND = 64 * 1024  # bytes of argv, all arguments together
MAX_LIMIT = 1000
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# --- transitions ---------------------------------------------------------------------------------

#: Every state change the queue makes, and why. Nothing else moves a task.
TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        ("queued", "running"),  # a worker fetched it
        ("queued", "cancelled"),  # a user cancelled it, or its watch can never be met
        ("running", "succeeded"),  # its attempt ended with exit status 0
        ("running", "queued"),  # its attempt failed or lost its lease, attempts remain
        ("running", "failed"),  # its attempt failed or lost its lease, none remain: given up
    }
)


def allowed(current: str, to: str) -> bool:
    return (current, to) in TRANSITIONS


def after_attempt(outcome: Outcome, attempts: int, max_attempts: int) -> TaskState:
    """The state a running task goes to when its attempt number ``attempts`` ends so."""
    if outcome == "succeeded":
        return "succeeded"
    if outcome == "cancelled":
        return "cancelled"
    return "queued" if attempts < max_attempts else "failed"


def lease_expired(expires: datetime | None, now: datetime) -> bool:
    """A lease with no expiry is no lease (a task never fetched): nothing to recover."""
    return expires is not None and expires < now


def can_edit(state: str, started: bool) -> bool:
    """Only a task that never started may change: a retry must run what the first attempt ran."""
    return state == "queued" and not started


def can_cancel(state: str) -> bool:
    """Running tasks are their worker's to end (a worker's cancel comes later); ended are ended."""
    return state == "queued"


def watch_outcome(watch: WatchState, upstream_state: str, upstream_started: bool) -> str:
    """``go`` when the upstream reached the watched state, ``never`` when it ended without and
    so cannot any more (Mitosis left such a task waiting forever), else ``wait``."""
    reached = {
        "started": upstream_started,
        "succeeded": upstream_state == "succeeded",
        "failed": upstream_state == "failed",
        "ended": upstream_state in TERMINAL,
    }[watch]
    if reached:
        return "go"
    return "never" if upstream_state in TERMINAL else "wait"


# --- submissions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watch:
    """Hold a task until the task ``upstream`` (its uuid) reaches ``state``."""

    upstream: str
    state: WatchState = "succeeded"


@dataclass(frozen=True)
class TaskSpec:
    """One task to submit. ``command`` is argv (no shell); ``env`` reaches it as environment."""

    command: list[str]
    group_id: int
    creator_id: int
    tags: list[str] = field(default_factory=list)
    labels: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    priority: int = 0
    timeout: float | None = None
    max_attempts: int = 3
    local_path: str | None = None
    watch: Watch | None = None
    #: The client's own name for the task, unique in its group: a batch sent again after a
    #: lost answer does not queue the same task twice (docs/coordinator.md, "When things die").
    key: str | None = None
    #: The suite the task joins (its row id; issue 14), None for a lone task.
    suite_id: int | None = None


#: The longest task key (characters).
MAX_KEY = 200


def key_problem(key: object) -> str | None:
    """Why ``key`` cannot name a task (None: it can, or there is none)."""
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY or "\x00" in key:
        return f"key must be a string of 1 to {MAX_KEY} characters without NUL"
    return None


def repeated_keys(specs: Sequence[TaskSpec]) -> dict[int, int]:
    """Tasks of a batch whose key an earlier one of the same group has: index → the first's
    index (refused: only one of them could be queued, and which is the client's to say)."""
    first: dict[tuple[int, str], int] = {}
    repeated: dict[int, int] = {}
    for index, spec in enumerate(specs):
        if spec.key is None:
            continue
        seen = first.setdefault((spec.group_id, spec.key), index)
        if seen != index:
            repeated[index] = seen
    return repeated


def local_path_problem(path: str) -> str | None:
    """Why ``path`` cannot be where a task's files go on a worker (None: it can). It is joined
    under the worker's folder, so it must stay there: relative, no ``..``, no NUL."""
    if not path or "\x00" in path:
        return "local_path must be a non-empty path without NUL characters"
    if PurePosixPath(path).is_absolute() or PureWindowsPath(path).anchor:
        return f"local_path {path[:80]!r} is absolute; give a path relative to the task's folder"
    if ".." in re.split(r"[\\/]", path):
        return f"local_path {path[:80]!r} contains '..'; it must stay inside the task's folder"
    return None


def _int_problem(name: str, value: object, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{name} must be a whole number, got {type(value).__name__}"
    if not low <= value <= high:
        return f"{name} {value} is outside {low}..{high}"
    return None


def _command_problem(command: object) -> str | None:
    if not isinstance(command, list) or not command:
        return "command must be a non-empty list of strings (argv; no shell)"
    if not all(isinstance(part, str) and "\x00" not in part for part in command):
        return "command's items must be strings without NUL characters"
    if sum(len(part.encode()) for part in command) > MAX_COMMAND:
        return f"command is longer than {MAX_COMMAND} bytes"
    return None


def strings_problem(name: str, values: object) -> str | None:
    if not isinstance(values, list) or not all(
        isinstance(value, str) and value and "\x00" not in value for value in values
    ):
        return f"{name} must be a list of non-empty strings"
    return None


def _env_problem(env: object) -> str | None:
    if not isinstance(env, dict):
        return "env must be a mapping of NAME to string"
    for name, value in env.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            return f"env name {str(name)[:40]!r} is not a variable name (letters, digits, _)"
        if not isinstance(value, str) or "\x00" in value:
            return f"env {name} must be a string without NUL characters"
    return None


def _limits_problem(spec: TaskSpec) -> str | None:
    if spec.timeout is not None and (
        isinstance(spec.timeout, bool)
        or not isinstance(spec.timeout, int | float)
        or not 0 < spec.timeout < 10**9
    ):
        return f"timeout must be a positive number of seconds, got {spec.timeout!r}"
    return _int_problem("priority", spec.priority, *INT32) or _int_problem(
        "max_attempts", spec.max_attempts, 1, MAX_ATTEMPTS
    )


def _watch_problem(watch: Watch | None) -> str | None:
    if watch is None:
        return None
    if watch.state not in WATCH_STATES:
        return f"watch state {str(watch.state)[:40]!r} is none of {', '.join(WATCH_STATES)}"
    return uuid_problem(watch.upstream, "watch upstream")


def json_problem(name: str, value: object, *, mapping: bool = False) -> str | None:
    """Why ``value`` cannot be stored as JSONB (None: it can). PostgreSQL's JSONB refuses
    the NUL character, so it is refused here with a message rather than there with a 500."""
    if mapping and not isinstance(value, dict):
        return f"{name} must be a JSON object"
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        return f"{name} is not JSON: {str(error)[:80]}"
    if "\\u0000" in text:
        return f"{name} must not contain NUL characters"
    return None


def spec_problem(spec: TaskSpec) -> str | None:
    """The first thing wrong with a submission (None: it can be queued)."""
    return (
        _int_problem("group_id", spec.group_id, 0, 2**62)
        or _int_problem("creator_id", spec.creator_id, 0, 2**62)
        or _command_problem(spec.command)
        or strings_problem("tags", spec.tags)
        or json_problem("labels", spec.labels, mapping=True)
        or _env_problem(spec.env)
        or _limits_problem(spec)
        or (local_path_problem(spec.local_path) if spec.local_path is not None else None)
        or _watch_problem(spec.watch)
        or key_problem(spec.key)
    )


def uuid_problem(value: object, what: str = "task id") -> str | None:
    try:
        uuidlib.UUID(str(value))
    except ValueError:
        return f"{what} {str(value)[:40]!r} is not a task uuid"
    return None


def checked_uuid(value: str, what: str = "task id") -> str:
    problem = uuid_problem(value, what)
    if problem:
        raise BadRequest(problem, hint="task ids are uuids as submit returned them")
    return str(uuidlib.UUID(value))


# --- queries -----------------------------------------------------------------------------------

_CONDITION = re.compile(r"\s*(>=|<=|!=|=|>|<)?\s*(-?\d+)\s*\Z")


def int_condition(text: str | int, what: str) -> tuple[str, int]:
    """``">=3"``, ``"<5"``, ``"!=0"``, ``"=2"`` or a bare number as (operator, number)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return "=", text
    found = _CONDITION.match(str(text))
    if not found or _int_problem(what, int(found.group(2)), *INT32):
        raise BadRequest(
            f"{what} {str(text)[:40]!r} is no condition",
            hint='give a number, or one with an operator: ">=3", "<5", "!=0", "=2"',
        )
    return found.group(1) or "=", int(found.group(2))


@dataclass(frozen=True)
class TaskFilter:
    """Which tasks a query, a count or a cancel means. Empty fields do not filter. Tags and
    labels match by containment: a task matches when it has all the given ones (and more)."""

    group_ids: Sequence[int] | None = None
    creator_ids: Sequence[int] | None = None
    states: Sequence[str] | None = None
    tags: Sequence[str] | None = None
    labels: Mapping[str, Any] | None = None
    exit_status: str | int | None = None
    priority: str | int | None = None
    uuids: Sequence[str] | None = None


def _any_of(
    column: str, values: Sequence[Any] | None, key: str, cast: str = ""
) -> tuple[str, dict[str, Any]]:
    if values is None:
        return "", {}
    return f"{column} = ANY(%({key})s{cast})", {key: list(values)}


def _numeric(column: str, value: str | int | None, key: str) -> tuple[str, dict[str, Any]]:
    if value is None:
        return "", {}
    operator, number = int_condition(value, column)
    # The operator is one of six fixed strings matched above, never the user's text.
    sql_operator = "<>" if operator == "!=" else operator
    return f"{column} {sql_operator} %({key})s", {key: number}


def _listed(values: object) -> object:
    """A tuple as a list; anything else (a bare string) as it is, to be refused."""
    return list(values) if isinstance(values, tuple) else values


def where_clause(chosen: TaskFilter) -> tuple[str, dict[str, Any]]:
    """The WHERE clause (with named psycopg parameters) of a filter. Values are always bound
    parameters; only fixed column names and operators are written into the text."""
    problem = (
        strings_problem("tags", _listed(chosen.tags)) if chosen.tags is not None else None
    ) or (
        json_problem("labels", chosen.labels, mapping=True) if chosen.labels is not None else None
    )
    if problem:
        raise BadRequest(problem, hint="tags: a list of strings; labels: a JSON object")
    bad = [state for state in chosen.states or () if state not in TASK_STATES]
    if bad:
        raise BadRequest(
            f"state {bad[0][:40]!r} is no task state",
            hint=f"states are: {', '.join(TASK_STATES)}",
        )
    uuids = [checked_uuid(value) for value in chosen.uuids] if chosen.uuids is not None else None
    parts = [
        _any_of("group_id", chosen.group_ids, "groups"),
        _any_of("creator_id", chosen.creator_ids, "creators"),
        _any_of("state", chosen.states, "states"),
        _any_of("uuid", uuids, "uuids", "::uuid[]"),
        ("tags @> %(tags)s::text[]", {"tags": list(chosen.tags)}) if chosen.tags else ("", {}),
        ("labels @> %(labels)s::jsonb", {"labels": json.dumps(dict(chosen.labels))})
        if chosen.labels
        else ("", {}),
        _numeric("exit_status", chosen.exit_status, "exit_status"),
        _numeric("priority", chosen.priority, "priority"),
    ]
    clauses = [sql for sql, _ in parts if sql]
    params = {key: value for _, bound in parts for key, value in bound.items()}
    return (" AND ".join(clauses) if clauses else "TRUE"), params


def page(limit: int, offset: int) -> tuple[int, int]:
    """A query's page, checked: 1..MAX_LIMIT rows from offset ≥ 0."""
    problem = _int_problem("limit", limit, 1, MAX_LIMIT) or _int_problem("offset", offset, 0, 2**62)
    if problem:
        raise BadRequest(problem, hint=f"limit is 1..{MAX_LIMIT}; page on with offset")
    return limit, offset


def tail(text: str | None, keep: int) -> str | None:
    """The last ``keep`` characters of a task's output: what a user looks at first. A NUL
    (which PostgreSQL's text cannot hold) shows as U+FFFD."""
    if text is None:
        return None
    return text[-keep:].replace("\x00", "\ufffd")


def report_problem(exit_status: object, result: object) -> str | None:
    """What is wrong with a worker's report (None: it can be recorded)."""
    return _int_problem("exit_status", exit_status, *INT32) or (
        json_problem("result", result) if result is not None else None
    )
