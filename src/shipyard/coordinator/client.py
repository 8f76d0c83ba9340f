"""A user's client of the coordinator's routes (docs/coordinator.md "Served"): log in, make a
group and worker tokens, submit, query, read results, cancel — what ``shipyard tasks`` and the
cluster demo (scripts/cluster_demo.py) need, over httpx.

Refusals come back as the ``ShipyardError`` of their status (400 ``BadRequest``, 404
``NotFound``, 409 ``Conflict``, 503 ``DatabaseUnavailable``; 401/403 ``CoordinatorError``)
with the server's ``msg`` and ``hint``; a server that does not answer is one message too
(:class:`NoAnswer`).

A submit whose tasks all carry a ``key`` is sent again when its answer is lost (no answer, 502,
503, 504): the coordinator queues only the keys it does not have yet and names the tasks that
hold the others, so a batch sent twice queues its tasks once (:func:`resend_wait`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shipyard.coordinator.resilience import TRANSIENT, backoff_delay
from shipyard.errors import (
    BadRequest,
    Conflict,
    CoordinatorError,
    DatabaseUnavailable,
    NotFound,
)
from shipyard.wording import counted

if TYPE_CHECKING:
    import httpx

_BY_STATUS: dict[int, type[CoordinatorError]] = {
    400: BadRequest,
    404: NotFound,
    409: Conflict,
    422: BadRequest,
    503: DatabaseUnavailable,
}
#: Every state a task can be in, in the order a summary shows them.
STATES = ("queued", "running", "succeeded", "failed", "cancelled")
#: Routes whose path names no task, group or user: a 404 there means no coordinator.
_FIXED_ROUTES = frozenset({"/login", "/groups", "/tasks/batch", "/tasks/query", "/tasks/cancel"})
#: The most tasks one batch request takes (routes.MAX_BATCH).
BATCH = 10_000
#: The most bytes of tasks one batch request carries: half the server's bound on a body
#: (server/limits.py MAX_BODY, 32 MiB), so 10,000 tasks of long commands go in several.
BATCH_BYTES = 16 * 1024 * 1024


#: How many times one batch of keyed tasks is sent in all before its error is the user's.
SEND_TRIES = 4
#: The first wait before a batch is sent again (seconds), doubled each time up to RESEND_CAP:
#: a coordinator restarting or a proxy's hiccup is over in seconds, and a user waits at the
#: terminal (at most ~0.5 + 1 + 2 s in all, jittered into their upper halves).
RESEND_BASE = 0.5
RESEND_CAP = 4.0


class NoAnswer(CoordinatorError):
    """The coordinator did not answer. ``connected``: the request may have reached it (the
    connection was made, the answer lost); False: nothing was sent (refused, unknown host)."""

    http_status = 0

    def __init__(self, message: str, *, hint: str | None = None, connected: bool) -> None:
        super().__init__(message, hint=hint)
        self.connected = connected


def resend_wait(
    status: int, *, keyed: bool, reached: bool, tries: int, draw: float
) -> float | None:
    """After try ``tries`` (1…) of a batch failed with ``status`` (0: no answer), the seconds to
    wait before sending it again, or None: give up and raise.

    Sent again only when every task has a key (without one, the lost request may have queued
    them, and a resend would queue them twice), only while the answer says "not now" (no
    answer, 429, 502, 503, 504: resilience.TRANSIENT), and only to a coordinator ``reached``
    (the connection was made, or it answered before): a ``--server`` nothing listens on is a
    mistake, said at once. ``draw`` is uniform in [0, 1) (resilience.backoff_delay's jitter).
    """
    if not keyed or status not in TRANSIENT or not reached or tries >= SEND_TRIES:
        return None
    return backoff_delay(tries, draw, base=RESEND_BASE, cap=RESEND_CAP)


def batches(
    tasks: list[dict[str, Any]], most: int = BATCH, most_bytes: int = BATCH_BYTES
) -> list[tuple[int, int]]:
    """``(start, end)`` of each batch request: at most ``most`` tasks and, past the first
    task, at most ``most_bytes`` of their JSON (a single task larger than that goes alone)."""
    import json

    found: list[tuple[int, int]] = []
    start, size = 0, 0
    for index, task in enumerate(tasks):
        length = len(json.dumps(task)) + 1
        if index > start and (index - start >= most or size + length > most_bytes):
            found.append((start, index))
            start, size = index, 0
        size += length
    if start < len(tasks):
        found.append((start, len(tasks)))
    return found


def refusal(method: str, path: str, status: int, data: dict[str, Any]) -> CoordinatorError:
    """The error a refused request raises: its class from the status, the server's words."""
    message = str(data.get("msg") or data.get("detail") or _phrase(status))
    hint = data.get("hint")
    if status == 401 and path == "/login":
        # Who is logging in has no token to renew: the name or the password is what to check.
        hint = hint or "check the name, and the password in $SHIPYARD_PASSWORD (or the prompt's)"
    elif status == 401:
        hint = hint or "log in again: shipyard tasks login NAME, then set $SHIPYARD_TOKEN"
    if status == 404 and path in _FIXED_ROUTES and data.get("error") in (None, "http"):
        # ("error": "http" is the framework's "no such route"; a coordinator's own 404 — an
        # unknown group — names its class there and carries its own hint.)
        # These routes name nothing that could be missing: the server has no coordinator.
        hint = "this server serves no coordinator: start it with shipyard serve --db postgresql://…"
    error = _BY_STATUS.get(status, CoordinatorError)(
        f"{method} {path}: {status} {message}", hint=str(hint) if hint else None
    )
    error.http_status = status
    return error


class CoordinatorClient:
    """One coordinator at ``url`` (``http://host:port``), as the holder of ``token``."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 60.0) -> None:
        import httpx

        from shipyard.serverurl import check_server_url

        self.url = check_server_url(url).rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url + "/api/v1", headers=headers, timeout=timeout)
        #: Whether the coordinator has answered this client (any status): resend_wait's reached.
        self._answered = False

    def __enter__(self) -> CoordinatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        import httpx

        try:
            answer = self._http.request(method, path, json=body)
        except httpx.TransportError as error:
            raise NoAnswer(
                f"the coordinator at {self.url} does not answer: {error or type(error).__name__}",
                hint="is `shipyard serve --db …` running there? ($SHIPYARD_SERVER names it)",
                connected=not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout),
            ) from None
        self._answered = True
        if answer.status_code >= 400:
            raise refusal(method, path, answer.status_code, _json_or_text(answer))
        return answer.json()

    # --- users, groups, tokens ---

    def login(self, name: str, password: str) -> str:
        answer = self.call("POST", "/login", {"name": name, "password": password})
        return str(answer["token"])

    def create_group(self, name: str) -> None:
        self.call("POST", "/groups", {"name": name})

    def worker_token(self, group: str) -> str:
        return str(self.call("POST", f"/groups/{group}/workers", {})["token"])

    # --- tasks ---

    def submit(
        self,
        tasks: list[dict[str, Any]],
        *,
        resent: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> dict[str, Any]:
        """``{accepted: [{index, uuid, existing}], refused: [{index, msg, status, uuid}]}``, in
        batches of ``BATCH``; a batch of keyed tasks whose answer was lost is sent again (each
        time said to ``resent``). A task whose key its group already has — queued by the lost
        send, or by an earlier submit of the same keys — is accepted with ``existing: true``
        and that task's uuid, not refused: it is the task asked for."""
        accepted: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        for start, end in batches(tasks):
            answer = self._send_batch(tasks[start:end], resent, sleep)
            for made in answer["accepted"]:
                accepted.append({**made, "index": made["index"] + start, "existing": False})
            for no in answer["refused"]:
                if no.get("status") == 409 and no.get("uuid"):  # its key: the task is there
                    accepted.append({"index": no["index"] + start, "uuid": no["uuid"],
                                     "existing": True})  # fmt: skip
                else:
                    refused.append({**no, "index": no["index"] + start})
        accepted.sort(key=lambda made: int(made["index"]))
        return {"accepted": accepted, "refused": refused}

    def _send_batch(
        self,
        batch: list[dict[str, Any]],
        resent: Callable[[str], None] | None,
        sleep: Callable[[float], None],
    ) -> dict[str, Any]:
        keyed = all(task.get("key") for task in batch)
        tries = 0
        while True:
            tries += 1
            try:
                answer: dict[str, Any] = self.call("POST", "/tasks/batch", {"tasks": batch})
            except CoordinatorError as error:
                reached = self._answered or getattr(error, "connected", True)
                draw = random.random()  # noqa: S311 (a jitter, not a secret)
                wait = resend_wait(error.http_status, keyed=keyed, reached=reached,
                                   tries=tries, draw=draw)  # fmt: skip
                if wait is None:
                    raise
                if resent is not None:
                    again = f"try {tries + 1} of {SEND_TRIES}"
                    tasks = counted(len(batch), "task")
                    resent(f"{error.message}; sending its {tasks} again with the "
                           f"same keys in {wait:.1f} s ({again})")  # fmt: skip
                sleep(wait)
                continue
            return answer

    def query(self, **fields: Any) -> dict[str, Any]:
        """``POST /tasks/query`` with the fields given (None left out)."""
        body = {key: value for key, value in fields.items() if value is not None}
        answer: dict[str, Any] = self.call("POST", "/tasks/query", body)
        return answer

    def count(self, group: str | None = None, states: list[str] | None = None) -> int:
        return int(self.query(group=group, states=states, count=True)["count"])

    def counts(self, group: str | None = None) -> dict[str, int]:
        """How many tasks are in each state (one query per state)."""
        return {state: self.count(group, [state]) for state in STATES}

    def result(self, uuid: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("GET", f"/tasks/{uuid}/result")
        return answer

    def cancel(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{uuids: [...]}`` or a filter ``{group, states?, tags?, …}``."""
        answer: dict[str, Any] = self.call("POST", "/tasks/cancel", body)
        return answer


def _phrase(status: int) -> str:
    """What an answer without a body says: its status's name (a proxy's bare 504)."""
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "no message"


def _json_or_text(answer: httpx.Response) -> dict[str, Any]:
    try:
        data = answer.json()
    except ValueError:
        return {"msg": answer.text[:200]}
    return data if isinstance(data, dict) else {"msg": str(data)[:200]}
