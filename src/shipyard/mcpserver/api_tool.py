"""``integrate_python_api``: the Python API reached through the restricted call language of
:mod:`shipyard.mcpserver.calllang`. Commands are all parsed and checked before the first runs;
each then calls one whitelisted operation with its literal arguments, converted to the
protocol's types by the wire codec (so ``settings={...}`` becomes a SweepSettings), and its
result comes back as JSON. Nothing here evaluates, executes or compiles the text."""

from __future__ import annotations

import inspect
import itertools
import typing
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from shipyard.api import Operations
from shipyard.errors import ShipyardError
from shipyard.mcpserver import calllang
from shipyard.mcpserver.outputs import OutputRule
from shipyard.mcpserver.records import ApiCallResult, ApiResult
from shipyard.mcpserver.toolkit import Kind, tool

#: Members of the protocol the language may not call, and why.
NOT_CALLABLE = {
    "close": "closes the server's own connection to the store",
    "start": "drives an execution prepared with hold=True by the same object; use run",
}
#: The arguments of operations that name a file to write, and its kind: each goes through the
#: server's OutputRule as the tools' own paths do.
OUTPUTS = {"sweep_plot": {"path": "plot"}, "analyze": {"html": "html"}}
#: The most log lines a ``logs(...)`` call returns here.
MAX_LOG_LINES = 1000
#: Operations that stop, remove or overwrite what exists: as the destructive tools do, a call
#: list holding one of them acts only when given ``confirm=true`` (issue 18 §2), so the API
#: tool is no way around the confirmation.
DESTRUCTIVE = frozenset(
    {
        "stop", "clean", "clean_purge", "service_stop", "sweep_stop", "agent_undeploy",
        "agent_restart", "restart_service", "pipeline_remove", "pipeline_step_remove",
        "pipeline_step_replace", "index_remove", "rebuild_store",
    }
)  # fmt: skip


def allowed_operations() -> list[str]:
    from shipyard.wire import operation_names

    return [name for name in operation_names() if name not in NOT_CALLABLE]


@tool(Kind.START, "Call the Python API")
def integrate_python_api(
    ops: Operations,
    api_commands: list[str] | str | None = None,
    api_action: Literal["execute", "describe"] = "execute",
    confirm: bool = False,
    *,
    files: OutputRule,
) -> ApiResult:
    """Call Shipyard's Python API: each command (a list, or one per line) is one call
    ops.NAME(args...) of an operation with literal arguments only, e.g.
    ops.status('exec_id') or ops.list_executions(active_only=True). All are checked before
    any runs; the first error stops the rest. describe: the operations that may be called.
    A file an operation writes (sweep_plot's path, analyze's html) follows the server's rule
    for outputs: a relative path lands in the home's reports/ folder. Commands that stop,
    remove or overwrite (stop, clean, service_stop, pipeline_remove…) run only with
    confirm=true; without it nothing runs."""
    allowed = allowed_operations()
    if api_action == "describe":
        return ApiResult(action=api_action, allowed=[_signature(name) for name in allowed])
    calls = calllang.parse_all(api_commands or [], allowed)
    acting = [call.method for call in calls if call.kwargs.get("dry_run") is not True]
    unconfirmed = needs_confirmation(acting, confirm)
    if unconfirmed:
        raise ShipyardError(
            f"not done: {', '.join(unconfirmed)} would stop, remove or overwrite what exists, "
            "and needs confirm=true; none of the commands ran",
            hint="check what they would do (status, stop_impact, clean with dry_run=True), "
            "then call again with the same commands and confirm=true",
        )
    return _execute(ops, calls, files)


def needs_confirmation(methods: Sequence[str], confirm: bool) -> list[str]:
    """The destructive operations among ``methods`` that may not run unconfirmed, in order."""
    if confirm:
        return []
    return list(dict.fromkeys(m for m in methods if m in DESTRUCTIVE))


def _execute(ops: Operations, calls: Sequence[calllang.Call], files: OutputRule) -> ApiResult:
    results: list[ApiCallResult] = []
    for index, call in enumerate(calls):
        try:
            value = _call(ops, call, files)
        except ShipyardError as error:
            failed = ApiCallResult(
                call.command, call.method, False, None, error.message, error.hint
            )
            return ApiResult("execute", [*results, failed], skipped=len(calls) - index - 1)
        results.append(ApiCallResult(call.command, call.method, True, value))
    return ApiResult("execute", results)


def _call(ops: Operations, call: calllang.Call, files: OutputRule) -> Any:
    """Bind the arguments to the protocol's signature, decode them to its types, call the
    operation and encode its result (an iterator: its first lines)."""
    from shipyard import wire

    signature, hints = wire._signature(call.method)
    try:
        bound = signature.bind(None, *call.args, **call.kwargs)  # None: the protocol's self
    except TypeError as error:
        raise calllang.CallRefused(
            f"{call.command}: {error}", hint=f"its parameters: {_signature(call.method)}"
        ) from None
    arguments = {key: value for key, value in bound.arguments.items() if key != "self"}
    if call.method == "logs" and arguments.get("follow"):
        raise calllang.CallRefused(
            "logs(follow=True) never returns here", hint="use tail= and call again"
        )
    try:
        decoded = {key: wire.decode(value, hints[key]) for key, value in arguments.items()}
    except (wire.WireError, TypeError, ValueError, KeyError) as error:
        raise calllang.CallRefused(
            f"{call.command}: an argument does not fit {call.method}'s types ({error})",
            hint=f"its parameters: {_signature(call.method)}",
        ) from None
    for name, kind in OUTPUTS.get(call.method, {}).items():
        if decoded.get(name) is not None:
            decoded[name] = str(files.place(decoded[name], kind))
    result = getattr(ops, call.method)(**decoded)
    returned = hints["return"]
    if typing.get_origin(returned) is Iterator:
        item = typing.get_args(returned)[0]
        lines = itertools.islice(result, MAX_LOG_LINES)
        return [wire.encode(line, item) for line in lines]
    return wire.encode(result, returned)


def _signature(name: str) -> str:
    from shipyard import api

    signature = inspect.signature(getattr(api.Operations, name))
    parameters = [p for p in signature.parameters.values() if p.name != "self"]
    shown = signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty)
    return f"ops.{name}{shown}"
