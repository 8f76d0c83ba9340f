"""How a tool is declared: a plain function over :class:`shipyard.api.Operations`, its kind
(which sets the MCP annotations) and its place in the registry the server is built from.

A tool function's first parameter is ``ops`` (the server opens the Operations for each call);
a parameter named ``report`` receives a :class:`Reporter` — ``report(done, total, message)``
sends progress, ``report.sleep(seconds)`` waits between polls and ends the tool early once the
client has cancelled the call; a parameter named ``files`` receives the
:class:`shipyard.mcpserver.outputs.OutputRule` every path a tool writes goes through;
every other parameter is the tool's input, its type hint giving the input schema, and the
return hint the output schema. Tool functions are synchronous: the server runs each in a
worker thread, so a long wait never blocks the MCP session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

#: Sends one progress notification: ``(done, total, message)``.
Send = Callable[[float, float | None, str | None], None]


class CallCancelled(Exception):
    """The client cancelled the call (or the server gave up on it): stop waiting."""


class Reporter:
    """What a waiting tool uses: progress to the client, and the pause between two polls.

    The pause is where a cancelled call ends: the tool's thread stops polling at once instead
    of following a run the client no longer waits for (the run itself goes on, detached)."""

    def __init__(self, send: Send | None = None, cancelled: threading.Event | None = None) -> None:
        self._send = send
        self.cancelled = cancelled or threading.Event()

    def __call__(self, done: float, total: float | None, message: str | None) -> None:
        if self.cancelled.is_set():
            raise CallCancelled
        if self._send is not None:
            self._send(done, total, message)

    def sleep(self, seconds: float) -> None:
        if self.cancelled.wait(seconds):
            raise CallCancelled


class Kind(Enum):
    """What a tool does to the world; each maps to the MCP hints (none reaches outside this
    Shipyard: openWorldHint is False for every tool)."""

    READ = "read"  # reads only
    START = "start"  # starts new work or adds a record; calling again starts another
    CHANGE = "change"  # sets a value; calling again with the same input changes nothing more
    DESTROY = "destroy"  # stops, removes or overwrites; calling again changes nothing more
    DESTROY_ONCE = "destroy_once"  # destructive, and each call acts again (restart, purge)

    def hints(self) -> dict[str, bool]:
        read = self is Kind.READ
        destructive = self in (Kind.DESTROY, Kind.DESTROY_ONCE)
        idempotent = self in (Kind.READ, Kind.CHANGE, Kind.DESTROY)
        return {
            "read_only_hint": read,
            "destructive_hint": destructive,
            "idempotent_hint": idempotent,
            "open_world_hint": False,
        }


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    fn: Callable[..., Any]
    kind: Kind
    title: str


#: Every tool, in the order they are declared (the server lists them in this order).
REGISTRY: list[ToolSpec] = []


def tool(kind: Kind, title: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a tool named after its function."""

    def declare(fn: Callable[..., Any]) -> Callable[..., Any]:
        REGISTRY.append(ToolSpec(fn.__name__, fn, kind, title))
        return fn

    return declare


#: The modules that declare tools, in the order their tools are listed (the seed's twelve
#: first, integrate_python_api last of them).
TOOL_MODULES = ("seed_tools", "api_tool", "more_tools", "ml_tools")


def registered() -> list[ToolSpec]:
    """Every tool, the declaring modules imported first."""
    import importlib

    order = {name: index for index, name in enumerate(TOOL_MODULES)}
    for name in TOOL_MODULES:
        importlib.import_module(f"shipyard.mcpserver.{name}")
    return sorted(REGISTRY, key=lambda spec: order[spec.fn.__module__.rpartition(".")[2]])
