"""The plan's JSON document (plan.json, the plan cache, plan --json): generated from the model's
dataclasses, versioned, and still reading what Shipyard wrote before the version existed."""

from __future__ import annotations

import copy
import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import ShipyardError
from shipyard.models import to_jsonable
from shipyard.plan import codec
from shipyard.plan.build import build_plan
from shipyard.plan.cache import PlanCache
from shipyard.plan.codec import PLAN_FORMAT, PlanFormatError, decode, encode, read_plan
from shipyard.plan.model import (
    CheckpointSettings,
    GateSettings,
    HealthSettings,
    HostEntry,
    LogLimit,
    MpiSettings,
    Plan,
    PlannedCommand,
    PlannedService,
    PlannedStep,
    ResourceRequest,
    RestartSettings,
    RetrySettings,
    RolloutSettings,
    SlurmSettings,
    SshSettings,
    StopSettings,
)
from shipyard.plan.secrets import MASK, reveal
from shipyard.spec.loader import load_spec_text

FIXTURES = Path(__file__).parents[1] / "fixtures" / "plan_format_1"

PIPELINE = """
name: pipe
parameters: {word: {type: str, default: "hello world"}, n: 2}
env: {GREETING: "{{ word }}"}
hooks: {prepare: [mkdir, -p, data], cleanup: [[rm, -rf, data]]}
execution: {max_parallel: 3, failure_strategy: continue, timeout: 1h}
steps:
  a: {run: [echo, "{{ word }}"], retries: {count: 2, jitter: false}, outputs: [out.txt]}
  b: {run: "echo {{ n }} | wc -c", shell: true, needs: [a], resources: {cpus: 0.5}}
  c: {run: [sleep, "1"], needs: [a], stop: {signal: INT, timeout: 2s}, enabled: false}
"""
FLEET = """
name: fleet
execution: {base_port: 9100, on_service_failure: stop-all}
topology: {type: hub-spoke, hub: hub, spokes: [one, two]}
services:
  hub: {run: [sleep, "100"], port: auto, health: {http: /health, start_interval: 100ms}}
  one: {run: [sleep, "100"], port: 9150, restart: {policy: always, max_restarts: 9}}
  two: {run: [sleep, "100"], health: {exec: [test, -f, x]}, replicas: 2, port: auto}
"""
MIXED = """
name: mixed
steps:
  prep: {run: [echo, hi]}
  use: {run: [echo, used], needs: [prep, api]}
services:
  api: {run: [sleep, "100"], port: auto, depends_on: {prep: completed_successfully}}
"""
SECRETS = """
name: secretive
parameters: {token: {secret: true}, user: bob}
env: {AUTH: "Bearer {{ token }} for {{ user }}"}
steps:
  use: {run: [env], env: {MINE: "{{ token }}!"}}
services:
  api: {run: [sleep, "100"], env: {KEY: "{{ token }}"}}
"""
LOG_LIMITS = """
name: limited
execution: {logs: {max_size: 1M, keep: 2}, checkpoint_interval: 5m, keep_checkpoints: 3}
steps:
  a: {run: [echo], logs: {max_size: 4KiB}, checkpoint: {paths: [s.txt], signal: USR1}}
  b: {run: [echo], needs: [a]}
"""


def built(text: str) -> Plan:
    return build_plan(load_spec_text(text, Path("/specs/demo/spec.yaml")), {}, cores=4)


def every_field_set() -> Plan:
    """A plan with every field of every record away from its default: a field the JSON form
    dropped, or set back to its default, shows in the round trip."""
    command = PlannedCommand(argv=["/bin/sh", "-c", "echo hi"], shell=True)
    step = PlannedStep(
        name="s", command=command, needs=["t"], env={"A": "1"}, workdir="/w", stage=1,
        description="a step", timeout=5.5, retries=RetrySettings(3, 0.5, 9.0, False),
        resources=ResourceRequest(cpus=1.5, memory=1024),
        stop=StopSettings("INT", 2.0, PlannedCommand(["/bin/sh", "-c", "x"], shell=True)),
        enabled=False, inputs=["in"], outputs=["out"],
        checkpoint=CheckpointSettings(["st"], signal="USR1", ready_file="r", timeout=3.0),
        needs_services=["svc"], secret_env={"B": "{{ token }}"}, runner="ssh",
        gates=[GateSettings("accuracy", ">=", 0.85)], host="n1", hosts=["n1", "n2"],
        mpi=MpiSettings(4, ppn=2, extra=["--bind-to", "none"]),
        slurm=SlurmSettings("allocation", "debug", "00:10:00", 2, 4, "lab", ["--exclusive"]),
        success_exit_codes=[0, 130],
    )  # fmt: skip
    service = PlannedService(
        name="svc", command=PlannedCommand(["srv"]), env={"P": "1"}, workdir="/w", stage=2,
        port="auto",
        health=HealthSettings(
            http="/h", tcp=True, exec=["true"], a2a=True, log_line="up", initial_delay=1.0,
            interval=2.0,
            start_interval=0.1, timeout=3.0, failure_threshold=4, success_threshold=2,
        ),
        readiness_timeout=9.0, restart=RestartSettings("always", 5, 0.2, 3.0, 7.0),
        stop=StopSettings("HUP", 1.0), depends_on={"s": "completed_successfully"},
        connects_to=["other"], description="a service", secret_env={"K": "{{ token }}"},
        runner="ssh", host="n2", success_exit_codes=[0, 2],
        liveness=HealthSettings(tcp=True, interval=5.0, failure_threshold=2),
        rollout=RolloutSettings(
            steps=[5, 100], interval=0.5, kpis=[GateSettings("error_rate", "<", 0.01)],
            min_requests=3, strategy="blue",
        ),
    )  # fmt: skip
    return Plan(
        name="full", spec_path="/specs/full.yaml", spec_digest="abc", mode="debug",
        parameters={"token": MASK, "n": 2, "x": 1.5, "flag": True}, env={"E": "1"},
        max_parallel=2, failure_strategy="continue", timeout=60.0, sample_interval=0.2,
        prepare=[PlannedCommand(["mkdir", "d"])], cleanup=[PlannedCommand(["rm", "d"])],
        steps=[step, dataclasses.replace(step, name="t", needs=[], checkpoint=None)],
        stages=[["t"], ["s"]], critical_path=["t", "s"], critical_path_seconds=3.25,
        description="everything", checkpoint_interval=30.0, keep_checkpoints=2,
        services=[service], service_stages=[["svc"]], base_port=9000,
        on_service_failure="stop-all", stay_up=True, log_limits={"s": LogLimit(4096, 1)},
        secrets=["token"], secret_env={"AUTH": "{{ token }}"},
        hosts=[HostEntry("n1", "node01", "me", 2222), HostEntry("n2", "node02")],
        ssh=SshSettings("/etc/cfg", ["-oBatchMode=yes"], 5.0, 30.0),
    )  # fmt: skip


PLANS = {
    "pipeline": lambda: built(PIPELINE),
    "fleet": lambda: built(FLEET),
    "mixed": lambda: built(MIXED),
    "secrets": lambda: built(SECRETS),
    "log limits": lambda: built(LOG_LIMITS),
    "every field set": every_field_set,
}


@pytest.mark.parametrize("name", list(PLANS))
def test_a_plan_survives_its_json_document(name: str) -> None:
    plan = PLANS[name]()
    document = json.loads(json.dumps(encode(plan), allow_nan=False))
    assert document["plan_format"] == PLAN_FORMAT
    assert decode(document) == plan


@pytest.mark.parametrize("name", list(PLANS))
def test_the_document_is_the_records_json_form_with_its_format(name: str) -> None:
    """plan --json and plan.json keep every key they had (scripts read them), in order."""
    plan = PLANS[name]()
    assert list(encode(plan).items()) == [("plan_format", PLAN_FORMAT), *to_jsonable(plan).items()]


def _plan_classes() -> dict[type, dict[str, Any]]:
    """Every dataclass a plan is made of, found through the type hints from Plan down."""
    found: dict[type, dict[str, Any]] = {}
    waiting: list[object] = [Plan]
    while waiting:
        hint = waiting.pop()
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            if hint not in found:
                found[hint] = typing.get_type_hints(hint)
                waiting.extend(found[hint].values())
        else:
            waiting.extend(typing.get_args(hint))
    return found


def _set_fields(value: object, seen: dict[type, set[str]]) -> None:
    """Record, for each record in ``value``, the fields not at their default."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = seen.setdefault(type(value), set())
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if field.default is not dataclasses.MISSING:
                default: object = field.default
            elif field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            else:
                default = object()  # a required field: always set
            if item != default:
                names.add(field.name)
            _set_fields(item, seen)
    elif isinstance(value, list):
        for item in value:
            _set_fields(item, seen)
    elif isinstance(value, dict):
        for item in value.values():
            _set_fields(item, seen)


def test_every_field_of_the_plan_model_is_in_the_round_trip() -> None:
    """A field added to the model must be set in every_field_set(), so the round trip above
    proves the JSON form writes and reads it."""
    seen: dict[type, set[str]] = {}
    _set_fields(every_field_set(), seen)
    for cls in _plan_classes():
        names = {field.name for field in dataclasses.fields(cls)}
        assert names - seen.get(cls, set()) == set(), f"{cls.__name__}: set these fields"


# The fields of each plan format. Changed the plan model? Raise codec.PLAN_FORMAT (an older
# Shipyard then says a newer one made the plan, rather than refusing an unknown field or reading
# a field's new meaning the old way), make codec._UPGRADES read the previous format (a renamed or
# removed field; a new field with a default needs nothing), keep a plan.json of the previous
# format under tests/fixtures/, then update this table.
_FORMAT_2 = {
    "Plan": {
        "name": "str",
        "spec_path": "str | None",
        "spec_digest": "str",
        "mode": "RunMode",
        "parameters": "dict[str, ParameterValue]",
        "env": "dict[str, str]",
        "max_parallel": "int",
        "failure_strategy": "FailureStrategy",
        "timeout": "float | None",
        "sample_interval": "float",
        "prepare": "list[PlannedCommand]",
        "cleanup": "list[PlannedCommand]",
        "steps": "list[PlannedStep]",
        "stages": "list[list[str]]",
        "critical_path": "list[str]",
        "critical_path_seconds": "float | None",
        "description": "str",
        "checkpoint_interval": "float | None",
        "keep_checkpoints": "int | None",
        "services": "list[PlannedService]",
        "service_stages": "list[list[str]]",
        "base_port": "int",
        "on_service_failure": "str",
        "stay_up": "bool",
        "log_limits": "dict[str, LogLimit]",
        "secrets": "list[str]",
        "secret_env": "dict[str, str]",
    },
    "PlannedCommand": {"argv": "list[str]", "shell": "bool"},
    "PlannedStep": {
        "name": "str",
        "command": "PlannedCommand",
        "needs": "list[str]",
        "env": "dict[str, str]",
        "workdir": "str",
        "stage": "int",
        "description": "str",
        "timeout": "float | None",
        "retries": "RetrySettings",
        "resources": "ResourceRequest",
        "stop": "StopSettings",
        "enabled": "bool",
        "inputs": "list[str]",
        "outputs": "list[str]",
        "checkpoint": "CheckpointSettings | None",
        "needs_services": "list[str]",
        "secret_env": "dict[str, str]",
    },
    "RetrySettings": {"count": "int", "backoff": "float", "max_backoff": "float", "jitter": "bool"},
    "ResourceRequest": {"cpus": "float | None", "memory": "int | None"},
    "StopSettings": {"signal": "str", "timeout": "float"},
    "CheckpointSettings": {
        "paths": "list[str]",
        "signal": "str | None",
        "ready_file": "str | None",
        "timeout": "float",
    },
    "PlannedService": {
        "name": "str",
        "command": "PlannedCommand",
        "env": "dict[str, str]",
        "workdir": "str",
        "stage": "int",
        "port": "int | str | None",
        "health": "HealthSettings | None",
        "readiness_timeout": "float",
        "restart": "RestartSettings",
        "stop": "StopSettings",
        "depends_on": "dict[str, str]",
        "connects_to": "list[str]",
        "description": "str",
        "secret_env": "dict[str, str]",
    },
    "HealthSettings": {
        "http": "str | None",
        "tcp": "bool",
        "exec": "list[str] | None",
        "a2a": "bool",
        "initial_delay": "float",
        "interval": "float",
        "start_interval": "float | None",
        "timeout": "float",
        "failure_threshold": "int",
        "success_threshold": "int",
    },
    "RestartSettings": {
        "policy": "str",
        "max_restarts": "int",
        "backoff": "float",
        "max_backoff": "float",
        "reset_after": "float",
    },
    "LogLimit": {"max_size": "int", "keep": "int"},
}
SCHEMA_OF_FORMAT = {
    2: _FORMAT_2,
    3: {
        **_FORMAT_2,
        "PlannedStep": {**_FORMAT_2["PlannedStep"], "runner": "str"},
        "PlannedService": {**_FORMAT_2["PlannedService"], "runner": "str"},
    },
}
SCHEMA_OF_FORMAT[4] = {
    **SCHEMA_OF_FORMAT[3],
    "PlannedStep": {**SCHEMA_OF_FORMAT[3]["PlannedStep"], "gates": "list[GateSettings]"},
    "GateSettings": {"metric": "str", "op": "str", "threshold": "float"},
}
SCHEMA_OF_FORMAT[5] = {
    **SCHEMA_OF_FORMAT[4],
    "PlannedService": {
        **SCHEMA_OF_FORMAT[4]["PlannedService"],
        "rollout": "RolloutSettings | None",
    },
    "RolloutSettings": {
        "steps": "list[int]",
        "interval": "float",
        "kpis": "list[GateSettings]",
        "min_requests": "int",
        "strategy": "str",
    },
}
SCHEMA_OF_FORMAT[6] = {
    **SCHEMA_OF_FORMAT[5],
    "Plan": {**SCHEMA_OF_FORMAT[5]["Plan"], "hosts": "list[HostEntry]", "ssh": "SshSettings"},
    "PlannedStep": {
        **SCHEMA_OF_FORMAT[5]["PlannedStep"],
        "host": "str",
        "hosts": "list[str]",
        "mpi": "MpiSettings | None",
        "slurm": "SlurmSettings | None",
    },
    "PlannedService": {**SCHEMA_OF_FORMAT[5]["PlannedService"], "host": "str"},
    "HostEntry": {"name": "str", "address": "str", "user": "str | None", "port": "int | None"},
    "SshSettings": {
        "config": "str | None",
        "options": "list[str]",
        "connect_timeout": "float",
        "persist": "float",
    },
    "MpiSettings": {"nprocs": "int", "ppn": "int | None", "extra": "list[str]"},
    "SlurmSettings": {
        "mode": "SlurmMode",
        "partition": "str | None",
        "time": "str | None",
        "nodes": "int | None",
        "ntasks": "int | None",
        "account": "str | None",
        "extra": "list[str]",
    },
}

SCHEMA_OF_FORMAT[7] = {
    **SCHEMA_OF_FORMAT[6],
    "HealthSettings": {**SCHEMA_OF_FORMAT[6]["HealthSettings"], "log_line": "str | None"},
    "StopSettings": {**SCHEMA_OF_FORMAT[6]["StopSettings"], "command": "PlannedCommand | None"},
    "PlannedStep": {**SCHEMA_OF_FORMAT[6]["PlannedStep"], "success_exit_codes": "list[int]"},
    "PlannedService": {
        **SCHEMA_OF_FORMAT[6]["PlannedService"],
        "success_exit_codes": "list[int]",
        "liveness": "HealthSettings | None",
    },
}


def test_the_plan_model_is_the_format_it_claims() -> None:
    schema = {
        cls.__name__: {field.name: field.type for field in dataclasses.fields(cls)}
        for cls in _plan_classes()
    }
    assert schema == SCHEMA_OF_FORMAT[PLAN_FORMAT], "see the comment over SCHEMA_OF_FORMAT"


def test_a_plan_written_before_the_format_number_is_read() -> None:
    """tests/fixtures/plan_format_1: what Shipyard 808d5e2 wrote for that spec. It reads into
    the very plan this Shipyard builds from the same spec."""
    legacy = json.loads((FIXTURES / "plan.json").read_text(encoding="utf-8"))
    assert "plan_format" not in legacy
    text = (FIXTURES / "spec.yaml").read_text(encoding="utf-8")
    now = build_plan(load_spec_text(text, Path("/specs/format1/spec.yaml")), {}, cores=4)
    assert read_plan(FIXTURES / "plan.json") == now
    assert now.secrets and now.log_limits and now.kind == "mixed"  # what the fixture covers
    assert _holds(encode(decode(legacy)), legacy)  # nothing of it lost or changed


def _holds(document: object, older: object) -> bool:
    """Whether ``document`` has every value of ``older`` (and maybe fields added since)."""
    if isinstance(older, dict):
        return isinstance(document, dict) and all(
            key in document and _holds(document[key], value) for key, value in older.items()
        )
    if isinstance(older, list):
        return (
            isinstance(document, list)
            and len(document) == len(older)
            and all(map(_holds, document, older))
        )
    return type(document) is type(older) and document == older


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ((), "services"),
        ((), "service_stages"),
        ((), "log_limits"),
        ((), "secrets"),
        ((), "secret_env"),
        ((), "stay_up"),
        (("steps", 0), "needs_services"),
        (("steps", 0), "secret_env"),
        (("services", 0), "secret_env"),
    ],
)
def test_an_older_document_lacking_a_later_field_gets_its_default(
    where: tuple[str | int, ...], key: str
) -> None:
    legacy = json.loads((FIXTURES / "plan.json").read_text(encoding="utf-8"))
    part: Any = legacy
    for step in where:
        part = part[step]
    del part[key]
    record: Any = decode(legacy)
    for step in where:
        record = getattr(record, step) if isinstance(step, str) else record[step]
    field = next(f for f in dataclasses.fields(record) if f.name == key)
    expected = field.default_factory() if field.default is dataclasses.MISSING else field.default  # type: ignore[misc]
    assert getattr(record, key) == expected


def test_secrets_stay_masked_through_the_document() -> None:
    """The document holds the mask and the templates, never a value; the engine's reveal of a
    plan read back is the same as of the plan built."""
    plan = built(SECRETS)
    text = json.dumps(encode(plan))
    assert MASK in text and "s3cr3t" not in text
    again = decode(json.loads(text))
    assert again.parameters["token"] == MASK and again.step("use").env["MINE"] == f"{MASK}!"
    assert reveal(again, {"token": "s3cr3t"}) == reveal(plan, {"token": "s3cr3t"})
    assert reveal(again, {"token": "s3cr3t"}).service("api").env["KEY"] == "s3cr3t"


def _changed(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    document = copy.deepcopy(encode(every_field_set()))
    part: Any = document
    for step in path[:-1]:
        part = part[step]
    if value is _REMOVED:
        del part[path[-1]]
    else:
        part[path[-1]] = value
    return document


_REMOVED = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("plan_format",),
            PLAN_FORMAT + 1,
            f"was made by a newer Shipyard (plan format {PLAN_FORMAT + 1};",
        ),
        (("plan_format",), 99, f"reads plan formats 1 to {PLAN_FORMAT}"),
        (("plan_format",), 0, "was made by an older Shipyard (plan format 0;"),
        (("plan_format",), "2", 'its plan_format is "2", not a number'),
        (("plan_format",), True, "its plan_format is true, not a number"),
        (
            ("steps", 1, "retries", "count"),
            "3",
            'steps[1].retries.count should be a whole number, not "3"',
        ),
        (("steps", 0, "retries", "count"), True, "steps[0].retries.count should be a whole number"),
        (
            ("steps", 0, "timeout"),
            "soon",
            'steps[0].timeout should be a number or null, not "soon"',
        ),
        (("steps", 0, "needs", 0), 7, "steps[0].needs[0] should be a string, not 7"),
        (("steps", 0, "env", "A"), None, 'steps[0].env["A"] should be a string, not null'),
        (("mode",), "fast", 'mode should be one of "normal", "debug", "profile", "test"'),
        (
            ("services", 0, "port"),
            1.5,
            "services[0].port should be a whole number or a string or null",
        ),
        (
            ("services", 0, "health", "exec"),
            "true",
            'services[0].health.exec should be a list, not "true"',
        ),
        (("log_limits", "s"), [4096], 'log_limits["s"] should be an object, not a list'),
        (("steps", 0, "surprise"), 1, "steps[0] has a field 'surprise' this Shipyard's"),
        (("steps", 0, "name"), _REMOVED, "steps[0] lacks the field 'name'"),
        (("steps",), {}, "steps should be a list, not an object"),
    ],
)
def test_a_document_it_cannot_read_is_a_clear_error(
    path: tuple[str | int, ...], value: object, message: str
) -> None:
    with pytest.raises(PlanFormatError) as caught:
        decode(_changed(path, value), source="runs/x/plan.json")
    assert isinstance(caught.value, ShipyardError)  # printed without a traceback, exit 2
    assert str(caught.value).startswith("runs/x/plan.json ")
    assert message in caught.value.message
    assert caught.value.hint  # what to do


def test_a_plan_file_that_is_missing_or_not_json_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PlanFormatError, match=r"plan\.json is missing"):
        read_plan(tmp_path / "plan.json")
    (tmp_path / "plan.json").write_text("{not json")
    with pytest.raises(
        PlanFormatError, match=r"plan\.json cannot be read as a plan: it is not JSON"
    ):
        read_plan(tmp_path / "plan.json")
    (tmp_path / "plan.json").write_text("[1, 2]")
    with pytest.raises(PlanFormatError, match="it holds a list, not a plan"):
        read_plan(tmp_path / "plan.json")


def test_a_cache_entry_of_another_format_is_built_again(tmp_path: Path) -> None:
    cache = PlanCache(tmp_path / "plans")
    cache.put("k", every_field_set())
    assert cache.get("k") == every_field_set()
    entry = tmp_path / "plans" / "k.json"
    entry.write_text(json.dumps({**json.loads(entry.read_text()), "plan_format": PLAN_FORMAT + 1}))
    assert cache.get("k") is None


def test_a_type_without_a_rule_is_refused_when_the_converter_is_built() -> None:
    """Never guessed at: a field of a type the codec does not know fails its first use (and
    so the round-trip test), rather than writing something it cannot read back."""

    @dataclasses.dataclass(frozen=True)
    class Odd:
        tags: set[str]

    with pytest.raises(TypeError, match="no rule for set"):
        codec._decoder(Odd)
    with pytest.raises(TypeError, match="no rule for set"):
        codec._encoder(Odd)


def test_a_format_2_document_is_read_with_its_units_running_locally() -> None:
    """Format 3 added ``runner``; a plan.json written in between (format 2) has none."""
    document = encode(built(MIXED))
    document["plan_format"] = 2
    for unit in [*document["steps"], *document["services"]]:
        del unit["runner"]
    plan = decode(document)
    assert plan == built(MIXED)
    assert {unit.runner for unit in [*plan.steps, *plan.services]} == {"local"}


def test_a_plan_of_format_3_is_read_with_no_gates() -> None:
    """tests/fixtures/plan_format_3: format 3 (before steps had gates), as that Shipyard wrote
    PIPELINE's plan; read now, each step has no gates and is otherwise the same."""
    document = json.loads(
        (FIXTURES.parent / "plan_format_3" / "plan.json").read_text(encoding="utf-8")
    )
    assert document["plan_format"] == 3 and "gates" not in document["steps"][0]
    plan = decode(document)
    assert all(step.gates == [] for step in plan.steps)
    # base_port follows $SHIPYARD_BASE_PORT (each pytest-xdist process has its own)
    assert plan == dataclasses.replace(built(PIPELINE), base_port=plan.base_port)


FLEET = """
name: fleet
services:
  web: {run: [python, -m, http.server], port: auto, health: {http: /}}
"""


def test_a_plan_of_format_4_is_read() -> None:
    """tests/fixtures/plan_format_4: format 4 (before services had rollout), FLEET's plan as
    that Shipyard wrote it; read now, the service has no rollout and is otherwise the same."""
    document = json.loads(
        (FIXTURES.parent / "plan_format_4" / "plan.json").read_text(encoding="utf-8")
    )
    assert document["plan_format"] == 4 and "rollout" not in document["services"][0]
    plan = decode(document)
    assert plan.services[0].rollout is None
    assert plan == dataclasses.replace(built(FLEET), base_port=plan.base_port)


LIFECYCLE = """
name: lifecycle
steps:
  prep: {run: [echo, hi], stop: {signal: INT, timeout: 2s}}
services:
  api:
    run: [sleep, "100"]
    port: auto
    health: {tcp: true, interval: 0.5s}
    stop: {signal: TERM, timeout: 3s}
    depends_on: [prep]
"""


def test_a_plan_of_format_6_is_read_with_the_issue_17_defaults() -> None:
    """tests/fixtures/plan_format_6: format 6 (before success_exit_codes, log_line, liveness
    and stop.command), LIFECYCLE's plan as that Shipyard wrote it; read now, exit 0 is the only
    success, no liveness check, no stop command, and it is otherwise the same."""
    document = json.loads(
        (FIXTURES.parent / "plan_format_6" / "plan.json").read_text(encoding="utf-8")
    )
    assert document["plan_format"] == 6 and "liveness" not in document["services"][0]
    plan = decode(document)
    assert plan.step("prep").success_exit_codes == [0] and plan.step("prep").stop.command is None
    api = plan.service("api")
    assert api.liveness is None and api.health is not None and api.health.log_line is None
    assert plan == dataclasses.replace(built(LIFECYCLE), base_port=plan.base_port)
