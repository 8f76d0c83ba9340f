"""Bounded answers (issue 18 §1), through the SDK's client: every read-only tool of every group
(``--tools all``), the ones that act on an execution, and destructive ones without confirm
(their preview), called on a large execution — 3,000 steps, a 100 MB log, 400 other
executions, a 1,500-point sweep, a 3,000-step registered pipeline, a held 3,000-unit
execution, a large environment, model and artifact — answer within the limit, in characters
of the whole serialised result; a cut answer starts with truncated, a summary and a cursor
that pages on.

The large execution is made the project's own way but without 3,000 processes: the spec is
prepared with ``run(hold=True)`` (its record and run folder, as a real run has them), then its
units' ends are written through the store's API and its log is a generated file."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult

import shipyard
from shipyard.mcpserver import bounds, toolsets
from shipyard.mcpserver.server import build_server
from shipyard.mcpserver.toolkit import registered
from shipyard.models import Event, ExecutionState, UnitState

STEPS = 3000
FAILED = {17, 404, 2999}  # the steps that failed
BIG_LOG_MB = 100


def spec_text(steps: int) -> str:
    lines = ["name: huge", "steps:"]
    lines += [f"  s{i:04d}: {{run: [echo, '{i}']}}" for i in range(steps)]
    return "\n".join(lines) + "\n"


def finish(ops: Any, execution_id: str) -> None:
    """Every unit ended (a few failed), the execution failed, and its events recorded."""
    store, now = ops.store, time.time()
    with store.transaction():
        for i in range(STEPS):
            failed = i in FAILED
            store.update_unit(
                execution_id,
                f"s{i:04d}",
                state=UnitState.FAILED if failed else UnitState.SUCCEEDED,
                attempts=1,
                started_at=now - 100 + i * 0.01,
                ended_at=now - 100 + i * 0.01 + 0.5 + (i % 97),  # s0096 & co. are the slowest
                exit_code=3 if failed else 0,
                reason="exit code 3" if failed else None,
            )
        store.update_execution(
            execution_id, state=ExecutionState.FAILED, started_at=now - 100, ended_at=now
        )
    events = [
        Event(now - 100 + i * 0.01, execution_id, "unit_finished", f"s{i:04d}", {"exit_code": 0})
        for i in range(STEPS)
    ]
    store.append_events(events)


def big_log(path: Path) -> None:
    """A 100 MB log: numbered lines, an ERROR every 1,000th, one line of 2 MB near the end."""
    block = "".join(
        f"line {n:05d} {'ERROR disk full' if n % 1000 == 0 else 'working'} " + "x" * 80 + "\n"
        for n in range(10_000)
    )
    with path.open("w") as out:
        for _ in range(BIG_LOG_MB * 2**20 // len(block)):
            out.write(block)
        out.write("y" * 2 * 2**20 + "\n")
        out.write("the last line\n")


def other_executions(ops: Any, count: int) -> None:
    store, now = ops.store, time.time()
    with store.transaction():
        for n in range(count):
            store.insert_execution(
                execution_id=f"exec_other{n:04d}",
                name="huge",
                mode="normal",
                spec_path=None,
                spec_digest="d",
                spec_text="",
                parameters={},
                run_dir=str(ops.workspace.home / "runs" / f"exec_other{n:04d}"),
                created_at=now - 1000 + n,
                units=[("only", "step", None)],
            )
            store.update_execution(
                f"exec_other{n:04d}", state=ExecutionState.SUCCEEDED, ended_at=now - 999 + n
            )


def big_sweep(ops: Any, points: int) -> str:
    sweep_id = "sweep_huge"
    settings = {
        "matrix": {"n": list(range(points))},
        "zip_groups": [],
        "repeat": 1,
        "max_parallel_runs": 4,
        "timeout_per_run": None,
        "failure_threshold": None,
        "objective": "score:max",
    }
    row = {
        "id": sweep_id,
        "name": "huge",
        "spec_path": None,
        "spec_text": spec_text(1),
        "settings": settings,
        "parameters": {},
        "state": "succeeded",
        "created_at": time.time(),
    }
    rows = [
        {
            "point_hash": f"h{n}",
            "repeat": 0,
            "position": n,
            "parameters": {"n": n},
            "state": "succeeded",
            "duration": 1.0 + n % 7,
            "metrics": {"score": float(n % 13)},
        }
        for n in range(points)
    ]
    ops.store.insert_sweep(row, rows)
    return sweep_id


def large_records(ops: Any, folder: Path, execution_id: str) -> None:
    """What the tools of the other groups read, large: the spec registered as ``huge``, 300
    agent folders (each with its problem), an environment of 3,000 variables, a model whose
    version has 3,000 metrics, a 1 MB artifact of step s0000."""
    ops.pipeline_add("huge", str(folder / "huge.yaml"))
    for n in range(300):  # each found, none valid: a name and no command to start it
        (folder / "agents" / f"agent{n:03d}").mkdir(parents=True)
        (folder / "agents" / f"agent{n:03d}" / "agent.yaml").write_text(f"name: agent{n:03d}\n")
    ops.environment_save("big", {f"VAR{n:04d}": "v" * 60 for n in range(3000)})
    weights = folder / "weights.bin"
    weights.write_bytes(b"w" * 1024)
    ops.model_register("big", str(weights), metrics={f"m{n:04d}": n / 7 for n in range(3000)})
    artifacts = ops.workspace.run_dir(execution_id).artifacts / "s0000"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "big.txt").write_text("artifact line\n" * 80_000)


@dataclass(frozen=True)
class Large:
    home: Path
    execution_id: str  # 3,000 units ended, a 100 MB log
    held_id: str  # 3,000 units pending: what a stop would cut
    folder: Path  # beside the home: huge.yaml, agents/


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Large]:
    folder = tmp_path_factory.mktemp("large")
    home = folder / "home"
    # ops.store and ops.workspace: beside the protocol in both implementations (a round trip
    # through JSON under SHIPYARD_WIRE_CHECK=1, or the local one).
    ops: Any = shipyard.connect(home)
    try:
        spec = folder / "huge.yaml"
        spec.write_text(spec_text(STEPS))
        execution = ops.run(str(spec), hold=True)
        finish(ops, execution.id)
        log = ops.status(execution.id).unit("s0000").log_path
        assert log is not None
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        big_log(Path(log))
        other_executions(ops, 400)
        big_sweep(ops, 1500)
        large_records(ops, folder, execution.id)
        held = ops.run(str(spec), hold=True)  # pending: never driven, no process
    finally:
        ops.close()
    yield Large(home, execution.id, held.id, folder)


def calls(execution_id: str, folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """One call of each tool that reads an execution or a list, on the large one (and, given
    the fixture's folder, of each read-only tool of the other groups on its large records)."""
    on = {"execution_id": execution_id}
    agents = {"folder": str(folder / "agents")} if folder is not None else {}
    return {
        "get_pipeline_status": on,
        "monitor_pipeline_execution": on,
        "analyze_execution_results": on,
        "manage_execution_logs": {**on, "unit": "s0000", "tail": 5000},
        "list_executions": {"limit": 5000},
        "get_execution_events": {**on, "limit": None},
        "ps": on,
        "history": {"name": "huge", "limit": 1000},
        "sweep_status": {"sweep_id": "sweep_huge"},
        "sweep_list": {},
        "handle_checkpoint_restart": {"action": "list", **on},
        "stop_pipeline": {**on, "dry_run": True},
        "clean_pipeline": {**on, "dry_run": True},
        "spec_schema": {},
        "validate_spec": {"spec": "huge", "spec_text": spec_text(STEPS)},
        "plan_pipeline": {"pipeline_name": "huge.yaml", "spec_text": spec_text(STEPS)},
        "integrate_python_api": {"api_commands": [f"ops.status('{execution_id}')"] * 3},
        **(
            {
                "agents_discover": agents,
                "agents_list": agents,
                "agent_status": {**agents, "name": "agent007"},
                "pipelines_list": {},
                "pipelines_show": {"name": "huge"},
                "pipelines_validate": {"name": "huge"},
                "pipelines_spec": {"name": "huge"},
                "artifacts_list": on,
                "artifact_read": {**on, "step": "s0000", "path": "big.txt", "max_bytes": 2**18},
                "environments_list": {},
                "environments_show": {"name": "big"},
                "pipeline_metrics": {"name": "huge"},
                "models_list": {},
                "models_show": {"name": "big"},
                "models_path": {"name": "big", "stage": "staging"},
            }
            if folder is not None
            else {}
        ),
    }


#: Read-only tools that take what no large record makes large (an index, the store) — called
#: with the smallest valid input, still checked against the limit.
SMALL = {
    "index_list": {},
    "index_templates": {},
    "index_show": {"ref": "builtin/parallel-sort"},
    "store_check": {},
    "rollout_status": {"execution_id": "exec_other0000"},  # none: a service-less execution
}

#: The tools every server of these tests lists: every group (``--tools all``).
ALL_GROUPS = toolsets.parse_groups(toolsets.ALL)


def previews(large: Large) -> dict[str, dict[str, Any]]:
    """Destructive calls without confirm: each answers what it would do (a preview), which
    quotes its arguments and, for a stop, its dry run — of a pending 3,000-unit execution."""
    huge_step = {"run": ["echo", "x" * 200_000], "env": {f"K{n}": "v" * 50 for n in range(2000)}}
    return {
        "stop_pipeline": {"execution_id": large.held_id},
        "clean_pipeline": {"execution_id": large.execution_id},
        "pipelines_step_replace": {"name": "huge", "step": "s0000", "definition": huge_step},
        "environments_save": {
            "name": "big",
            "variables": {f"V{n}": "x" * 100 for n in range(3000)},
        },
    }


def length(result: CallToolResult) -> int:
    return len(result.model_dump_json(by_alias=True, exclude_none=True))


def text(result: CallToolResult) -> str:
    return "".join(getattr(content, "text", "") for content in result.content)


def run_async(scenario: Any) -> None:
    anyio.run(scenario)


@pytest.mark.slow  # ~1 min on 2 loaded cores: 40 calls on 3,000 units
def test_every_answer_on_a_large_execution_is_within_the_limit(large: Large) -> None:
    limit = bounds.DEFAULT_MAX_CHARS

    async def scenario() -> None:
        async with Client(build_server(large.home, ALL_GROUPS)) as client:
            listed = {tool.name: tool for tool in (await client.list_tools()).tools}
            todo = calls(large.execution_id, large.folder)
            reading = {
                n for n, t in listed.items() if t.annotations and t.annotations.read_only_hint
            }
            assert len(reading) == len(toolsets.select(registered(), read_only=True))
            missing = reading - set(todo) - set(SMALL)
            assert not missing, f"read-only tools without a call in this test: {missing}"
            for name, arguments in {**todo, **SMALL}.items():
                assert name in listed, f"{name} is not listed with --tools all"
                result = await client.call_tool(name, arguments)
                assert length(result) <= limit, f"{name}: {length(result)} > {limit} characters"
                if name in todo and name != "stop_pipeline":  # it ended: nothing to stop
                    assert not result.is_error, (name, result.content)
            for name, arguments in previews(large).items():
                result = await client.call_tool(name, arguments)
                assert length(result) <= limit, f"{name}: {length(result)} > {limit} characters"
                assert result.is_error and "not done" in text(result), (name, text(result)[:300])

    run_async(scenario)


@pytest.mark.slow  # each page reads the 3,000 units again
def test_a_large_status_is_summarised_then_paged_to_its_end(
    large: Large, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, execution_id = large.home, large.execution_id
    limit = 250_000  # a few pages of some hundred units, not sixty of fifty
    monkeypatch.setenv(bounds.MAX_CHARS_VARIABLE, str(limit))

    async def scenario() -> None:
        async with Client(build_server(home)) as client:
            first = await client.call_tool("get_pipeline_status", {"execution_id": execution_id})
            answer = first.structured_content
            assert answer is not None and answer["truncated"] is True
            assert list(answer)[:3] == [
                "truncated",
                "truncation",
                "next_cursor",
            ]  # the summary first
            units = answer["truncation"]["units"]
            assert units["total"] == STEPS and units["by_state"] == {
                "failed": len(FAILED),
                "succeeded": STEPS - len(FAILED),
            }
            assert [f["name"] for f in units["failures"]] == [f"s{i:04d}" for i in sorted(FAILED)]
            assert units["slowest"][0]["duration_seconds"] == pytest.approx(96.5)
            assert answer["state"] == "failed" and answer["id"] == execution_id
            seen = [unit["name"] for unit in answer["units"]]
            cursor, pages = answer.get("next_cursor"), 1
            while cursor:
                assert len(seen) <= STEPS, "the pages go on past the last unit"
                more = await client.call_tool(
                    "get_pipeline_status", {"execution_id": execution_id, "cursor": cursor}
                )
                page = more.structured_content
                assert page is not None and length(more) <= limit
                seen += [unit["name"] for unit in page["units"]]
                cursor, pages = page.get("next_cursor"), pages + 1
            assert seen == [f"s{i:04d}" for i in range(STEPS)], "every unit once, in order"
            assert pages > 1

    run_async(scenario)


def test_logs_answer_their_tail_and_matching_lines_never_the_file(large: Large) -> None:
    home, execution_id = large.home, large.execution_id

    async def scenario() -> None:
        async with Client(build_server(home)) as client:
            tail = await client.call_tool(
                "manage_execution_logs", {"execution_id": execution_id, "unit": "s0000", "tail": 50}
            )
            lines = [line["text"] for line in tail.structured_content["lines"]]
            assert lines[-1] == "the last line" and len(tail.content[0].text) < 2 * 2**20  # type: ignore[union-attr]
            assert length(tail) <= bounds.DEFAULT_MAX_CHARS
            found = await client.call_tool(
                "manage_execution_logs",
                {
                    "execution_id": execution_id,
                    "unit": "s0000",
                    "action": "search",
                    "pattern": "ERROR",
                    "tail": 30,
                },
            )
            matched = found.structured_content["lines"]
            assert matched and all("ERROR disk full" in line["text"] for line in matched)
            whole = await client.call_tool(
                "manage_execution_logs",
                {"execution_id": execution_id, "unit": "s0000", "tail": None},
            )
            assert whole.is_error and "never a whole log" in whole.content[0].text  # type: ignore[union-attr]

    run_async(scenario)


@pytest.mark.slow  # the calls again
def test_a_smaller_limit_from_the_environment_holds(
    large: Large, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(bounds.MAX_CHARS_VARIABLE, "8000")

    async def scenario() -> None:
        async with Client(build_server(large.home, ALL_GROUPS)) as client:
            todo = {**calls(large.execution_id, large.folder), **previews(large)}
            for name, arguments in todo.items():
                result = await client.call_tool(name, arguments)
                assert length(result) <= 8000, f"{name}: {length(result)} > 8000"
            # The stop's preview still says what a stop would cut: the summary comes first.
            stop = text(await client.call_tool("stop_pipeline", previews(large)["stop_pipeline"]))
            assert "not done: stop_pipeline" in stop and "what it would do now" in stop, stop
            assert '"truncated": true' in stop and stop.endswith("confirm=true"), stop[-300:]

    run_async(scenario)


def test_a_tool_error_quoting_a_huge_input_is_within_the_limit(
    large: Large, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error message that quotes what it was given is cut in its middle, its hint kept."""
    monkeypatch.setenv(bounds.MAX_CHARS_VARIABLE, "8000")

    async def scenario() -> None:
        async with Client(build_server(large.home, ALL_GROUPS)) as client:
            result = await client.call_tool("pipelines_show", {"name": "n" * 100_000})
            assert result.is_error and length(result) <= 8000, length(result)
            said = text(result)
            assert said.startswith("error: ") and "characters cut" in said, said[:300]
            assert "hint: " in said[-1_000:], said[-1_000:]

    run_async(scenario)


def test_a_cursor_the_server_did_not_give_is_a_tool_error(large: Large) -> None:
    home, execution_id = large.home, large.execution_id

    async def scenario() -> None:
        async with Client(build_server(home)) as client:
            result = await client.call_tool(
                "get_pipeline_status", {"execution_id": execution_id, "cursor": "not-a-cursor"}
            )
            text = result.content[0].text  # type: ignore[union-attr]
            assert result.is_error and "is not one get_pipeline_status gave" in text
            json.dumps(text)

    run_async(scenario)


def test_resources_of_a_large_execution_are_within_the_limit(large: Large) -> None:
    home, execution_id = large.home, large.execution_id
    limit = bounds.DEFAULT_MAX_CHARS

    async def scenario() -> None:
        async with Client(build_server(home)) as client:
            status = await client.read_resource(f"shipyard://executions/{execution_id}")
            assert len(status.model_dump_json(by_alias=True, exclude_none=True)) <= limit
            answer = json.loads(status.contents[0].text)  # type: ignore[union-attr]
            assert answer["truncated"] is True and answer["id"] == execution_id
            assert answer["truncation"]["units"]["by_state"]["failed"] == len(FAILED)
            log = await client.read_resource(f"shipyard://executions/{execution_id}/logs/s0000")
            assert len(log.model_dump_json(by_alias=True, exclude_none=True)) <= limit
            text = log.contents[0].text  # type: ignore[union-attr]
            assert text.startswith("[") and text.endswith("\nthe last line\n"), text[-300:]

    run_async(scenario)


def test_the_spec_schema_is_answered_a_part_at_a_time(tmp_path: Path) -> None:
    """Whole, the schema is longer than one answer; its top level names every part, and each
    part comes on its own — together they are the whole schema."""
    import shipyard

    whole = shipyard.connect().schema()

    async def scenario() -> None:
        async with Client(build_server(tmp_path / "home")) as client:
            top = await client.call_tool("spec_schema", {})
            assert not top.is_error, top.content
            body = top.structured_content
            assert body is not None and set(body["parts"]) == set(whole["$defs"]), body
            assert body["properties"] == whole["properties"]
            for name in body["parts"]:
                part = await client.call_tool("spec_schema", {"part": name})
                assert not part.is_error, (name, part.content)
                assert part.structured_content == {"part": name, "schema": whole["$defs"][name]}
                assert length(part) <= bounds.DEFAULT_MAX_CHARS
            unknown = await client.call_tool("spec_schema", {"part": "StepSpek"})
            text = unknown.content[0].text  # type: ignore[union-attr]
            assert unknown.is_error and "no part 'StepSpek'" in text and "StepSpec" in text

    run_async(scenario)
