"""The MCP server built from the tool registry, on the official SDK's :class:`MCPServer`.

Each tool function is wrapped once: the wrapper's signature is the function's own minus ``ops``
and ``report`` (its input schema), plus the SDK's Context; its return type is
``Annotated[CallToolResult, Model]`` where Model describes the record the function returns (its
output schema). Per call the wrapper runs the function in a worker thread over a fresh
``shipyard.connect(home)`` — the store connection is opened and closed in that thread — and
answers with the record's stable JSON form (:func:`shipyard.models.to_jsonable`, as ``--json``
prints it) as structured content. A :class:`ShipyardError` becomes a tool error (isError) whose
text is the message and its hint, so the assistant reads what to do next.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import threading
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, RootModel, create_model

from shipyard.errors import ShipyardError
from shipyard.mcpserver.outputs import OutputRule
from shipyard.mcpserver.toolkit import CallCancelled, Reporter, ToolSpec, registered

INSTRUCTIONS = (
    "Shipyard deploys, runs and watches pipelines and fleets from YAML specs. A pipeline_name "
    "is a registered pipeline (pipelines_list), a spec path, or index:REPO/NAME "
    "(index_templates). run_pipeline waits for the end with progress notifications unless "
    "background=true; then poll get_pipeline_status. Logs are also resources: "
    "shipyard://executions/{execution_id}/logs/{unit}."
)

#: The resource template of a unit's log (its last lines).
LOG_URI = "shipyard://executions/{execution_id}/logs/{unit}"
LOG_RESOURCE_LINES = 2000


def build_server(home: Path | None) -> MCPServer[Any]:
    """The server over the Shipyard whose state is in ``home`` (every tool, the log resource)."""
    from shipyard import __version__

    server: MCPServer[Any] = MCPServer(
        "shipyard", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    for spec in registered():
        server.add_tool(
            wrap(spec, home),
            name=spec.name,
            title=spec.title,
            annotations=ToolAnnotations(title=spec.title, **spec.kind.hints()),
        )
    _add_log_resource(server, home)
    return server


def wrap(spec: ToolSpec, home: Path | None) -> Callable[..., Any]:
    """The async tool the SDK registers for ``spec`` (see the module's docstring)."""
    signature = inspect.signature(spec.fn, eval_str=True)
    wants_report = "report" in signature.parameters
    # A parameter named ``files`` receives where outputs may be written (mcpserver.outputs).
    files = OutputRule.for_server(home) if "files" in signature.parameters else None
    inputs = [
        p for name, p in signature.parameters.items() if name not in ("ops", "report", "files")
    ]
    model, wrapped = output_model(spec.name, signature.return_annotation)

    async def tool(ctx: Context, **arguments: Any) -> CallToolResult:
        report = reporter(ctx) if wants_report else None
        given = {**arguments, "files": files} if files is not None else arguments
        call = functools.partial(_call, spec, home, given, report, wrapped)
        try:
            # abandon_on_cancel: a cancelled call returns at once; the Reporter's event then
            # ends the thread's wait at its next pause.
            return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        finally:
            if report is not None:
                report.cancelled.set()

    context = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)
    returns = Annotated[CallToolResult, model]
    tool.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*inputs, context], return_annotation=returns
    )
    tool.__annotations__ = {p.name: p.annotation for p in inputs} | {
        "ctx": Context,
        "return": returns,
    }
    tool.__name__ = tool.__qualname__ = spec.name
    tool.__doc__ = spec.fn.__doc__
    return tool


def output_model(name: str, hint: Any) -> tuple[type[BaseModel], bool]:
    """The model of a tool's structured output, and whether it wraps the value as
    ``{"result": ...}`` (anything but a record: MCP's structured content is an object)."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return RootModel[hint], False
    if typing.get_origin(hint) is dict:
        return RootModel[hint], False
    return create_model(f"{name}_output", result=(hint, ...)), True


def reporter(ctx: Context) -> Reporter:
    """A Reporter for the worker thread: each report is sent from the event loop."""
    cancelled = threading.Event()

    def send(done: float, total: float | None, message: str | None) -> None:
        try:
            anyio.from_thread.run(ctx.report_progress, done, total, message)
        except Exception:
            # The call ended (cancelled) between the check and the send: nobody listens.
            if not cancelled.is_set():
                raise

    return Reporter(send, cancelled)


def _call(
    spec: ToolSpec,
    home: Path | None,
    arguments: dict[str, Any],
    report: Reporter | None,
    wrapped: bool,
) -> CallToolResult:
    from shipyard import connect
    from shipyard.models import to_jsonable

    extra = {"report": report} if report is not None else {}
    try:
        ops = connect(home)
        try:
            value = spec.fn(ops, **extra, **arguments)
        finally:
            ops.close()
    except ShipyardError as error:
        return error_result(error)
    except CallCancelled:
        return error_result(ShipyardError("the call was cancelled before it ended"))
    data = to_jsonable(value)
    structured = {"result": data} if wrapped else data
    text = json.dumps(data, indent=2)
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=structured
    )


def error_result(error: ShipyardError) -> CallToolResult:
    """A tool error an assistant can act on: what is wrong, then what to do."""
    text = f"error: {error.message}" + (f"\nhint: {error.hint}" if error.hint else "")
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def _add_log_resource(server: MCPServer[Any], home: Path | None) -> None:
    @server.resource(
        LOG_URI,
        name="unit_log",
        title="A unit's log",
        description=f"The last {LOG_RESOURCE_LINES} lines of one unit's log in an execution.",
        mime_type="text/plain",
    )
    async def unit_log(execution_id: str, unit: str) -> str:
        return await anyio.to_thread.run_sync(read_log, home, execution_id, unit)


def read_log(home: Path | None, execution_id: str, unit: str) -> str:
    """A unit's log as text (a ShipyardError becomes the SDK's resource error)."""
    from mcp.server.mcpserver.exceptions import ResourceError

    from shipyard import connect

    ops = connect(home)
    try:
        lines = ops.logs(execution_id, unit, tail=LOG_RESOURCE_LINES)
        return "".join(line.text + "\n" for line in lines)
    except ShipyardError as error:
        raise ResourceError(error.render()) from None
    finally:
        ops.close()
