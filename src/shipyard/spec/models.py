"""The spec file as Pydantic models: the single source of the file's shape and its JSON Schema.

Only shape and per-field rules live here. Rules that relate fields to each other (``needs`` naming
a real step, cycles, templates naming real parameters) live in :mod:`shipyard.spec.checks`, where
they can report file:line.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from shipyard.spec.params import bool_word
from shipyard.spec.quantities import format_duration, parse_duration, parse_size

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
#: Health probes no closer than this (seconds): 20 a second per service at most.
MIN_PROBE_INTERVAL = 0.05
#: The shortest uptime that resets a service's restart count (seconds).
MIN_RESET_AFTER = 1.0
#: The most retries a step may ask for: from the 0.1 s floor, doubling to the default 60 s cap,
#: 1000 retries already span ~16 hours, and each attempt is a process, a store row and events.
MAX_RETRIES = 1000
PARAMETER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

Scalar = str | int | float | bool

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(float),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?(ms|s|m|h|d)\s*)+$"},
            ],
            "description": "seconds, or a duration like '30s', '10m', '1h30m', '500ms'",
        }
    ),
]
Size = Annotated[
    int,
    BeforeValidator(parse_size),
    PlainSerializer(int),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}],
            "description": "bytes, or a size like '512K', '4M', '1GiB'",
        }
    ),
]
ParameterType = Literal["str", "int", "float", "bool"]


def _flag(value: object) -> object:
    named = bool_word(value)
    return value if named is None else named


#: A field that can only be a boolean: YAML reads yes/no/on/off as strings (1.2 booleans), and
#: here they name the boolean, as -p does for a bool parameter. Strict after that, so 'y', 't'
#: or 2 (which Pydantic's lax mode would take) are errors, as docs/spec.md says.
Flag = Annotated[
    bool,
    BeforeValidator(_flag),
    Strict(),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "boolean"},
                {"enum": [0, 1]},
                {"enum": ["true", "false", "yes", "no", "on", "off", "1", "0"]},
            ],
            "description": "true or false; yes/no, on/off (any case) and 1/0 name them too",
        }
    ),
]


def _scalar_to_str(value: object) -> object:
    """YAML reads ``[sleep, 1]`` as a str and an int; commands and env want strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _argv_items(value: object) -> object:
    if isinstance(value, list):
        return [_scalar_to_str(item) for item in value]
    return value


def _env_values(value: object) -> object:
    if isinstance(value, dict):
        return {key: _scalar_to_str(item) for key, item in value.items()}
    return value


#: Separates a message from its hint in the ValueErrors below (the loader splits them).
HINT = "\nhint: "
_EXAMPLE = "like [python, train.py, --epochs, '3'] or 'python train.py --epochs 3'"
_WRITE_ONE = f"write the program and its arguments, {_EXAMPLE}"


def _item_kind(item: object) -> str | None:
    """What an argv item is, when it is not one word."""
    if item is None:
        return "empty (null)"
    if isinstance(item, dict):
        return "a mapping"
    if isinstance(item, list):
        return "a list"
    return None


def _command_shape(value: object) -> object:
    """Commands that could never start, said plainly (Pydantic's union errors name neither
    the command nor the fix)."""
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"the command is empty{HINT}{_WRITE_ONE}")
    if not isinstance(value, list):
        return value
    if not value:
        raise ValueError(f"the command is an empty list{HINT}{_WRITE_ONE}")
    for index, item in enumerate(value):
        kind = _item_kind(item)
        if kind is not None:
            raise ValueError(
                f"item {index} of the command is {kind}, not a word{HINT}each item of an argv list "
                f"is one word (quote it if it has ': ' or starts with '{{'), {_EXAMPLE}"
            )
    if value[0] == "":
        raise ValueError(
            f"the program (the first item of the command) is empty{HINT}name the program to run"
        )
    return value


EnvMap = Annotated[dict[str, str], BeforeValidator(_env_values)]
Argv = Annotated[
    list[str], BeforeValidator(_argv_items), BeforeValidator(_command_shape), Field(min_length=1)
]
# A command is an argv list, or a string: split like a shell would (but without one) unless the
# unit says ``shell: true``, in which case it goes to ``/bin/sh -c``.
Command = Annotated[Argv | Annotated[str, Field(min_length=1)], BeforeValidator(_command_shape)]


class _Model(BaseModel):
    # Unknown keys are errors (with a "did you mean" hint): a typo must never be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParameterSpec(_Model):
    """A typed parameter with a default; ``-p name=value`` overrides it."""

    type: ParameterType = Field("str", description="str, int, float or bool")
    default: Scalar | None = Field(None, description="value when not overridden; none = required")
    description: str = ""
    choices: list[Scalar] | None = Field(None, description="the only values allowed")
    test: Scalar | None = Field(None, description="value used in --mode test (small inputs)")
    secret: Flag = Field(
        False,
        description="a password or token: given with -p or $SHIPYARD_PARAM_<NAME> at each run, "
        "shown and recorded as ***, passed to units only through their environment",
    )

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        """Expand the shorthand and bring default, test and choices to the declared type.

        ``block_size: 4M`` is short for ``block_size: {default: 4M}``; the type is inferred from
        the default when not given.
        """
        from shipyard.spec.params import coerce

        if isinstance(data, Scalar):
            data = {"default": data}
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "type" not in data and data.get("default") is not None:
            data["type"] = infer_type(data["default"])
        kind = data.get("type", "str")
        if kind not in ("str", "int", "float", "bool"):
            return data  # the Literal check reports it
        for field in ("default", "test"):
            if data.get(field) is not None:
                data[field] = coerce(data[field], kind, what=field)
        if isinstance(data.get("choices"), list):
            data["choices"] = [coerce(choice, kind, what="choice") for choice in data["choices"]]
            for field in ("default", "test"):
                value = data.get(field)
                if value is not None and value not in data["choices"]:
                    raise ValueError(
                        f"{field} {value!r} is not one of the choices {data['choices']}"
                    )
        return data


def infer_type(value: object) -> ParameterType:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str"


class RetryPolicy(_Model):
    """Retries after a failure: exponential backoff with jitter, capped at ``max_backoff``."""

    count: int = Field(
        0, ge=0, description="how many times to retry after the first attempt (at most 1000)"
    )
    backoff: Duration = Field(
        1.0, description="delay before the first retry (at least 0.1s); doubles each time"
    )
    max_backoff: Duration = Field(60.0, description="cap on the delay between attempts")
    jitter: Flag = Field(True, description="randomise each delay by up to ±25%")

    @field_validator("count")
    @classmethod
    def _not_endless(cls, value: int) -> int:
        """``count: 1000000000000`` is a step retried for ever: a process, an attempt row and
        events each time, until the disk is full."""
        if value > MAX_RETRIES:
            raise ValueError(
                f"{value} retries is too many{HINT}use at most {MAX_RETRIES}: every attempt is a "
                "new process, a row in the store and events in the run's journal, so endless "
                "retries fill the disk; a step that should keep trying can loop itself"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """``retries: 2`` is short for ``retries: {count: 2}``."""
        if isinstance(data, int) and not isinstance(data, bool):
            return {"count": data}
        return data


class Resources(_Model):
    """What a step needs. Declared CPUs and memory are reserved against the machine's capacity."""

    # allow_inf_nan: `.inf` passes gt=0 and would make the step wait for cores forever.
    cpus: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="cores reserved while the step runs"
    )
    memory: Size | None = Field(None, description="memory reserved while the step runs")


def _exit_codes(value: object) -> object:
    """Each code a whole number 0-255, said plainly (an exit code is one byte: 256 or -1
    can never be seen, so a spec listing one would never mean what it says)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]  # ``success_exit_codes: 0`` is short for ``[0]``
    if not isinstance(value, list):
        return value
    if not value:
        raise ValueError(
            f"success_exit_codes is empty{HINT}list at least one code, like [0] or [0, 130]"
        )
    for code in value:
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 255:
            raise ValueError(
                f"exit code {code!r} is not a whole number from 0 to 255{HINT}an exit code is "
                "one byte: list codes like [0, 130] (130 is what a shell gives for Ctrl-C)"
            )
    return sorted(set(value))


#: The exit codes that count as success (issue 17: process-compose's ``success_exit_codes``).
ExitCodes = Annotated[
    list[int],
    BeforeValidator(_exit_codes),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 255},
                {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 0, "maximum": 255},
                    "minItems": 1,
                },
            ],
            "description": "exit codes that count as success, each 0-255 (default [0])",
        }
    ),
]
SUCCESS_EXIT_CODES_HELP = (
    "exit codes that count as success, each 0-255: [0, 130] takes Ctrl-C's 130 as a good end"
)


class StopPolicy(_Model):
    """How a unit is stopped: its ``command`` first (if any), then this signal to its whole
    process group, SIGKILL once ``timeout`` has passed since the stop began."""

    signal: Literal["TERM", "INT", "HUP", "QUIT", "USR1", "USR2", "KILL"] = "TERM"
    timeout: Duration = Field(10.0, description="grace before SIGKILL")
    command: Command | None = Field(
        None,
        description="run first, on this machine, with the unit's environment and workdir "
        "(argv list, or a string: see shell); then the signal",
    )
    shell: Flag = Field(False, description="run the command string with /bin/sh -c")

    @model_validator(mode="after")
    def _shell_needs_a_command(self) -> StopPolicy:
        if self.shell and self.command is None:
            raise ValueError(
                f"stop says 'shell: true' but has no command{HINT}add command: 'a shell "
                "command' (run before the stop signal), or remove shell"
            )
        return self


def _stop_command_runs_here(runner: str, stop: StopPolicy) -> None:
    """A stop command is run by the engine on this machine: for a unit on another host or in
    a Slurm job it would act on the wrong machine."""
    if stop.command is not None and runner != "local":
        raise ValueError(
            f"a stop command runs on this machine, not with runner {runner}{HINT}remove "
            "stop.command (the stop signal reaches the unit wherever it runs), or run the unit "
            "with runner: local"
        )


class CheckpointSpec(_Model):
    """Files a long-running step can be restarted from, and how to ask it to write them."""

    paths: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, description="files or folders (relative to workdir) to keep in a checkpoint"
    )
    signal: Literal["USR1", "USR2", "HUP", "INT", "TERM"] | None = Field(
        None, description="sent to the step before its files are copied"
    )
    ready_file: str | None = Field(
        None, description="the step creates it when its files are written (after the signal)"
    )
    timeout: Duration = Field(30.0, description="how long to wait for ready_file")


class HookCommand(_Model):
    run: Command
    shell: Flag = False


def _hook_list(value: object) -> object:
    """A flat list of strings is one argv; a list of lists/mappings is several commands."""
    if isinstance(value, list) and value and all(not isinstance(v, list | dict) for v in value):
        return [{"run": value}]
    if isinstance(value, list):
        return [item if isinstance(item, dict) else {"run": item} for item in value]
    if isinstance(value, str):
        return [{"run": value}]
    return value


HookList = Annotated[list[HookCommand], BeforeValidator(_hook_list)]


class Hooks(_Model):
    prepare: HookList = Field(default_factory=list, description="run before any step")
    cleanup: HookList = Field(
        default_factory=list, description="run after the steps, whatever happened"
    )


class LogSettings(_Model):
    """A unit's log size limit: past ``max_size`` the log is copied to ``<unit>.log.1`` (older
    copies move up to ``.2`` … ``.keep``) and emptied; checked every ``sample_interval``."""

    max_size: Size | None = Field(
        None, ge=1024, description="rotate the log once it is larger than this (at least 1K)"
    )
    keep: int | None = Field(
        None, ge=0, le=100, description="rotated copies kept, newest first (default 3)"
    )


#: The first port tried for ``port: auto`` when a spec does not say.
DEFAULT_BASE_PORT = 8100


def default_base_port() -> int:
    """``$SHIPYARD_BASE_PORT`` if set (so that fleets started side by side on one machine, as
    parallel test runs are, take their ``auto`` ports from ranges of their own), else 8100."""
    import os

    from shipyard.errors import ShipyardError

    given = os.environ.get("SHIPYARD_BASE_PORT", "").strip()
    if not given:
        return DEFAULT_BASE_PORT
    if not given.isdigit() or not 1 <= int(given) <= 65535:
        raise ShipyardError(
            f"SHIPYARD_BASE_PORT={given!r} is not a port",
            hint="set it to a whole number from 1 to 65535, or unset it for 8100",
        )
    return int(given)


class ExecutionSettings(_Model):
    max_parallel: int | None = Field(
        None, ge=1, description="most units running at once (default: the machine's cores)"
    )
    failure_strategy: Literal["fail_fast", "continue"] = Field(
        "fail_fast",
        description="fail_fast stops everything at the first failure; continue runs every "
        "branch that does not depend on a failed step",
    )
    timeout: Duration | None = Field(None, description="limit for the whole execution")
    sample_interval: Duration = Field(
        1.0, description="how often resource use is sampled (0.2s in profile mode)"
    )
    base_port: int = Field(
        default_factory=default_base_port,
        ge=1,
        le=65535,
        description="first port for port: auto (default 8100, or $SHIPYARD_BASE_PORT)",
    )
    deployment: Literal["staged", "sequential", "parallel"] = Field(
        "staged",
        description="staged: stage by stage, each healthy before the next; sequential: one "
        "service at a time; parallel: all at once",
    )
    on_service_failure: Literal["keep-running", "stop-all"] = Field(
        "keep-running", description="when a service has used up its restarts"
    )
    checkpoint_interval: Duration | None = Field(
        None, description="take a checkpoint this often while steps run"
    )
    keep_checkpoints: int | None = Field(
        None, ge=1, description="keep only the newest N checkpoints of an execution"
    )
    logs: LogSettings | None = Field(
        None, description="every unit's log size limit (a unit's own logs: overrides it)"
    )


#: Where a unit runs (see docs/spec.md, "runner" and docs/hpc.md).
RUNNERS = ("local", "ssh", "slurm")


def _runner(value: object) -> object:
    """A runner name Shipyard has, or a message naming the ones it has."""
    if isinstance(value, str) and value not in RUNNERS:
        raise ValueError(
            f"unknown runner '{value}'{HINT}write one of: {', '.join(RUNNERS)} (local: this "
            "machine; ssh: a host of 'hosts:'; slurm: a Slurm job)"
        )
    return value


RunnerName = Annotated[Literal["local", "ssh", "slurm"], BeforeValidator(_runner)]

HostName = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\s]+$")]

#: A named environment (shipyard env capture NAME; shipyard.environments.NAME).
EnvironmentName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]


class HostSpec(_Model):
    """A host written as a mapping, when a name of its own helps (several "hosts" on one
    address, as in tests)."""

    name: HostName
    address: HostName = Field(description="what ssh connects to: a name or an address")
    user: str | None = Field(None, min_length=1, pattern=r"^[^\s@]+$")
    port: int | None = Field(None, ge=1, le=65535)


class SshSpec(_Model):
    """How the ssh runner reaches the hosts."""

    config: str | None = Field(
        None, description="an ssh_config file (ssh -F), relative to the spec file's folder"
    )
    options: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="ssh options, each Key=Value (passed as -o)"
    )
    connect_timeout: Duration = Field(10.0, gt=0, description="to reach a host")
    persist: Duration = Field(
        60.0, ge=0, description="how long the shared connection stays open once idle"
    )


class MpiSpec(_Model):
    """Run the step with mpirun over its hosts."""

    nprocs: int = Field(ge=1, le=1_000_000, description="ranks in all")
    ppn: int | None = Field(None, ge=1, le=100_000, description="ranks per host")
    extra: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="more mpirun arguments"
    )


class SlurmSpec(_Model):
    """How Slurm runs a unit (on a step, or under the spec's top-level slurm: for all)."""

    mode: Literal["job", "allocation"] = Field(
        "job", description="job: an sbatch job per step; allocation: one allocation, srun per step"
    )
    partition: str | None = Field(None, min_length=1)
    time: str | None = Field(
        None, min_length=1, description="Slurm's time limit form: MM, MM:SS, HH:MM:SS, D-HH:MM"
    )
    nodes: int | None = Field(None, ge=1)
    ntasks: int | None = Field(None, ge=1)
    account: str | None = Field(None, min_length=1)
    extra: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="more sbatch/srun arguments"
    )


#: The comparisons a quality gate may make, as written in the spec.
GATE_OPERATORS = (">=", ">", "<=", "<", "==", "!=")
_GATE_FORM = (
    "write a gate as {metric: NAME, OP: NUMBER} with one OP of "
    + ", ".join(GATE_OPERATORS)
    + ', like {metric: accuracy, ">=": 0.85}'
)


class GateSpec(_Model):
    """A quality gate: a metric the step reports, compared with a threshold. Written in the
    spec as ``{metric: accuracy, ">=": 0.85}`` (see :func:`_gate_shape`)."""

    metric: Annotated[str, Field(min_length=1, max_length=200)]
    op: Literal[">=", ">", "<=", "<", "==", "!="]
    threshold: float = Field(allow_inf_nan=False)

    @property
    def display(self) -> str:
        """``accuracy >= 0.85``: how messages name the gate."""
        return f"{self.metric} {self.op} {format_threshold(self.threshold)}"


def format_threshold(value: float) -> str:
    """0.85 as ``0.85``, 200.0 as ``200``: a threshold as the spec's author wrote it."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _gate_shape(value: object) -> object:
    """``{metric: accuracy, ">=": 0.85}`` → ``{metric, op, threshold}``, with every way of
    getting it wrong said plainly (an operator YAML could not read as a key, two operators, a
    threshold that is not a number, an empty metric name)."""
    if not isinstance(value, dict):
        raise ValueError(f"a gate is a mapping, not {type(value).__name__}{HINT}{_GATE_FORM}")
    metric = value.get("metric")
    if not isinstance(metric, str) or not metric.strip():
        raise ValueError(
            f"a gate needs 'metric': the name of a figure the step reports{HINT}{_GATE_FORM}"
        )
    operators = [key for key in value if key in GATE_OPERATORS]
    unknown = [str(key) for key in value if key != "metric" and key not in GATE_OPERATORS]
    if unknown:
        raise ValueError(
            f"gate on '{metric}': {', '.join(repr(k) for k in unknown)} is not a comparison"
            f'{HINT}{_GATE_FORM} (quote the operator: ">=")'
        )
    if len(operators) != 1:
        raise ValueError(
            f"gate on '{metric}' has {len(operators) or 'no'} comparison"
            f"{'s' if len(operators) != 1 else ''}: exactly one is needed{HINT}{_GATE_FORM}; "
            "two conditions on one metric are two gates"
        )
    op = operators[0]
    threshold = value[op]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ValueError(
            f"gate '{metric} {op}': the threshold {threshold!r} is not a number{HINT}{_GATE_FORM}"
        )
    if not math.isfinite(threshold):
        raise ValueError(
            f"gate '{metric} {op}': the threshold must be a finite number{HINT}{_GATE_FORM}"
        )
    return {"metric": metric.strip(), "op": op, "threshold": float(threshold)}


Gate = Annotated[
    GateSpec,
    BeforeValidator(_gate_shape),
    WithJsonSchema(
        {
            "type": "object",
            "properties": {
                "metric": {"type": "string", "minLength": 1},
                **{op: {"type": "number"} for op in GATE_OPERATORS},
            },
            "required": ["metric"],
            "minProperties": 2,
            "maxProperties": 2,
            "additionalProperties": False,
            "description": "a metric the step reports and one comparison with a number: "
            '{metric: accuracy, ">=": 0.85}',
        }
    ),
]


class StepSpec(_Model):
    """A unit that runs to completion."""

    description: str = ""
    run: Command = Field(description="argv list, or a string (see shell)")
    shell: Flag = Field(False, description="run the string with /bin/sh -c")
    needs: list[str] = Field(
        default_factory=list,
        description="steps that must succeed first, or services that must be healthy first",
    )
    env: EnvMap = Field(default_factory=dict)
    environment: EnvironmentName | None = Field(
        None,
        description="a named environment (shipyard env capture) under this unit's env: "
        "(default: the spec's environment)",
    )
    workdir: str | None = Field(None, description="relative to the spec file's folder")
    timeout: Duration | None = None
    retries: RetryPolicy = Field(default_factory=lambda: RetryPolicy())
    resources: Resources = Field(default_factory=lambda: Resources())
    stop: StopPolicy = Field(default_factory=lambda: StopPolicy())
    enabled: Flag = Field(True, description="false: skipped, dependants still run")
    inputs: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="files or folders the step reads (relative to workdir): their content is "
        "part of the step's cache key, so resume re-runs the step when they change",
    )
    checkpoint: CheckpointSpec | None = Field(
        None, description="how to checkpoint this step while it runs"
    )
    outputs: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="files or folders the step writes (relative to workdir): copied into the "
        "run's artifacts/<step>/ after it succeeds",
    )
    logs: LogSettings | None = Field(None, description="this step's log size limit")
    runner: RunnerName = Field(
        "local", description="where the step runs: local (this machine), ssh, slurm"
    )
    host: HostName | None = Field(
        None, description="runner ssh: the host it runs on (default: the hosts in turn)"
    )
    hosts: list[HostName] | None = Field(
        None, description="an MPI step's hosts (default: all of the spec's hosts)"
    )
    mpi: MpiSpec | None = Field(None, description="run with mpirun over the hosts")
    slurm: SlurmSpec | None = Field(None, description="runner slurm: this step's settings")
    gates: list[Gate] = Field(
        default_factory=list,
        description="quality gates on the metrics the step reports: if one fails (or its "
        "metric was never reported) the step is 'gated' and its dependants do not run",
    )
    success_exit_codes: ExitCodes = Field(
        default_factory=lambda: [0], description=SUCCESS_EXIT_CODES_HELP
    )

    @model_validator(mode="after")
    def _stop_command_here(self) -> StepSpec:
        _stop_command_runs_here(self.runner, self.stop)
        return self


#: The probes a health check chooses one of.
_PROBES = ("http", "tcp", "exec", "a2a", "log_line")


class HealthSpec(_Model):
    """How to tell a service is up: exactly one probe, then thresholds."""

    http: str | None = Field(None, description="GET this path on the service's port; 2xx/3xx = up")
    tcp: Flag = Field(False, description="a TCP connection to the service's port is accepted")
    exec: Argv | None = Field(None, description="this command exits 0")
    a2a: Flag = Field(
        False,
        description="an A2A agent card is served at /.well-known/agent-card.json (or agent.json) "
        "and names this service and its URL",
    )
    log_line: Annotated[str, Field(min_length=1, max_length=1000)] | None = Field(
        None,
        description="a line containing this text has appeared in the service's log since its "
        "start (readiness only)",
    )
    initial_delay: Duration = Field(0.0, description="wait this long after start before probing")
    interval: Duration = Field(1.0, description="between probes")
    start_interval: Duration | None = Field(
        None,
        description="between probes until the service is first healthy after a start "
        "(default: interval): quick readiness without frequent liveness probes",
    )
    timeout: Duration = Field(1.0, description="a probe slower than this failed")
    failure_threshold: int = Field(3, ge=1, description="failed probes in a row = unhealthy")
    success_threshold: int = Field(1, ge=1, description="good probes in a row = healthy")

    @field_validator("interval", "start_interval", "timeout")
    @classmethod
    def _not_too_often(cls, value: float | None, info: ValidationInfo) -> float | None:
        """Probing every 0s spins a core until the readiness timeout; a 0s timeout fails
        every probe."""
        if value is not None and value < MIN_PROBE_INTERVAL:
            raise ValueError(
                f"{info.field_name} {format_duration(value)} is too short{HINT}use at least "
                f"{format_duration(MIN_PROBE_INTERVAL)}: probes closer than that keep a core busy "
                "(a timeout that short fails every probe)"
            )
        return value

    @model_validator(mode="after")
    def _one_probe(self) -> HealthSpec:
        chosen = [name for name in _PROBES if getattr(self, name)]
        if len(chosen) != 1:
            raise ValueError(
                "a health check has exactly one probe: http: /path, tcp: true, exec, a2a: true "
                "or log_line: TEXT"
            )
        if self.log_line is not None and ("\n" in self.log_line or "\r" in self.log_line):
            raise ValueError(
                f"log_line {self.log_line!r} spans lines{HINT}give text from one line of the "
                "log: the service is ready once a line containing it is written"
            )
        if self.http is not None and not self.http.startswith("/"):
            raise ValueError(f"http probe path {self.http!r} must start with '/'")
        return self


class RestartSpec(_Model):
    """What to do when a service exits or turns unhealthy."""

    policy: Literal["no", "on-failure", "always"] = Field(
        "on-failure", description="on-failure: after a non-zero exit, a signal or bad health"
    )
    max_restarts: int = Field(3, ge=0, description="then the service is failed")
    backoff: Duration = Field(1.0, description="delay before the first restart; doubles")
    max_backoff: Duration = Field(30.0, description="cap on the delay")
    reset_after: Duration = Field(
        60.0,
        description="a service up this long gets its restart count back to zero (at least 1s)",
    )

    @field_validator("reset_after")
    @classmethod
    def _long_enough_to_prove_stable(cls, value: float) -> float:
        """Below ~1s a service that crashes at once counts as stable every time: its restart
        count never grows, max_restarts never stops it, and it restarts forever."""
        if value < MIN_RESET_AFTER:
            raise ValueError(
                f"reset_after {format_duration(value)} is too short{HINT}use at least "
                f"{format_duration(MIN_RESET_AFTER)}: it is the uptime that proves a service "
                "stable; shorter, a service that crashes at once has its restart count reset "
                "every time and max_restarts never stops the crash loop"
            )
        return value


DependsOnCondition = Literal["started", "healthy", "completed_successfully"]


def _depends_on(value: object) -> object:
    """``[a, b]`` is short for ``{a: null, b: null}``: each dependency's usual condition
    (healthy for a service, completed_successfully for a step)."""
    if isinstance(value, list):
        return {str(name): None for name in value}
    return value


#: What a canary's KPIs may name: figures the rollout's proxy measures itself, per version.
KPI_METRICS = ("error_rate", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms")
_KPI_FORM = (
    "write a KPI as {metric: NAME, OP: NUMBER} with NAME one of "
    + ", ".join(KPI_METRICS)
    + ', like {metric: error_rate, "<": 0.01}'
)


def _kpi_shape(value: object) -> object:
    """A KPI is written as a gate is (one operator, a number), on a figure the proxy measures."""
    shaped = _gate_shape(value)
    assert isinstance(shaped, dict)
    if shaped["metric"] not in KPI_METRICS:
        raise ValueError(
            f"KPI on '{shaped['metric']}': the rollout's proxy does not measure it{HINT}{_KPI_FORM}"
        )
    return shaped


Kpi = Annotated[
    GateSpec,
    BeforeValidator(_kpi_shape),
    WithJsonSchema(
        {
            "type": "object",
            "properties": {
                "metric": {"enum": list(KPI_METRICS)},
                **{op: {"type": "number"} for op in GATE_OPERATORS},
            },
            "required": ["metric"],
            "minProperties": 2,
            "maxProperties": 2,
            "additionalProperties": False,
            "description": "a figure the proxy measures for the canary and one comparison: "
            '{metric: error_rate, "<": 0.01}',
        }
    ),
]

#: A canary interval no shorter than this (seconds): a window needs time to hold requests.
MIN_ROLLOUT_INTERVAL = 0.1


class RolloutSpec(_Model):
    """How a new version of the service replaces the running one: a canary behind a measuring
    proxy on the service's port, its share of requests raised step by step while its KPIs hold."""

    strategy: Literal["canary"] = Field("canary", description="canary: the only strategy so far")
    steps: list[int] = Field(
        default_factory=lambda: [10, 50, 100],
        min_length=1,
        description="the canary's share of requests (percent) at each step, increasing, ending "
        "at 100 (promoted)",
    )
    interval: Duration = Field(30.0, description="how long each step's KPIs must hold")
    kpis: list[Kpi] = Field(
        default_factory=list,
        description="figures the proxy measures for the canary over each interval: "
        "error_rate, p50_latency_ms, p95_latency_ms, p99_latency_ms",
    )
    min_requests: int = Field(
        20, ge=1, description="requests the canary must have served in a window to be judged"
    )

    @field_validator("steps")
    @classmethod
    def _steps_climb_to_100(cls, value: list[int]) -> list[int]:
        """A step back down, past 100 or stopping short of it would never promote."""
        for number in value:
            if not 1 <= number <= 100:
                raise ValueError(
                    f"step {number} is not a share of requests{HINT}each step is a percentage "
                    "from 1 to 100, like [10, 50, 100]"
                )
        for before, after in itertools.pairwise(value):
            if after <= before:
                raise ValueError(
                    f"steps {value} do not increase ({before} then {after}){HINT}list the "
                    "canary's shares in increasing order, like [10, 50, 100]"
                )
        if value[-1] != 100:
            raise ValueError(
                f"steps {value} end at {value[-1]}, not 100{HINT}end with 100: the step at "
                "which the new version is promoted"
            )
        return value

    @field_validator("interval")
    @classmethod
    def _long_enough_to_measure(cls, value: float) -> float:
        if value < MIN_ROLLOUT_INTERVAL:
            raise ValueError(
                f"interval {format_duration(value)} is too short{HINT}use at least "
                f"{format_duration(MIN_ROLLOUT_INTERVAL)}: each step's window must hold enough "
                "requests to judge"
            )
        return value


class ServiceSpec(_Model):
    """A unit that keeps running: a server, an agent."""

    description: str = ""
    run: Command = Field(description="argv list, or a string (see shell)")
    shell: Flag = Field(False, description="run the string with /bin/sh -c")
    env: EnvMap = Field(default_factory=dict)
    environment: EnvironmentName | None = Field(
        None,
        description="a named environment (shipyard env capture) under this unit's env: "
        "(default: the spec's environment)",
    )
    workdir: str | None = Field(None, description="relative to the spec file's folder")
    port: Annotated[int, Field(ge=1, le=65535)] | Literal["auto"] | None = Field(
        None, description="a number, or auto: the first free port from execution.base_port"
    )
    health: HealthSpec | None = Field(None, description="without one, started = healthy")
    liveness: HealthSpec | None = Field(
        None,
        description="a check of its own once the service is healthy: failing it restarts the "
        "service under its restart policy (health then only gates readiness)",
    )
    readiness_timeout: Duration = Field(60.0, description="to become healthy after a start")
    restart: RestartSpec = Field(default_factory=lambda: RestartSpec())
    stop: StopPolicy = Field(default_factory=lambda: StopPolicy())
    depends_on: Annotated[dict[str, DependsOnCondition | None], BeforeValidator(_depends_on)] = (
        Field(
            default_factory=dict,
            description="units that must be ready first: a service started or healthy (the "
            "default), a step completed_successfully (the default); a list means the defaults",
        )
    )
    replicas: int = Field(
        1, ge=1, le=64, description="copies of the service, named name-1, name-2, … (port: auto)"
    )
    logs: LogSettings | None = Field(None, description="this service's log size limit")
    runner: RunnerName = Field(
        "local", description="where the service runs: local (this machine) or ssh"
    )
    host: HostName | None = Field(None, description="runner ssh: the host it runs on")
    rollout: RolloutSpec | None = Field(
        None,
        description="roll a new version out as a canary behind a measuring proxy on the "
        "service's port (`shipyard rollout start`); needs a port and a health check",
    )
    success_exit_codes: ExitCodes = Field(
        default_factory=lambda: [0],
        description=SUCCESS_EXIT_CODES_HELP + " (restart policy on-failure does not restart them)",
    )

    @model_validator(mode="after")
    def _stop_command_here(self) -> ServiceSpec:
        _stop_command_runs_here(self.runner, self.stop)
        return self

    @model_validator(mode="after")
    def _liveness_can_fail(self) -> ServiceSpec:
        """A log line, once written, is there for good: as a liveness check it could never
        fail, and a hung service would never be restarted."""
        if self.liveness is not None and self.liveness.log_line is not None:
            raise ValueError(
                f"liveness: a log line tells readiness only{HINT}put log_line under health:, "
                "and give liveness: a probe that can fail later (http, tcp, exec or a2a)"
            )
        return self

    @model_validator(mode="after")
    def _canary_can_be_judged(self) -> ServiceSpec:
        """A canary is started and judged through its health check and its port: without
        them it would take traffic before it could answer."""
        if self.rollout is None:
            return self
        if self.health is None:
            raise ValueError(
                f"a canary rollout needs a health check{HINT}add health: {{http: /health}} "
                "(or tcp: true): the new version gets traffic only once it is healthy"
            )
        if self.health.log_line is not None:
            raise ValueError(
                f"a canary rollout cannot be judged by a log line{HINT}give the service a "
                "health check on its port (http: /health, tcp: true) or an exec one"
            )
        if self.port is None:
            raise ValueError(
                f"a canary rollout needs a port{HINT}add port: auto (or a number): the "
                "rollout's proxy serves the service there"
            )
        if self.replicas > 1:
            raise ValueError(
                f"a canary rollout is for a service of one replica{HINT}remove replicas or rollout"
            )
        return self


class TopologySpec(_Model):
    """How services connect (and so in which order they start)."""

    type: Literal["hub-spoke", "pipeline", "dag", "mesh", "hierarchical"]
    hub: str | None = Field(None, description="hub-spoke: the service that talks to the spokes")
    spokes: list[str] = Field(default_factory=list, description="hub-spoke")
    stages: list[str | list[str]] = Field(
        default_factory=list, description="pipeline: in order; a list is a parallel stage"
    )
    edges: dict[str, list[str]] = Field(
        default_factory=dict, description="dag: service → the services it sends to"
    )
    members: list[str] = Field(default_factory=list, description="mesh (default: every service)")
    levels: list[list[str]] = Field(
        default_factory=list, description="hierarchical: top level first; parents → children"
    )


class SweepSpec(_Model):
    """A parameter sweep of this spec (``shipyard sweep FILE`` without -m runs it): each point
    of the matrix is an execution of its own."""

    matrix: dict[
        Annotated[str, Field(pattern=PARAMETER_PATTERN)],
        Annotated[list[Scalar], Field(min_length=1)],
    ] = Field(min_length=1, description="parameter -> the values it takes")
    zip: list[list[str]] = Field(
        default_factory=list,
        description="groups of parameters that move together (as many values each), as Jarvis's "
        "loop; the groups, and the parameters in none, are crossed",
    )
    repeat: int = Field(1, ge=1, le=1000, description="executions of each point")
    max_parallel_runs: int = Field(1, ge=1, le=256, description="points running at once")
    timeout_per_run: Duration | None = Field(None, description="a point running longer is stopped")
    failure_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="start no more points once the failed share of all points passes this",
    )
    objective: str | None = Field(
        None,
        pattern=r"^.+:(max|min)$",
        description="the metric to optimise: METRIC:max or METRIC:min",
    )
    slurm_array: bool = Field(
        False,
        description="submit the points as one Slurm job array, max_parallel_runs its throttle "
        "(docs/hpc.md)",
    )


class Spec(_Model):
    """A Shipyard spec file."""

    name: str = Field(pattern=NAME_PATTERN, max_length=64)
    description: str = ""
    parameters: dict[Annotated[str, Field(pattern=PARAMETER_PATTERN)], ParameterSpec] = Field(
        default_factory=dict
    )
    env: EnvMap = Field(default_factory=dict, description="for every unit")
    environment: EnvironmentName | None = Field(
        None,
        description="a named environment (shipyard env capture) for every unit and hook, "
        "under the env: keys",
    )
    execution: ExecutionSettings = Field(default_factory=lambda: ExecutionSettings())
    hooks: Hooks = Field(default_factory=lambda: Hooks())
    steps: dict[Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)], StepSpec] = Field(
        default_factory=dict
    )
    services: dict[Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)], ServiceSpec] = Field(
        default_factory=dict, description="units that keep running (a fleet)"
    )
    topology: TopologySpec | None = Field(None, description="how the services connect")
    sweep: SweepSpec | None = Field(None, description="a parameter sweep (shipyard sweep)")
    hosts: str | list[HostName | HostSpec] | None = Field(
        None,
        description="hosts for the ssh runner and MPI: a hostfile (relative to the spec file's "
        "folder) or a list; entries [user@]name[:port], node[01-04] expands",
    )
    ssh: SshSpec | None = Field(None, description="how the ssh runner reaches the hosts")
    slurm: SlurmSpec | None = Field(None, description="Slurm settings for every slurm unit")
