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
import os
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
from pydantic import BaseModel, Field, RootModel, create_model

from shipyard.errors import ShipyardError
from shipyard.mcpserver import bounds
from shipyard.mcpserver.outputs import OutputRule
from shipyard.mcpserver.toolkit import CallCancelled, Kind, Reporter, ToolSpec, registered

INSTRUCTIONS = (
    "Shipyard deploys, runs and watches pipelines and fleets from YAML specs. A pipeline_name "
    "is a registered pipeline (pipelines_list), a spec path, or index:REPO/NAME "
    "(index_templates). run_pipeline waits for the end (wait_seconds, 20 s at most by "
    "default) with progress notifications unless background=true; then follow the run with "
    "get_pipeline_status(wait_seconds=…), which answers at the next change. A long answer is "
    "cut: truncated=true, a summary first, and next_cursor to pass as cursor for the rest. "
    "Destructive tools (stop, clean, down, remove…) only say what they would do unless "
    "given confirm=true. Executions, their specs and logs are also resources: "
    "shipyard://executions, shipyard://executions/{execution_id}, …/spec, …/logs/{unit}."
)

#: The kinds whose tools need ``confirm=true`` to act (their destructiveHint is true).
CONFIRMED = (Kind.DESTROY, Kind.DESTROY_ONCE)
CONFIRM_HELP = (
    "true to do it; without it (false, the default) nothing changes and the answer says what "
    "the call would do"
)


def build_server(
    home: Path | None, groups: tuple[str, ...] | None = None, *, read_only: bool = False
) -> MCPServer[Any]:
    """The server over the Shipyard whose state is in ``home``: the tools of ``groups`` (None:
    the default set; see :mod:`shipyard.mcpserver.toolsets`), only the read-only ones with
    ``read_only``; the resources, and the prompts whose tools are listed."""
    from shipyard import __version__
    from shipyard.mcpserver import context, toolsets

    server: MCPServer[Any] = MCPServer(
        "shipyard", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    tools = toolsets.select(registered(), groups, read_only=read_only)
    for spec in tools:
        server.add_tool(
            wrap(spec, home, read_only=read_only),
            name=spec.name,
            title=spec.title,
            annotations=ToolAnnotations(title=spec.title, **spec.kind.hints()),
        )
    context.add_resources(server, home)
    context.add_prompts(server, [spec.name for spec in tools])
    return server


def wrap(spec: ToolSpec, home: Path | None, *, read_only: bool = False) -> Callable[..., Any]:
    """The async tool the SDK registers for ``spec`` (see the module's docstring); with
    ``read_only`` (``shipyard mcp --read-only``) it writes no file (mcpserver.outputs)."""
    signature = inspect.signature(spec.fn, eval_str=True)
    wants_report = "report" in signature.parameters
    # A parameter named ``files`` receives where outputs may be written (mcpserver.outputs).
    files = (
        OutputRule.for_server(home, read_only=read_only)
        if "files" in signature.parameters
        else None
    )
    inputs = [
        p for name, p in signature.parameters.items() if name not in ("ops", "report", "files")
    ]
    model, wrapped = output_model(spec.name, signature.return_annotation)
    # Every answer is bounded (mcpserver.bounds); a read-only tool pages what was cut.
    limit, pageable = bounds.max_chars(os.environ), spec.kind is Kind.READ
    if pageable:
        inputs.append(cursor_parameter())
    confirmed = spec.kind in CONFIRMED
    if confirmed:
        inputs.append(confirm_parameter())

    async def tool(ctx: Context, **arguments: Any) -> CallToolResult:
        report = reporter(ctx) if wants_report else None
        # (a tool that is not destructive as a whole, as the API tool, takes its own confirm)
        confirm = arguments.pop("confirm", False) if confirmed else False
        cursor = arguments.pop("cursor", None)
        given = {**arguments, "files": files} if files is not None else arguments
        call = functools.partial(
            _call, spec, home, given, report, wrapped, limit=limit, cursor=cursor
        )
        if confirmed and not confirm and not given.get("dry_run"):
            call = functools.partial(preview, spec, home, given, limit=limit)
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
    *,
    limit: int = bounds.DEFAULT_MAX_CHARS,
    cursor: str | None = None,
) -> CallToolResult:
    from shipyard import connect
    from shipyard.models import to_jsonable

    extra = {"report": report} if report is not None else {}
    try:
        if cursor is not None:
            bounds.decode_cursor(spec.name, cursor)  # a bad cursor is refused before any work
        ops = connect(home)
        try:
            value = spec.fn(ops, **extra, **arguments)
        finally:
            ops.close()
    except ShipyardError as error:
        return error_result(error, limit)
    except CallCancelled:
        return error_result(ShipyardError("the call was cancelled before it ended"), limit)
    data = to_jsonable(value)
    return bounded_result({"result": data} if wrapped else data, spec, limit, cursor)


def bounded_result(
    structured: dict[str, Any], spec: ToolSpec, limit: int, cursor: str | None
) -> CallToolResult:
    """The answer, at most ``limit`` characters once serialised (its structured content and
    the same as JSON text): cut, summarised and paged by :func:`bounds.bound` when longer."""

    def answer(content: dict[str, Any]) -> CallToolResult:
        text = json.dumps(content, ensure_ascii=False)
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=content
        )

    def fits(content: dict[str, Any]) -> bool:
        return _length(answer(content)) <= limit - PROTOCOL_ROOM

    pageable = spec.kind is Kind.READ
    # The text repeats the content, escaped: each half gets a little less than half the limit.
    chosen = bounds.bound(
        structured,
        tool=spec.name,
        budget=limit * 2 // 5,
        cursor=cursor,
        pageable=pageable,
        fits=fits,
    )
    if not chosen.fits:  # nothing left to cut (one huge record, a JSON Schema): say so
        return error_result(
            ShipyardError(
                f"{spec.name}'s answer is longer than {limit} characters even cut",
                hint=f"raise ${bounds.MAX_CHARS_VARIABLE} (the limit of one answer)",
            ),
            limit,
        )
    return answer(chosen.data)


def cursor_parameter() -> inspect.Parameter:
    """The ``cursor`` argument of every read-only tool (issue 18 §1)."""
    return inspect.Parameter(
        "cursor",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[str | None, Field(description=bounds.CURSOR_HELP)],
    )


def error_result(error: ShipyardError, limit: int = bounds.DEFAULT_MAX_CHARS) -> CallToolResult:
    """A tool error an assistant can act on: what is wrong, then what to do — within the
    answer limit as every answer is (a message quoting a huge input is cut in its middle)."""
    text = f"error: {error.message}" + (f"\nhint: {error.hint}" if error.hint else "")
    return fitted_error(text, limit)


def fitted_error(text: str, limit: int) -> CallToolResult:
    """A tool error whose serialised result is at most ``limit`` characters: ``text`` as it
    is, or its beginning and end (where a hint is) with the middle cut and said to be cut."""

    def answer(shown: str) -> CallToolResult:
        return CallToolResult(content=[TextContent(type="text", text=shown)], is_error=True)

    room = limit - PROTOCOL_ROOM
    result = answer(text)
    excess = _length(result) - room
    keep = len(text)
    while excess > 0 and keep > 0:
        # An escaped character counts for more than one once serialised: measured again.
        keep = max(keep - excess - 64, 0)
        end = min(keep // 4, ERROR_END)
        cut = len(text) - keep
        result = answer(
            f"{text[: keep - end]}\n[... {cut} characters cut: the answer limit is {limit}, "
            f"${bounds.MAX_CHARS_VARIABLE} ...]\n{text[len(text) - end :] if end else ''}"
        )
        excess = _length(result) - room
    return result


#: What the SDK adds to a result on its way out (``_meta`` with the server's name and version,
#: ``resultType``): left out of what a tool's answer may fill.
PROTOCOL_ROOM = 300
#: How much of a cut error's end is kept (its hint).
ERROR_END = 1_000
#: How much of a destructive call's arguments its preview quotes (the caller has them all).
ARGUMENTS_SHOWN = 1_000


def _length(result: CallToolResult) -> int:
    """An answer's size as the limit measures it: the serialised result."""
    return len(result.model_dump_json(by_alias=True, exclude_none=True))


def confirm_parameter() -> inspect.Parameter:
    """The ``confirm`` argument every destructive tool takes (issue 18 §2)."""
    return inspect.Parameter(
        "confirm",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, Field(description=CONFIRM_HELP)],
    )


def preview(
    spec: ToolSpec,
    home: Path | None,
    arguments: dict[str, Any],
    *,
    limit: int = bounds.DEFAULT_MAX_CHARS,
) -> CallToolResult:
    """A destructive call without ``confirm``: what it would do, and nothing done. A tool
    with a ``dry_run`` form (stop, clean) runs that, so the answer names what would be cut.
    Within ``limit`` as every answer: the dry run is bounded (summary first) and the
    arguments are quoted up to ARGUMENTS_SHOWN characters.

    The answer is a tool error (isError), not a result: a client or a model that reads only
    the flag still sees that nothing happened, and its structured form cannot be mistaken for
    the record of a done stop."""
    doc = " ".join((spec.fn.__doc__ or "").split())
    given = {k: v for k, v in arguments.items() if k != "files" and v is not None}
    quoted = json.dumps(given, sort_keys=True, default=str)
    if len(quoted) > ARGUMENTS_SHOWN:
        quoted = f"{quoted[:ARGUMENTS_SHOWN]}... [{len(quoted) - ARGUMENTS_SHOWN} characters cut]"
    text = (
        f"not done: {spec.name} is destructive and needs confirm=true.\n"
        f"it would: {doc}\narguments: {quoted}"
    )
    if "dry_run" in inspect.signature(spec.fn).parameters:
        dry = _call(spec, home, {**arguments, "dry_run": True}, None, wrapped=False, limit=limit)
        if dry.is_error:
            return dry  # the call could not act anyway (an unknown execution…): say why
        text += "\nwhat it would do now: " + "".join(getattr(c, "text", "") for c in dry.content)
    hint = f"to do it, call {spec.name} again with the same arguments and confirm=true"
    # The dry run's text is escaped once more inside this one: cut in its middle if need be.
    return fitted_error(f"{text}\nhint: {hint}", limit)
