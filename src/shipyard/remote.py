"""The operations of a Shipyard server (``shipyard serve``), over HTTP: :class:`RemoteOperations`
implements :class:`shipyard.api.Operations` like :class:`shipyard.local.LocalOperations` does,
so every front end (the CLI with ``--server``, Python with ``connect(url=…)``) works against it.

Every call is ``POST /api/v1/ops/{name}`` with the arguments in their wire form
(:mod:`shipyard.wire`), generated from the protocol — no operation is written twice. A
ShipyardError the server raised is raised here again, of its own class, with its hint.

What differs from running in-process, on purpose:

* ``run``, ``up``, ``resume``, ``checkpoint_restore``, ``start`` and ``sweep`` without
  ``detach`` (or ``hold``) start the execution detached on the server and follow its events
  here until it ends, then return its final status — the server's threads are never tied for
  hours. Ctrl-C while following stops the execution (gracefully), as it would locally.
* A spec given as a path that exists here is sent as an absolute path when the server is on
  this machine (127.0.0.1), else as its text; folders and output paths are made absolute.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import time
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shipyard.errors import ShipyardError
from shipyard.serverurl import check_server_url
from shipyard.wire import decode, decode_error, encode, operation_names

if TYPE_CHECKING:
    import httpx

    from shipyard.models import ExecutionStatus

__all__ = ["TOKEN_VARIABLE", "RemoteOperations", "token_for_url"]

#: The bearer token, when the server's token file is not readable here.
TOKEN_VARIABLE = "SHIPYARD_TOKEN"  # noqa: S105  (a variable's name, not a secret)

#: Between two looks at a followed execution's events (the engine commits every 200 ms).
POLL = 0.1

#: Operations that drive an execution to its end unless told ``detach`` or ``hold``.
_DRIVEN = frozenset({"run", "up", "resume", "checkpoint_restore", "start"})


def token_for_url(url: str, token: str | None, home: str | Path | None) -> str | None:
    """The token to send: the one given, else ``$SHIPYARD_TOKEN``, else (a server on this
    machine) the token file the server wrote under the home."""
    check_server_url(url)  # before _is_local parses it
    if token:
        return token
    if os.environ.get(TOKEN_VARIABLE):
        return os.environ[TOKEN_VARIABLE]
    if not _is_local(url):
        return None
    from shipyard.server.auth import TOKEN_FILE, read_token
    from shipyard.workspace import Workspace

    where = Path(home) if home is not None else Workspace.default().home
    return read_token(where / TOKEN_FILE)


def _is_local(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


class RemoteOperations:
    """:class:`shipyard.api.Operations` of the server at ``url`` (``http://127.0.0.1:8420``)."""

    def __init__(self, url: str, *, token: str | None = None) -> None:
        import httpx

        check_server_url(url)
        self.url = url.rstrip("/")
        self._local = _is_local(url)
        self._names = frozenset(operation_names())
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # No read timeout: some operations wait (stop's grace, wait_healthy); a server that
        # dies closes the connection, which is an error here at once.
        timeout = httpx.Timeout(10.0, read=None)
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or name not in self._names:
            raise AttributeError(f"{name!r} is not an operation of shipyard.api.Operations")
        return functools.partial(self._call, name)

    # -- the calls --------------------------------------------------------------------------

    def _call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        signature, hints = _signature(name)
        bound = signature.bind(None, *args, **kwargs)  # None: the protocol's ``self``
        arguments = {key: value for key, value in bound.arguments.items() if key != "self"}
        arguments = self._placed(arguments)
        returned = hints["return"]
        if typing.get_origin(returned) is Iterator:
            return self._stream(name, self._sent(arguments, hints), typing.get_args(returned)[0])
        follow = name in _DRIVEN and not arguments.get("detach") and not arguments.get("hold")
        if name == "sweep" and not arguments.get("detach"):
            report = self._post(name, self._sent(arguments, hints), returned)
            return self._sweep_to_end(report.id)
        result = self._post(name, self._sent(arguments, hints), returned)
        if follow:
            return self._to_end(result)
        return result

    @staticmethod
    def _sent(arguments: dict[str, Any], hints: dict[str, Any]) -> dict[str, Any]:
        return {key: encode(value, hints[key]) for key, value in arguments.items()}

    def _post(self, name: str, body: dict[str, Any], returned: Any) -> Any:
        import httpx

        try:
            response = self._client.post(f"/api/v1/ops/{name}", json=body)
        except httpx.TransportError as error:
            raise self._unreachable(error) from None
        if response.status_code != 200:
            raise self._refusal(response.status_code, _json_of(response))
        return decode(response.json()["result"], returned)

    def _stream(self, name: str, body: dict[str, Any], hint: Any) -> Iterator[Any]:
        """The server's NDJSON lines, one item at a time as they come (a follow never ends
        early); a stream cut before its ``end`` line is an error, never a silent end."""
        import httpx

        try:
            with self._client.stream("POST", f"/api/v1/ops/{name}", json=body) as response:
                if response.status_code != 200:
                    response.read()
                    raise self._refusal(response.status_code, _json_of(response))
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    data = json.loads(line)
                    if "item" in data:
                        yield decode(data["item"], hint)
                    elif "error" in data:
                        raise self._refusal(data["error"].get("status", 400), data["error"])
                    else:
                        return
        except httpx.TransportError as error:
            raise self._unreachable(error) from None
        raise ShipyardError(
            f"the server at {self.url} closed the {name} stream before its end",
            hint="look at the server's log; the command can be run again",
        )

    def _unreachable(self, error: Exception) -> ShipyardError:
        return ShipyardError(
            f"cannot reach the Shipyard server at {self.url}: {error}",
            hint="is `shipyard serve` running there? (--server / $SHIPYARD_SERVER name it)",
        )

    def _refusal(self, status: int, data: dict[str, Any]) -> ShipyardError:
        if status == 401:
            return ShipyardError(
                f"the server at {self.url} refused the token: {data.get('msg', 'unauthorized')}",
                hint=f"give its token with --token or ${TOKEN_VARIABLE} (on the server's "
                "machine the CLI reads it from SHIPYARD_HOME/server.token)",
            )
        if isinstance(data.get("error"), str) and data["error"].startswith("shipyard."):
            return decode_error({**data, "message": data.get("msg", "")})
        return ShipyardError(
            f"the server at {self.url} answered {status}: {data.get('msg', 'no message')}",
            hint=data.get("hint") or "the server's log has the details",
        )

    # -- where paths point ----------------------------------------------------------------------

    def _placed(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Paths of this machine made meaningful on the server's (see the module's doc)."""
        placed = dict(arguments)
        spec = placed.get("spec")
        if spec is not None and placed.get("spec_text") is None and Path(spec).is_file():
            if self._local:
                placed["spec"] = str(Path(spec).resolve())
            else:
                placed["spec_text"] = Path(spec).read_text(encoding="utf-8")
        for key in ("folder", "path", "html", "chart"):
            # An empty one stays empty: the server says what is wrong with it, as locally.
            if self._local and isinstance(placed.get(key), str | Path) and str(placed[key]):
                placed[key] = str(Path(placed[key]).resolve())
        return placed

    # -- following to the end ---------------------------------------------------------------------

    def _to_end(self, status: ExecutionStatus) -> ExecutionStatus:
        """Wait until the execution the server started detached has ended; Ctrl-C stops it
        (its running steps signalled now, a second Ctrl-C kills them) and waits for that, as a
        foreground run in this process would."""
        stop = getattr(self, "stop")  # noqa: B009
        try:
            self._wait_finished(status.id)
        except KeyboardInterrupt:
            try:
                # As Ctrl-C of a run in this process: the running steps get their stop signal
                # now — stop's default grace let them run on for 30 s while the user waited.
                stop(status.id, reason="interrupted (Ctrl-C)", grace=0)
                self._wait_finished(status.id)
            except KeyboardInterrupt:  # a second Ctrl-C: everything killed at once
                stop(status.id, reason="interrupted (Ctrl-C) again: killing", force=True)
                self._wait_finished(status.id)
        final: ExecutionStatus = getattr(self, "status")(status.id)  # noqa: B009
        return final

    def _wait_finished(self, execution_id: str) -> None:
        cursor = 0
        while True:
            batch = getattr(self, "events")(execution_id, after=cursor)  # noqa: B009
            if batch.finished:
                return
            if batch.cursor == cursor:
                time.sleep(POLL)
            cursor = batch.cursor

    def _sweep_to_end(self, sweep_id: str) -> Any:
        sweep_status = getattr(self, "sweep_status")  # noqa: B009
        try:
            while (report := sweep_status(sweep_id)).state in ("pending", "running"):
                time.sleep(POLL * 5)
        except KeyboardInterrupt:
            getattr(self, "sweep_stop")(sweep_id)  # noqa: B009
            report = sweep_status(sweep_id)
        return report


@functools.cache
def _signature(name: str) -> tuple[inspect.Signature, dict[str, Any]]:
    """The operation's signature and hints, resolved with the names api.py has at run time
    first: ``status`` then needs only the records of shipyard.models, and a command like
    ``shipyard --server URL status`` does not import every result type's module (the spec
    models among them, ~190 ms measured); the others fall back to the full resolution."""
    from shipyard import api, wire

    function = getattr(api.Operations, name)
    try:
        return inspect.signature(function), typing.get_type_hints(function, vars(api))
    except NameError:
        return wire._signature(name)  # one resolver of the protocol's hints


def _json_of(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {"msg": response.text[:200]}
    return data if isinstance(data, dict) else {"msg": str(data)[:200]}


if TYPE_CHECKING:  # every member is forwarded (generated from the protocol), unseen by mypy
    from shipyard.api import Operations

    def _conforms(remote: RemoteOperations) -> Operations:
        return typing.cast("Operations", remote)
