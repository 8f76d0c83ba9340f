"""A node manager's line to the coordinator (managerprotocol.py): registration over HTTP, then
a WebSocket to ``/ws/managers`` held by a thread of its own that reconnects with backoff
(1 → 60 s) and reads every frame — replies matched to their request by id, pushes handed on.

A request waits for its reply at most ``REQUEST_TIMEOUT``; while the socket is down (or the
reply does not come) the same request goes as ``POST /api/v1/managers/messages``, so the socket
is an optimisation, never a requirement (the protocol's requests are idempotent where a lost
reply could send one twice).
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from shipyard.coordinator.managerprotocol import (
    INCOMING,
    Error,
    RegisterBody,
    Registered,
)
from shipyard.coordinator.resilience import TRANSIENT
from shipyard.errors import CoordinatorError
from shipyard.manager.decisions import reconnect_delay

if TYPE_CHECKING:
    import httpx
    from websockets.sync.client import ClientConnection

#: How long a request waits for its reply on the socket before it goes over HTTP (seconds).
REQUEST_TIMEOUT = 30.0
#: Where a manager token comes from, said when one is refused.
ISSUE_HINT = (
    "set $SHIPYARD_MANAGER_TOKEN to a token of POST /api/v1/groups/{group}/managers "
    "(a group member with Write issues it)"
)


class ChannelError(CoordinatorError):
    """The coordinator refused a request (its status and words), or cannot be reached (0)."""

    status: int = 0

    @property
    def transient(self) -> bool:
        """Waiting may change the answer (the coordinator or its database is away)."""
        return self.status in TRANSIENT


def _error(status: int, msg: str, hint: str | None, what: str) -> ChannelError:
    error = ChannelError(f"{what}: {status} {msg}", hint=hint)
    error.status = status
    return error


@dataclass
class _Waiting:
    done: threading.Event = field(default_factory=threading.Event)
    reply: Any = None


@dataclass
class Channel:
    server: str
    token: str
    group: str
    #: Called with each push (SuiteAvailable, CancelSuite, Shutdown), on the reader thread.
    on_push: Callable[[BaseModel], None]
    #: Called on the connection thread after each (re)connect (the heartbeat at once).
    on_connect: Callable[[], None]
    say: Callable[[str], None]
    draw: Callable[[], float] = random.random
    request_timeout: float = REQUEST_TIMEOUT
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _waiting: dict[int, _Waiting] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _socket: ClientConnection | None = None
    _closed: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _http: httpx.Client | None = None
    ws_path: str = "/ws/managers"
    #: Each request's seconds to its reply, by type, and how many went over HTTP (--stats).
    timings: dict[str, list[float]] = field(default_factory=dict)
    over_http: dict[str, int] = field(default_factory=dict)

    # --- HTTP ---

    def _client(self) -> httpx.Client:
        import httpx

        if self._http is None:
            self._http = httpx.Client(
                base_url=self.server.rstrip("/") + "/api/v1",
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=self.request_timeout + 5,
            )
        return self._http

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        import httpx

        try:
            answer = self._client().post(path, json=body)
        except httpx.TransportError as error:
            raise _error(0, f"the coordinator at {self.server} does not answer: {error}",
                         "check --server and that shipyard serve --db runs there",
                         f"POST {path}") from None  # fmt: skip
        try:
            data = answer.json()
        except ValueError:
            data = {"msg": answer.text[:200]}
        return answer.status_code, data

    def register(self, body: RegisterBody) -> Registered:
        """``POST /api/v1/managers`` (not retried: a coordinator that never answered is a
        wrong --server, said at once)."""
        status, data = self._post("/managers", body.model_dump())
        if status >= 400:
            data = data if isinstance(data, dict) else {}
            hint = data.get("hint")
            if status in (401, 403) and not hint:
                hint = ISSUE_HINT.format(group=self.group)
            raise _error(status, str(data.get("msg") or data.get("detail")),
                         hint, "POST /api/v1/managers")  # fmt: skip
        registered = Registered.model_validate(data)
        if registered.group != self.group:
            raise _error(
                400, f"the token is a manager's of group {registered.group!r}, not {self.group!r}",
                "issue a manager token for that group (POST /api/v1/groups/G/managers)",
                "POST /api/v1/managers",
            )  # fmt: skip
        self.ws_path = registered.websocket_url or self.ws_path
        return registered

    def refresh_token(self, lifetime: int) -> tuple[str, int]:
        """``POST /api/v1/managers/refresh-token``: a new token of ``lifetime`` seconds and
        its expiry; then :meth:`use_token` it."""
        status, data = self._post("/managers/refresh-token", {"lifetime_seconds": lifetime})
        if status >= 400:
            data = data if isinstance(data, dict) else {}
            hint = data.get("hint") or (ISSUE_HINT.format(group=self.group)
                                        if status in (401, 403) else None)  # fmt: skip
            raise _error(status, str(data.get("msg") or data.get("detail")), hint,
                         "POST /api/v1/managers/refresh-token")  # fmt: skip
        return str(data["token"]), int(data["expires_at"])

    def use_token(self, token: str) -> None:
        """Send ``token`` from now on: HTTP at once, and the socket reconnects with it (a
        socket is authenticated once, when it opens)."""
        self.token = token
        if self._http is not None:
            self._http.headers["Authorization"] = f"Bearer {token}"
        socket = self._socket
        if socket is not None:
            socket.close()

    # --- the socket ---

    def start(self) -> None:
        self._thread = threading.Thread(target=self._hold_socket, daemon=True, name="channel")
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        socket = self._socket
        if socket is not None:
            socket.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._http is not None:
            self._http.close()

    @property
    def connected(self) -> bool:
        return self._socket is not None

    def _ws_url(self) -> str:
        base = self.server.rstrip("/")
        scheme, rest = base.split("://", 1)
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{self.ws_path}"

    def _hold_socket(self) -> None:
        from websockets.sync.client import connect

        failures = 0
        while not self._closed.is_set():
            try:
                socket = connect(self._ws_url(), additional_headers={
                    "Authorization": f"Bearer {self.token}"}, open_timeout=10)  # fmt: skip
            except Exception as error:
                failures += 1
                wait = reconnect_delay(failures, self.draw())
                if failures == 1:
                    self.say(f"cannot open the WebSocket ({error}); trying again "
                             f"in {wait:.1f} s (HTTP meanwhile)")  # fmt: skip
                self._closed.wait(wait)
                continue
            if failures:
                self.say(f"WebSocket open again after {failures} failed tries")
            failures = 0
            self._socket = socket
            threading.Thread(target=self._connected, daemon=True).start()
            self._read(socket)
            self._socket = None
            if not self._closed.is_set():
                self.say("WebSocket closed; reconnecting (HTTP meanwhile)")
                failures = 1
                self._closed.wait(reconnect_delay(failures, self.draw()))

    def _connected(self) -> None:
        try:
            self.on_connect()
        except ChannelError as error:
            self.say(f"heartbeat after connecting: {error.message}")

    def _read(self, socket: ClientConnection) -> None:
        try:
            for frame in socket:
                self._take(frame)
        except Exception:  # noqa: S110  (the socket closed or broke: reconnect)
            pass
        finally:
            socket.close()

    def _take(self, frame: str | bytes) -> None:
        try:
            message = INCOMING.validate_json(frame)
        except ValidationError as error:
            self.say(f"a message from the coordinator not understood: {error.errors()[0]}")
            return
        number = getattr(message, "id", None)
        if number is None and not isinstance(message, Error):
            self.on_push(message)
            return
        with self._lock:
            waiting = self._waiting.get(number) if number is not None else None
        if waiting is not None:
            waiting.reply = message
            waiting.done.set()
        elif isinstance(message, Error):
            self.say(f"the coordinator: {message.status} {message.msg}")

    # --- requests ---

    def request(self, message: BaseModel) -> BaseModel:
        """Send a request (its ``id`` is set here) and return the reply; a refusal (an
        ``error`` reply) or no way to reach the coordinator raises ChannelError."""
        number = next(self._ids)
        body = message.model_dump() | {"id": number}
        started = time.perf_counter()
        reply = self._over_socket(number, body)
        if reply is None:
            self.over_http[body["type"]] = self.over_http.get(body["type"], 0) + 1
            reply = self._over_http(body)
        self.timings.setdefault(body["type"], []).append(time.perf_counter() - started)
        if isinstance(reply, Error):
            raise _error(reply.status, reply.msg, reply.hint, f"{body['type']}")
        return reply

    def _over_socket(self, number: int, body: dict[str, Any]) -> BaseModel | None:
        socket = self._socket
        if socket is None:
            return None
        waiting = _Waiting()
        with self._lock:
            self._waiting[number] = waiting
        try:
            socket.send(json.dumps(body))
            if not waiting.done.wait(self.request_timeout):
                return None
            reply: BaseModel = waiting.reply
            return reply
        except Exception:
            return None
        finally:
            with self._lock:
                self._waiting.pop(number, None)

    def _over_http(self, body: dict[str, Any]) -> BaseModel:
        status, data = self._post("/managers/messages", body)
        if status >= 400 and not (isinstance(data, dict) and data.get("type") == "error"):
            data = data if isinstance(data, dict) else {}
            hint = data.get("hint")
            if status in (401, 403) and not hint:
                hint = ISSUE_HINT.format(group=self.group)
            raise _error(status, str(data.get("msg") or data.get("detail")), hint, body["type"])
        try:
            reply: BaseModel = INCOMING.validate_python(data)
        except ValidationError as error:
            raise _error(502, f"an answer not understood: {error.errors()[0]}", None,
                         body["type"]) from None  # fmt: skip
        return reply


def _summary(seconds: list[float]) -> dict[str, Any]:
    """How many, and p50, p95 (nearest rank) and max in ms."""
    ordered = sorted(seconds)
    last = len(ordered) - 1
    return {
        "count": len(ordered),
        "p50_ms": 1000 * ordered[min(last, int(0.5 * len(ordered)))],
        "p95_ms": 1000 * ordered[min(last, int(0.95 * len(ordered)))],
        "max_ms": 1000 * ordered[last],
    }


def request_stats(timings: dict[str, list[float]], over_http: dict[str, int]) -> dict[str, Any]:
    """``shipyard manager --stats FILE``'s content: per request type, how many were answered,
    how many went over HTTP, and the time to the reply in ms (p50, p95: nearest rank; max)."""
    summary: dict[str, Any] = {}
    for kind, seconds in sorted(timings.items()):
        summary[kind] = {"over_http": over_http.get(kind, 0)} | _summary(seconds)
    return {"requests": summary}


def wait_stats(waits: list[float]) -> dict[str, Any]:
    """The managed workers' part of ``--stats``: each task's wait, from a worker asking its
    manager for a task (over the local socket) to getting one — what the prefetch buffer
    serves — counted, p50, p95, max in ms (``{}``: no task was handed out)."""
    return {"task_wait": _summary(waits)} if waits else {}
