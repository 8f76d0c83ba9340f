"""What the MCP server offers besides tools (issue 18 §5): resources an assistant can read by
URI — the executions, one execution's status, the spec it ran, a registered pipeline's spec,
a unit's log — and prompts for the common jobs (diagnose a failed run, compare with the last
good run, run a parameter sweep).

A prompt is text that walks the assistant through the tools, so it is offered only when the
tools it names are listed (``--read-only`` has no sweep to start). Each resource is read in a
worker thread over a fresh ``shipyard.connect(home)``; a ShipyardError becomes the SDK's
resource error with its hint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
from mcp.server import MCPServer

from shipyard.api import Operations
from shipyard.errors import ShipyardError

T = TypeVar("T")

EXECUTIONS_URI = "shipyard://executions"
EXECUTION_URI = "shipyard://executions/{execution_id}"
EXECUTION_SPEC_URI = "shipyard://executions/{execution_id}/spec"
PIPELINE_SPEC_URI = "shipyard://pipelines/{name}/spec"
LOG_URI = "shipyard://executions/{execution_id}/logs/{unit}"
#: Lines of a unit's log its resource gives (the tail).
LOG_RESOURCE_LINES = 2000
#: What the answer around a resource's text takes (characters): its uri and mime type, and the
#: SDK's own fields (``_meta`` with the server's name and version, ``ttlMs``, ``cacheScope``,
#: ``resultType``: ~200 in mcp 2.x, and they grow with the SDK; 200 was once exceeded by 42).
ENVELOPE = 1000
#: Executions the list resource gives (newest first).
EXECUTIONS_LISTED = 50


def read(home: Path | None, action: Callable[[Operations], T]) -> T:
    """``action`` over a fresh connection (a ShipyardError becomes the SDK's resource error)."""
    from mcp.server.mcpserver.exceptions import ResourceError

    from shipyard import connect

    ops = connect(home)
    try:
        return action(ops)
    except ShipyardError as error:
        raise ResourceError(error.render()) from None
    finally:
        ops.close()


def as_json(value: Any) -> str:
    """The record as JSON text within the answer limit (mcpserver.bounds, as the tools'): a
    large execution's units cut, what was cut summarised first; the tools page the rest."""
    from shipyard.mcpserver import bounds
    from shipyard.models import to_jsonable

    data = to_jsonable(value)
    limit = bounds.max_chars(os.environ)

    def fits(content: Any) -> bool:  # the text as it travels: a JSON string in the answer
        return len(json.dumps(json.dumps(content, indent=2))) + ENVELOPE <= limit

    if fits(data):
        return json.dumps(data, indent=2)
    body = data if isinstance(data, dict) else {"result": data}
    chosen = bounds.bound(
        body, tool="resource", budget=limit, cursor=None, pageable=False, fits=fits
    )
    return json.dumps(chosen.data, indent=2)


def add_resources(server: MCPServer[Any], home: Path | None) -> None:
    """Executions, an execution, its spec, a registered pipeline's spec and a unit's log."""

    async def in_thread(action: Callable[[Operations], str]) -> str:
        return await anyio.to_thread.run_sync(read, home, action)

    @server.resource(
        EXECUTIONS_URI,
        name="executions",
        mime_type="application/json",
        description=f"The {EXECUTIONS_LISTED} newest executions (id, name, state).",
    )
    async def executions() -> str:
        return await in_thread(lambda ops: as_json(ops.list_executions(limit=EXECUTIONS_LISTED)))

    @server.resource(
        EXECUTION_URI,
        name="execution",
        mime_type="application/json",
        description="One execution's status: state, progress, units, metrics.",
    )
    async def execution(execution_id: str) -> str:
        return await in_thread(lambda ops: as_json(ops.status(execution_id)))

    @server.resource(
        EXECUTION_SPEC_URI,
        name="execution_spec",
        mime_type="application/yaml",
        description="The spec an execution ran, as it was run (parameters applied).",
    )
    async def execution_spec(execution_id: str) -> str:
        return await in_thread(lambda ops: run_spec(ops, execution_id))

    @server.resource(
        PIPELINE_SPEC_URI,
        name="pipeline_spec",
        mime_type="application/yaml",
        description="A registered pipeline's spec (after its edits).",
    )
    async def pipeline_spec(name: str) -> str:
        return await in_thread(lambda ops: ops.pipeline_spec(name))

    @server.resource(
        LOG_URI,
        name="unit_log",
        title="A unit's log",
        mime_type="text/plain",
        description=f"The last {LOG_RESOURCE_LINES} lines of one unit's log.",
    )
    async def unit_log(execution_id: str, unit: str) -> str:
        return await in_thread(lambda ops: log_tail(ops, execution_id, unit))


def run_spec(ops: Operations, execution_id: str) -> str:
    """The spec snapshot in the execution's run folder (written when it was prepared)."""
    status = ops.status(execution_id)
    snapshot = Path(status.run_dir) / "spec.yaml"
    try:
        return snapshot.read_text(encoding="utf-8")
    except OSError as error:
        raise ShipyardError(
            f"execution {status.id}: its spec snapshot {snapshot} cannot be read "
            f"({error.strerror})",
            hint="its run folder was cleaned or moved; the registered pipeline's spec is at "
            f"shipyard://pipelines/{status.name}/spec",
        ) from None


def log_tail(ops: Operations, execution_id: str, unit: str) -> str:
    """The log's last lines, and of them no more characters than an answer may hold (the
    end kept: a line of megabytes near the end would otherwise fill it alone)."""
    from shipyard.mcpserver import bounds

    lines = ops.logs(execution_id, unit, tail=LOG_RESOURCE_LINES)
    text = "".join(line.text + "\n" for line in lines)
    room = bounds.max_chars(os.environ) * 2 // 5  # escaped in JSON, a text grows
    if len(text) <= room:
        return text
    return f"[{len(text) - room} characters cut before the last {room}]\n" + text[-room:]


# -- prompts ------------------------------------------------------------------------------------


def diagnose_failed_run(execution_id: str = "") -> str:
    which = f"execution {execution_id}" if execution_id else "the latest failed execution"
    find = (
        ""
        if execution_id
        else "Find it first: list_executions, the newest whose state is failed.\n"
    )
    return (
        f"Diagnose why Shipyard's {which} failed.\n{find}"
        "1. get_pipeline_status(execution_id=…): the units that failed, their exit codes, "
        "the step that failed first (the others may only have been cancelled after it).\n"
        "2. For each failed unit, manage_execution_logs(action='search', execution_id=…, "
        "unit=…, pattern='error|Error|Traceback|Killed|No such file') and its last lines "
        "(action='collect', tail=50), or read shipyard://executions/{id}/logs/{unit}.\n"
        "3. Read the spec it ran: shipyard://executions/{id}/spec.\n"
        "Answer with the cause, the log lines that show it (quoted), and the smallest fix "
        "(a spec change or a parameter). Change nothing and start no run without asking."
    )


def compare_with_last_good_run(execution_id: str) -> str:
    return (
        f"Compare Shipyard execution {execution_id} with the last good run of the same "
        "pipeline.\n"
        f"1. analyze_execution_results(execution_id='{execution_id}', "
        "compare_with_baseline=true): it picks the previous success with the same parameters "
        "and gives per-step deltas, the critical path and bottlenecks.\n"
        "2. If it finds no baseline, history(name=<the pipeline>) lists its executions: pick "
        "the newest that succeeded and pass it as baseline.\n"
        "3. get_pipeline_status of both if states or exit codes differ.\n"
        "Answer with what changed (parameters, steps, durations, metrics), quoting the "
        "figures the tools returned — never estimated ones — and which change most likely "
        "explains the difference."
    )


def run_parameter_sweep(pipeline_name: str, parameters: str = "") -> str:
    which = f" over {parameters}" if parameters else ""
    return (
        f"Run a parameter sweep of the Shipyard pipeline {pipeline_name}{which}.\n"
        f"1. plan_pipeline(pipeline_name='{pipeline_name}') (or pipelines_show): its "
        "parameters, their types and allowed choices. Use only values they allow.\n"
        "2. Tell the user how many runs the matrix makes (the product of the value counts) "
        "before starting it.\n"
        f"3. execute_pipeline_test(pipeline_name='{pipeline_name}', parameter_sweep={{name: "
        "[values…]}, background=true, max_parallel_runs=…): it returns the sweep at once.\n"
        "4. sweep_status(sweep_id=…) until every point has ended; then report the best point, "
        "the statistics per parameter value, and the failed points with their execution ids."
    )


#: Each prompt, its description and the tools it needs (offered only when all are listed).
PROMPTS: tuple[tuple[Callable[..., str], str, tuple[str, ...]], ...] = (
    (
        diagnose_failed_run,
        "Diagnose a failed run: its failed units, their logs and the spec it ran.",
        ("get_pipeline_status", "manage_execution_logs"),
    ),
    (
        compare_with_last_good_run,
        "Compare an execution with the last good run of the same pipeline.",
        ("analyze_execution_results",),
    ),
    (
        run_parameter_sweep,
        "Run a parameter sweep of a pipeline and report the best point.",
        ("plan_pipeline", "execute_pipeline_test", "sweep_status"),
    ),
)


def add_prompts(server: MCPServer[Any], tools: Collection[str]) -> None:
    """The prompts whose tools are all among ``tools``."""
    for function, description, needs in PROMPTS:
        if set(needs) <= set(tools):
            server.prompt(description=description)(function)
