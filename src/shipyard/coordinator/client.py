"""A user's client of the coordinator's routes (docs/coordinator.md "Served"): log in, make a
group and worker tokens, submit, query, read results, cancel — what ``shipyard tasks`` and the
cluster demo (scripts/cluster_demo.py) need, over httpx.

Refusals come back as the ``ShipyardError`` of their status (400 ``BadRequest``, 404
``NotFound``, 409 ``Conflict``, 503 ``DatabaseUnavailable``; 401/403 ``CoordinatorError``)
with the server's ``msg`` and ``hint``; a server that does not answer is one message too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.errors import (
    BadRequest,
    Conflict,
    CoordinatorError,
    DatabaseUnavailable,
    NotFound,
)

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
    message = str(data.get("msg") or data.get("detail") or f"status {status}")
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
            raise CoordinatorError(
                f"the coordinator at {self.url} does not answer: {error}",
                hint="is `shipyard serve --db …` running there? ($SHIPYARD_SERVER names it)",
            ) from None
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

    def submit(self, tasks: list[dict[str, Any]]) -> dict[str, Any]:
        """``{accepted: [{index, uuid}], refused: [{index, msg}]}``, in batches of ``BATCH``."""
        accepted: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        for start, end in batches(tasks):
            answer = self.call("POST", "/tasks/batch", {"tasks": tasks[start:end]})
            accepted += [{**a, "index": a["index"] + start} for a in answer["accepted"]]
            refused += [{**r, "index": r["index"] + start} for r in answer["refused"]]
        return {"accepted": accepted, "refused": refused}

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


def _json_or_text(answer: httpx.Response) -> dict[str, Any]:
    try:
        data = answer.json()
    except ValueError:
        return {"msg": answer.text[:200]}
    return data if isinstance(data, dict) else {"msg": str(data)[:200]}
