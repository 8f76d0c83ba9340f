"""The wire codec: every result type of the operations protocol survives JSON text both ways,
every argument type has a wire form, and errors cross as themselves."""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import shipyard
from shipyard.agents import DiscoveredAgent
from shipyard.analysis import (
    Alert,
    AnalysisReport,
    DurationStats,
    HistoryEntry,
    MonitorSnapshot,
    PipelineHistory,
    Recommendation,
    StepTiming,
    UnitSample,
)
from shipyard.api import (
    AgentInfo,
    CleanedRun,
    CleanReport,
    EventBatch,
    LogLine,
    Problem,
    StopReport,
    ValidationReport,
)
from shipyard.checkpoint import Checkpoint
from shipyard.environments import EnvironmentInfo
from shipyard.errors import (
    DiskFull,
    ExecutionNotFound,
    Location,
    ShipyardError,
    SpecError,
    SpecProblem,
)
from shipyard.mlregistry import ModelEvent, ModelInfo, ModelVersion, Stage, StageChange
from shipyard.models import (
    Artifact,
    ArtifactChunk,
    Event,
    ExecutionState,
    ExecutionStatus,
    ExecutionSummary,
    GateApproval,
    Metric,
    Progress,
    ResourceUsage,
    UnitState,
    UnitStatus,
)
from shipyard.pipelinemetrics import Anomaly, PipelineMetrics, RunPoint
from shipyard.plan.model import Plan
from shipyard.recovery import RebuildReport, StoreCheck
from shipyard.registry import ParameterInfo, PipelineInfo
from shipyard.rollout.status import RolloutView
from shipyard.sweep import ParameterStats, SweepPoint, SweepReport, SweepSettings
from shipyard.templates import IndexRepo, TemplateInfo
from shipyard.wire import (
    RoundTripOperations,
    WireError,
    _decoder,
    _encoder,
    _signature,
    decode,
    decode_error,
    encode,
    encode_error,
    operation_names,
)
from tests.unit.test_plan_codec import every_field_set

WHEN = datetime(2026, 11, 22, 10, 15, 0, 123456, tzinfo=UTC)
UNIT = UnitStatus(
    name="web", state=UnitState.RUNNING, kind="service", attempts=2, started_at=WHEN,
    duration_seconds=1.5, exit_code=None, reason="r", pid=42, log_path="/l/web.log",
    resources=ResourceUsage(cpu_percent_peak=50.0, rss_peak_bytes=1024, samples=3),
    port=8100, url="http://127.0.0.1:8100", health="healthy", restarts=1,
)  # fmt: skip
STATUS = ExecutionStatus(
    id="exec_x", name="x", state=ExecutionState.FAILED, mode="debug", created_at=WHEN,
    progress=Progress(1, 2), run_dir="/h/runs/exec_x", started_at=WHEN, ended_at=WHEN,
    duration_seconds=0.25, failed=1, spec_path="/s.yaml",
    parameters={"n": 2, "x": 1.5, "flag": True, "s": "text"}, reason="a step failed",
    units=[UNIT], estimated_end=WHEN, estimate_basis="2 runs", supervisor_pid=7,
    metrics=[Metric("a", 1, "bw", 812.5, "MiB/s")], pipeline="bench",
)  # fmt: skip
PARAMETER = ParameterInfo(
    "size", "str", default="4M", stored="16M", choices=["4M", "16M"], test="1M",
    description="block size", secret=False,
)  # fmt: skip
ENVIRONMENT = EnvironmentInfo(
    "gcc12", {"PATH": "/opt/gcc/bin:/usr/bin", "LOADEDMODULES": "gcc/12"}, WHEN, ["LOADEDMODULES"]
)
PIPELINE = PipelineInfo(
    "bench", "io", "/s.yaml", "d1", WHEN, WHEN, description="fio", steps=["a"],
    services=["web"], parameters=[PARAMETER], defaults={"size": "16M"}, last_execution="exec_x",
)  # fmt: skip
POINT = SweepPoint(
    {"size": "4M", "n": 2}, 1, "h1", "succeeded", "exec_x", 1.25, {"bw": 812.5}, reason=None
)
SWEEP = SweepReport(
    "sweep_x", "io", "running", WHEN,
    SweepSettings({"size": ["4M", "16M"], "n": [1, 2]}, [["size", "n"]], 2, 4, 30.0, 0.1, "bw:max"),
    points=[POINT], stats=[ParameterStats("size", "4M", "bw", 2, 810.0, 2.5, 807.5, 812.5)],
    best=POINT, ended_at=WHEN, reason="r", spec_path="/s.yaml",
)  # fmt: skip
EVENT = Event(
    ts=1.25,
    execution_id="exec_x",
    action="unit_finished",
    unit="a",
    data={"state": "failed", "retrying": True, "nested": {"k": [1, 2.5, None]}},
)

#: One value of every result type of the protocol (the test below checks none is missing).
RESULTS: dict[Any, Any] = {
    ValidationReport: ValidationReport(
        path="spec.yaml",
        valid=False,
        name="n",
        steps=2,
        parameters=["a"],
        problems=[Problem("bad", file="spec.yaml", line=3, column=5, hint="fix it")],
        services=1,
    ),
    Plan: every_field_set(),
    dict[str, int]: {"web": 8100, "db": 8101},
    dict[str, Any]: {"title": "Shipyard spec", "properties": {"a": {"type": ["string"]}}},
    ExecutionStatus: STATUS,
    list[ExecutionSummary]: [
        ExecutionSummary(
            id="exec_x",
            name="x",
            state=ExecutionState.LOST,
            mode="normal",
            created_at=WHEN,
            progress=Progress(0, 3),
            failed=2,
        )
    ],
    EventBatch: EventBatch("exec_x", [EVENT, EVENT], cursor=17, finished=True),
    StopReport: StopReport(
        "exec_x", ["a"], ["b"], force=True, grace=2.5, state=ExecutionState.CANCELLED
    ),
    UnitStatus: UNIT,
    str: "exec_x",
    int: 4096,
    list[DiscoveredAgent]: [
        DiscoveredAgent("a", "/f/a", "/f/a/agent.toml", "discovered", service={"port": 1}),
        DiscoveredAgent("b", "/f/b", "/f/b/agent.json", "invalid", problem="no command"),
    ],
    AgentInfo: AgentInfo(
        "a",
        "deployed",
        "/f/a",
        "/f/a/agent.toml",
        execution_id="exec_x",
        pid=4242,
        port=8101,
        url="http://127.0.0.1:8101",
        health="healthy",
        restarts=1,
        started_at=WHEN,
    ),
    list[AgentInfo]: [
        AgentInfo("b", "invalid", "/f/b", "/f/b/agent.json", problem="it needs a 'command'"),
        AgentInfo("c", "failed", "/f/c", "/f/c/agent.yaml", "exited 3", "exec_y", port=8102),
    ],
    Checkpoint: Checkpoint(
        "exec_x/ckpt-0001",
        "exec_x",
        WHEN,
        "requested",
        {"a": "running"},
        files={"a": {"out.bin": "ab12"}},
        bytes=10,
    ),
    list[Checkpoint]: [Checkpoint("exec_x/ckpt-0002", "exec_x", WHEN, "automatic", {})],
    Iterator[LogLine]: [
        LogLine("a", 1, "hello"),
        LogLine("a", None, "tail ✓"),
        LogLine("b", 3, "W boom", time=WHEN, time_source="line", level="warning"),
    ],
    CleanReport: CleanReport(
        "deep", True, [CleanedRun("exec_x", ["logs/a.log"], 12, True)], skipped=["exec_y"]
    ),
    CleanedRun: CleanedRun("exec_x", [], 0),
    StoreCheck: StoreCheck("/h/state.db", False, "is empty", 2, ["exec_x"]),
    RebuildReport: RebuildReport(
        "/h/state.db",
        "was empty",
        "/h/state.db.corrupt-1",
        rebuilt=["exec_x"],
        finished=1,
        skipped={"exec_y": "why"},
    ),
    type(None): None,
    PipelineInfo: PIPELINE,
    list[PipelineInfo]: [PIPELINE],
    EnvironmentInfo: ENVIRONMENT,
    list[EnvironmentInfo]: [ENVIRONMENT],
    SweepReport: SWEEP,
    list[SweepReport]: [SWEEP],
    IndexRepo: IndexRepo("builtin", "builtin", "builtin", "/t", 4, WHEN, WHEN, "abc"),
    list[IndexRepo]: [IndexRepo("mine", "/f", "folder", "/f")],
    TemplateInfo: TemplateInfo("builtin", "fio", "/t/fio.yaml", "d", "0.1", [PARAMETER]),
    list[TemplateInfo]: [TemplateInfo("r", "t", "/p", usable=False, problem="needs 9.0")],
    MonitorSnapshot: MonitorSnapshot(
        "exec_x",
        WHEN,
        STATUS,
        [UnitSample("a", "running", 50.0, 1024, 1.5)],
        [Alert("a", "memory", "rss 2 GiB > 1 GiB", WHEN)],
    ),
    AnalysisReport: AnalysisReport(
        "exec_x",
        "x",
        "succeeded",
        2.5,
        ["a", "b"],
        2.0,
        [StepTiming("a", 1.0, 0.5, 1024, 1, True, 0.8, 0.2)],
        ["a"],
        0.4,
        2,
        {"b": "exited 1"},
        "exec_w",
        "previous success",
        [Recommendation("m", "e")],
        "/r.html",
    ),
    PipelineHistory: PipelineHistory(
        "x",
        [HistoryEntry("exec_x", "succeeded", WHEN, 1.5, {"n": 1})],
        0.5,
        DurationStats(2, 1.0, 1.5, 1.5),
        {"a": DurationStats(1, 1.0, 1.0, 1.0)},
    ),
    list[Artifact]: [Artifact("prepare", "data/train.csv", 8, "ab" * 32)],
    Iterator[ArtifactChunk]: [ArtifactChunk(0, "aGk="), ArtifactChunk(2, "", last=True)],
    GateApproval: GateApproval("train", "alice", "fine ✓", WHEN, ["gate a >= 1 failed"]),
}

MODEL_VERSION = ModelVersion(
    "clf", 2, "ab" * 32, "folder", 4096, 3, Stage.PRODUCTION, WHEN, "alice", "/m", "exec_x",
    "train", {"accuracy": 0.91}, "/h/models/trees/abab",
)  # fmt: skip
ROLLOUT_VIEW = RolloutView(
    "exec_x", "web", "rolled_back", 8100, 0, [10, 50, 100], {"MODEL_VERSION": "2"},
    "at 10%: KPI error_rate < 0.01 failed", WHEN, WHEN,
    {"requests": 40.0, "errors": 12.0, "error_rate": 0.3, "p95_latency_ms": None},
    ["hold: at 10%: 3 of the 20 requests needed", "rollback: at 10%: KPI …"],
)  # fmt: skip
MODEL_EVENT = ModelEvent("clf", 2, "promote", Stage.STAGING, Stage.PRODUCTION, "alice", WHEN, "d")
RESULTS.update({
    PipelineMetrics: PipelineMetrics(
        "x", "spec x", WHEN, 3600.0, 8, 8, 7, 1, {"failed": 1, "succeeded": 7}, 0.875, 0.125,
        192.0, DurationStats(7, 1.0, 2.0, 2.5), {"a": DurationStats(7, 0.5, 0.6, 0.7)},
        [Anomaly("exec_x", "a", WHEN, 2.4, 0.5, 0.05, 25.6, "MAD", 7)], 3.5, ["n"],
        [RunPoint("exec_x", WHEN, "succeeded", 2.5, {"a": 2.4})], "/c.png",
    ),
    ModelVersion: MODEL_VERSION,
    ModelInfo: ModelInfo("clf", WHEN, 2, 2, [MODEL_VERSION], [MODEL_EVENT]),
    list[ModelInfo]: [ModelInfo("clf", WHEN, None, 1)],
    StageChange: StageChange("clf", 2, 1, [MODEL_EVENT]),
    RolloutView: ROLLOUT_VIEW,
    list[RolloutView]: [ROLLOUT_VIEW, RolloutView("exec_x", "api", "none", port=8101)],
})  # fmt: skip


def hints_of_the_protocol() -> list[tuple[str, str, Any]]:
    """(operation, parameter or 'return', its hint) of every member of the protocol."""
    found = []
    for name in operation_names():
        _, hints = _signature(name)
        found += [(name, key, hint) for key, hint in hints.items()]
    return found


def through_json(value: Any, hint: Any) -> Any:
    text = json.dumps(encode(value, hint), allow_nan=False)
    return decode(json.loads(text), hint)


def test_every_result_type_of_the_protocol_has_a_case_below() -> None:
    returned = {hint for _, key, hint in hints_of_the_protocol() if key == "return"}
    assert returned - set(RESULTS) == set()


@pytest.mark.parametrize(
    "hint", list(RESULTS), ids=lambda hint: getattr(hint, "__name__", str(hint))
)
def test_every_result_type_survives_json_text(hint: Any) -> None:
    value = RESULTS[hint]
    if typing.get_origin(hint) is Iterator:  # item by item, as RoundTripOperations sends them
        assert list(RoundTripOperations._lines(iter(value), typing.get_args(hint)[0])) == value
        return
    back = through_json(value, hint)
    assert back == value
    assert type(back) is type(value)


@pytest.mark.parametrize(
    ("operation", "parameter", "hint"),
    [case for case in hints_of_the_protocol() if case[1] != "return"],
    ids=lambda item: item if isinstance(item, str) else "",
)
def test_every_argument_type_has_a_wire_form(operation: str, parameter: str, hint: Any) -> None:
    assert callable(_encoder(hint)) and callable(_decoder(hint))  # WireError if it has none


@pytest.mark.parametrize(
    ("value", "hint", "expected"),
    [
        (Path("/a/spec.yaml"), str | Path, "/a/spec.yaml"),  # a path crosses as its text
        ({"n": 3, "name": "x"}, typing.Mapping[str, Any] | None, {"n": 3, "name": "x"}),
        (None, typing.Mapping[str, Any] | None, None),
        (2.5, float | None, 2.5),
        (3, float, 3),
        (WHEN, datetime, WHEN),
        (ExecutionState.STOPPED, ExecutionState, ExecutionState.STOPPED),
    ],
)
def test_arguments_cross_as_the_local_side_takes_them(value: Any, hint: Any, expected: Any) -> None:
    assert through_json(value, hint) == expected


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (print, dict[str, Any]),  # a callback inside data: it cannot cross
        ({"x": object()}, dict[str, Any]),
        ("text", int),
        (1, str),
    ],
)
def test_what_cannot_cross_is_a_wire_error(value: Any, hint: Any) -> None:
    with pytest.raises(WireError):
        encode(value, hint)


@pytest.mark.parametrize(
    "error",
    [
        ExecutionNotFound("no execution 'x'", hint="shipyard list"),
        DiskFull("disk full: cannot write /h", hint="free some space"),
        ShipyardError("plain"),
        SpecError([SpecProblem("bad key", Location(Path("inline.yaml"), 3, 5), hint="did you")]),
    ],
)
def test_errors_cross_as_themselves(error: ShipyardError) -> None:
    back = decode_error(json.loads(json.dumps(encode_error(error))))
    assert type(back) is type(error)
    assert (back.message, back.hint, back.exit_code, str(back)) == (
        error.message,
        error.hint,
        error.exit_code,
        str(error),
    )
    assert getattr(back, "problems", None) == getattr(error, "problems", None)


def test_an_error_naming_a_class_outside_shipyard_becomes_a_plain_shipyard_error() -> None:
    back = decode_error({"error": "os:system", "message": "m", "hint": None})
    assert type(back) is ShipyardError and back.message == "m"


def test_connect_to_a_url_gives_the_remote_client() -> None:
    # `shipyard serve` exists now (issue 13): a URL gives its client (tests/integration/
    # test_server.py drives it against a real server); a URL that is none is refused.
    from shipyard.remote import RemoteOperations

    remote = shipyard.connect(url="http://127.0.0.1:8000", token="t" * 32)
    assert isinstance(remote, RemoteOperations)
    remote.close()
    with pytest.raises(ShipyardError, match="not a server URL"):
        shipyard.connect(url="127.0.0.1:8000")


def test_connect_goes_through_the_wire_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_WIRE_CHECK", "1")
    ops = shipyard.connect(tmp_path / "home")
    assert isinstance(ops, RoundTripOperations)
    with pytest.raises(AttributeError, match="not an operation"):
        ops.follow_logs  # noqa: B018  # what is not in the protocol cannot be called through it
    with pytest.raises(ExecutionNotFound):
        ops.status()  # the local side's error, raised again on this side
    monkeypatch.delenv("SHIPYARD_WIRE_CHECK")
    assert not isinstance(shipyard.connect(tmp_path / "home"), RoundTripOperations)
