"""A Mitosis suite or task JSON → Shipyard's suite file or task (docs/importing.md, "Mitosis
suites and tasks").

Both suite shapes are read: the guide's ([B]: ``env_preparation``/``env_cleanup``, an untagged
``worker_schedule``) and the exec-hooks rework ([C]: ``exec_hooks.provision|cleanup|
background``, ``worker_schedule.type: FixedWorkers``); a task is [C]'s ``SubmitTaskReq``
(``spec``: an ExecSpec, ``exec_options.watch``). The file is read with Shipyard's YAML reader
(JSON is YAML), so every problem is at the JSON's own line:column with Mitosis's key names;
a key Mitosis has that Shipyard cannot honour is a note ("unmapped"), never dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shipyard.errors import Location, SpecError, SpecProblem
from shipyard.formats.context import ImportContext, dotted
from shipyard.formats.emit import Entry, Flow, emit
from shipyard.formats.mitosisexec import exec_spec, unknown_keys
from shipyard.formats.notes import ImportResult
from shipyard.spec.jsontoml import load_json
from shipyard.spec.yamlsource import PathKey, SourceMap, YamlProblems, read_yaml

SUITE_KEYS = (
    "name",
    "description",
    "group_name",
    "tags",
    "labels",
    "priority",
    "worker_schedule",
    "exec_hooks",
    "env_preparation",
    "env_cleanup",
)
TASK_KEYS = ("group_name", "suite_uuid", "tags", "labels", "priority", "spec", "exec_options")
SCHEDULE_KEYS = ("type", "worker_count", "task_prefetch_count", "cpu_binding")
STRATEGIES = {"RoundRobin": "round-robin", "Exclusive": "exclusive", "Shared": "shared"}
#: The TaskExecStates a watch may wait for that Shipyard has a state for (the rest: a problem).
WATCHED = {
    "ExecPending": "started",
    "ExecSpawned": "started",
    "ExecFinished": "ended",
    "UploadResult": "ended",
    "UploadFinishedResult": "ended",
    "UploadResultFinished": "ended",
    "TaskCommitted": "ended",
}
HINT = "see docs/importing.md, 'Mitosis suites and tasks'"


@dataclass
class Mapped:
    """A Mitosis file as Shipyard's: a suite file's fields or a task's (``body``), the entries
    of the YAML written for it, the notes, and for each Shipyard field path the Mitosis key
    it came from (a problem Shipyard's checks find is reported there)."""

    kind: Literal["suite", "task"]
    body: dict[str, Any] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    origins: dict[tuple[str, ...], PathKey] = field(default_factory=dict)

    def put(self, ctx: ImportContext, key: str, value: Any, came: PathKey, comment: str) -> None:
        self.body[key] = value
        self.origins[(key,)] = came
        self.entries.append(self._entry(ctx, (key,), value, came, comment))

    def _entry(
        self, ctx: ImportContext, at: tuple[str, ...], value: Any, came: PathKey, comment: str
    ) -> Entry:
        """A key written; a block (each child commented with its Mitosis key) for the
        schedule and the hooks, a flow value on its line for the rest."""
        where = ctx.at(came)
        if isinstance(value, dict) and at[-1] in _BLOCKS:
            children = []
            for key, child in value.items():
                origin = self.origins.get((*at, key), (*came, key))
                children.append(self._entry(ctx, (*at, key), child, origin, dotted(origin)))
            return Entry(at[-1], comment=comment, origin=where, children=children)
        flowed: Flow = _number(value)
        return Entry(at[-1], flowed, comment=comment, origin=where)


#: Values written as a block of keys, each commented (the rest: a flow value on one line).
_BLOCKS = ("worker_schedule", "cpu_binding", "env_preparation", "env_cleanup")


def _number(value: Any) -> Any:
    """3000.0 seconds written 3000."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def read_mitosis(text: str, path: Path | None) -> tuple[dict[str, Any], SourceMap]:
    """The JSON's mapping and where each key is; SpecError at its line:column when it is not
    a JSON (or YAML) object."""
    try:
        load_json(text, path)  # NestedTooDeeply (a SpecError) when nested past the parser
    except ValueError as error:
        if isinstance(error, json.JSONDecodeError) and text.lstrip().startswith(("{", "[")):
            where = Location(path, error.lineno, error.colno)
            raise SpecError(
                [
                    SpecProblem(
                        f"this is not valid JSON: {error.msg}",
                        where,
                        hint="a Mitosis request body is one JSON object",
                    )
                ]
            ) from None
    try:
        data, source = read_yaml(text, path)
    except YamlProblems as error:
        raise SpecError(error.problems) from None
    if not isinstance(data, dict):
        raise SpecError(
            [
                SpecProblem(
                    "a Mitosis suite or task is a JSON object",
                    source.locate(()) or Location(path, 1, 1),
                    hint=HINT,
                )
            ]
        )
    return data, source


def is_task(data: dict[str, Any]) -> bool:
    """A task (SubmitTaskReq: its ``spec`` or ``exec_options``), not a suite."""
    return "spec" in data or "exec_options" in data


def map_mitosis(data: dict[str, Any], source: SourceMap) -> tuple[Mapped, ImportContext]:
    """The suite's or task's Shipyard fields; SpecError with every problem, at the JSON's
    lines, when it cannot be mapped."""
    ctx = ImportContext(source)
    mapped = _task(ctx, data) if is_task(data) else _suite(ctx, data)
    if ctx.problems:
        raise SpecError(ctx.problems)
    return mapped, ctx


def _group(ctx: ImportContext, mapped: Mapped, data: dict[str, Any]) -> None:
    group = data.get("group_name")
    if not isinstance(group, str) or not group:
        message = (
            "group_name: missing (Mitosis requires it)"
            if "group_name" not in data
            else "group_name should be a group's name (a string)"
        )
        ctx.problem(("group_name",), message, hint='"group_name": "ml-team"')
        return
    mapped.put(ctx, "group", group, ("group_name",), "group_name")
    ctx.note(("group_name",), "mapped", "→ group (a Shipyard group: `shipyard admin`)")


def _common(ctx: ImportContext, mapped: Mapped, data: dict[str, Any]) -> None:
    """``tags``, ``labels`` and ``priority``: a suite's and a task's alike."""
    tags = data.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
            ctx.problem(("tags",), "tags should be a list of strings", hint='"tags": ["gpu"]')
        elif tags:
            mapped.put(ctx, "tags", list(tags), ("tags",), "tags (a worker needs them all)")
            ctx.note(("tags",), "mapped", "→ tags")
    labels = data.get("labels")
    if labels is not None:
        if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
            ctx.problem(
                ("labels",),
                "labels should be a list of strings",
                hint='"labels": ["project:resnet"]',
            )
        elif labels:
            mapped.put(
                ctx, "labels", label_map(labels), ("labels",), "labels: 'key:value' → key: value"
            )
            ctx.note(
                ("labels",),
                "approximate",
                "a list of strings → a mapping: 'key:value' "
                "becomes key: value, a label without ':' becomes label: true",
            )
    priority = data.get("priority")
    if priority is not None:
        if not isinstance(priority, int) or isinstance(priority, bool):
            ctx.problem(("priority",), "priority should be an integer", hint='"priority": 10')
        else:
            mapped.put(ctx, "priority", priority, ("priority",), "priority (higher first)")
            ctx.note(("priority",), "mapped", "→ priority")


def label_map(labels: list[str]) -> dict[str, Any]:
    """Mitosis labels (strings) as Shipyard's labels (a mapping): ``k:v`` → ``k: v``."""
    found: dict[str, Any] = {}
    for label in labels:
        key, colon, value = label.partition(":")
        found[key] = value if colon else True
    return found


def _suite(ctx: ImportContext, data: dict[str, Any]) -> Mapped:
    mapped = Mapped("suite")
    _group(ctx, mapped, data)
    for key in ("name", "description"):
        if data.get(key) is not None:
            if isinstance(data[key], str):
                mapped.put(ctx, key, data[key], (key,), key)
                ctx.note((key,), "mapped", f"→ {key}")
            else:
                ctx.problem((key,), f"{key} should be a string")
    _common(ctx, mapped, data)
    _schedule(ctx, mapped, data.get("worker_schedule"))
    _hooks(ctx, mapped, data)
    unknown_keys(ctx, (), data, SUITE_KEYS, "a Mitosis suite (CreateTaskSuiteReq)")
    return mapped


def _schedule(ctx: ImportContext, mapped: Mapped, schedule: Any) -> None:
    at: PathKey = ("worker_schedule",)
    if schedule is None:
        return
    if not isinstance(schedule, dict):
        ctx.problem(
            at,
            "worker_schedule should be a mapping",
            hint='{"type": "FixedWorkers", "worker_count": 4}',
        )
        return
    kind = schedule.get("type", "FixedWorkers")
    if kind != "FixedWorkers":
        ctx.problem(
            (*at, "type"),
            f"worker_schedule.type {kind!r}: Mitosis and Shipyard have only FixedWorkers",
            hint='"type": "FixedWorkers"',
        )
    elif "type" in schedule:
        ctx.note((*at, "type"), "implicit", "FixedWorkers: Shipyard's only schedule")
    found: dict[str, Any] = {}
    for key, ours in (("worker_count", "count"), ("task_prefetch_count", "prefetch")):
        if key in schedule:
            found[ours] = schedule[key]
            mapped.origins[("worker_schedule", ours)] = (*at, key)
            ctx.note((*at, key), "mapped", f"→ worker_schedule.{ours}")
    binding = schedule.get("cpu_binding")
    if binding is not None:
        found["cpu_binding"] = _binding(ctx, mapped, binding)
    unknown_keys(ctx, at, schedule, SCHEDULE_KEYS, "a worker_schedule")
    if found:
        mapped.put(ctx, "worker_schedule", found, at, "worker_schedule: workers per manager")


def _binding(ctx: ImportContext, mapped: Mapped, binding: Any) -> dict[str, Any]:
    at: PathKey = ("worker_schedule", "cpu_binding")
    if not isinstance(binding, dict):
        ctx.problem(
            at,
            "worker_schedule.cpu_binding should be a mapping",
            hint='{"cores": [0, 1], "strategy": "RoundRobin"}',
        )
        return {}
    found: dict[str, Any] = {}
    if "cores" in binding:
        found["cores"] = binding["cores"]
        mapped.origins[("worker_schedule", "cpu_binding", "cores")] = (*at, "cores")
    strategy = binding.get("strategy", "RoundRobin")
    if strategy in STRATEGIES:
        found["strategy"] = STRATEGIES[strategy]
    else:
        ctx.problem(
            (*at, "strategy"),
            f"worker_schedule.cpu_binding.strategy {strategy!r} is "
            "not RoundRobin, Exclusive or Shared",
            hint='"strategy": "RoundRobin"',
        )
    ctx.note(at, "mapped", "→ worker_schedule.cpu_binding (RoundRobin → round-robin …)")
    unknown_keys(ctx, at, binding, ("cores", "strategy"), "a cpu_binding")
    return found


def _hooks(ctx: ImportContext, mapped: Mapped, data: dict[str, Any]) -> None:
    hooks = data.get("exec_hooks")
    if hooks is not None and not isinstance(hooks, dict):
        ctx.problem(
            ("exec_hooks",),
            "exec_hooks should be a mapping of provision, cleanup, background",
            hint='{"provision": {"args": ["./setup.sh"]}}',
        )
        hooks = None
    hooks = hooks or {}
    pairs = (("env_preparation", "provision"), ("env_cleanup", "cleanup"))
    for ours, rework in pairs:
        if ours in data and rework in hooks:
            ctx.problem(
                ("exec_hooks", rework),
                f"exec_hooks.{rework} and {ours} are one hook: give one of them",
                hint=f"keep exec_hooks.{rework} (Mitosis's newer form)",
            )
            continue
        came: PathKey
        if rework in hooks:
            came, given = ("exec_hooks", rework), hooks[rework]
        elif ours in data:
            came, given = (ours,), data[ours]
        else:
            continue
        hook = exec_spec(ctx, came, given, hook=True)
        if hook:
            for key in hook:
                mapped.origins[(ours, key)] = (*came, _exec_key(key))
            mapped.put(ctx, ours, hook, came, f"{dotted(came)} (run by each node manager)")
    if "background" in hooks:
        ctx.unmapped(
            ("exec_hooks", "background"),
            "a suite in Shipyard has no background "
            "process beside its tasks: start it from env_preparation and stop it in "
            "env_cleanup, or run it as a service of a spec (`shipyard up`)",
        )
    unknown_keys(ctx, ("exec_hooks",), hooks, ("provision", "cleanup", "background"), "exec_hooks")


def _exec_key(ours: str) -> str:
    return {"command": "args", "env": "envs"}.get(ours, ours)


def _task(ctx: ImportContext, data: dict[str, Any]) -> Mapped:
    mapped = Mapped("task")
    _group(ctx, mapped, data)
    suite = data.get("suite_uuid")
    if suite is not None:
        if isinstance(suite, str):
            mapped.put(ctx, "suite_uuid", suite, ("suite_uuid",), "suite_uuid")
            ctx.note(("suite_uuid",), "mapped", "→ suite_uuid")
        else:
            ctx.problem(("suite_uuid",), "suite_uuid should be a suite's uuid (a string)")
    _common(ctx, mapped, data)
    if "spec" not in data:
        ctx.problem(
            ("spec",),
            "spec: missing (Mitosis requires it: an ExecSpec)",
            hint='"spec": {"args": ["echo", "hello"]}',
        )
    else:
        for key, value in exec_spec(ctx, ("spec",), data["spec"], hook=False).items():
            mapped.put(ctx, key, value, ("spec", _exec_key(key)), f"spec.{_exec_key(key)}")
    _watch(ctx, mapped, data.get("exec_options"))
    unknown_keys(ctx, (), data, TASK_KEYS, "a Mitosis task (SubmitTaskReq)")
    return mapped


def _watch(ctx: ImportContext, mapped: Mapped, options: Any) -> None:
    at: PathKey = ("exec_options",)
    if options is None:
        return
    if not isinstance(options, dict):
        ctx.problem(at, "exec_options should be a mapping", hint='{"watch": null}')
        return
    unknown_keys(ctx, at, options, ("watch",), "exec_options")
    watch = options.get("watch")
    if watch is None:
        if "watch" in options:
            ctx.note((*at, "watch"), "implicit", "null: the task waits for no other task")
        return
    where: PathKey = (*at, "watch")
    if not (isinstance(watch, list) and len(watch) == 2 and all(isinstance(w, str) for w in watch)):
        ctx.problem(
            where,
            "exec_options.watch should be [task_uuid, TaskExecState] or null",
            hint='"watch": ["0b6f…", "ExecFinished"]',
        )
        return
    upstream, state = watch
    if state not in WATCHED:
        ctx.problem(
            (*where, 1),
            f"exec_options.watch: Shipyard cannot wait for {state!r}",
            hint="a watch waits for ExecSpawned (→ started) or ExecFinished, "
            "UploadResultFinished, TaskCommitted (→ ended)",
        )
        return
    mapped.put(
        ctx,
        "watch",
        {"upstream": upstream, "state": WATCHED[state]},
        where,
        f"exec_options.watch {state}",
    )
    ctx.note(
        where,
        "approximate",
        f"{state} → watch state {WATCHED[state]}: Shipyard "
        "watches a task's state (started, succeeded, failed, ended), not its worker's "
        "finer steps",
    )


def validation_problems(error: Any, mapped: Mapped, source: SourceMap) -> list[SpecProblem]:
    """Shipyard's own checks of the mapped fields (a Pydantic ValidationError), each at the
    Mitosis key it came from and named as Mitosis names it."""
    found = []
    for item in error.errors():
        loc = tuple(str(part) for part in item.get("loc", ()))
        came = next(
            (mapped.origins[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in mapped.origins),
            (),
        )
        name = dotted(came) or "the file"
        found.append(
            SpecProblem(
                f"{name}: {item.get('msg', 'invalid')}", source.locate(came, key=True), hint=HINT
            )
        )
    return found


def suite_text(mapped: Mapped, ctx: ImportContext, path: Path | None) -> ImportResult:
    """The Shipyard suite (or task) file written for it, a comment on each mapping."""
    what = (
        "suite file (`shipyard suite create`)"
        if mapped.kind == "suite"
        else ("task file (`shipyard tasks submit --file`, `shipyard suite submit UUID --file`)")
    )
    header = [
        f"Imported from the Mitosis {mapped.kind} {path.name if path else '<text>'} by "
        "`shipyard import` (docs/importing.md).",
        f"A Shipyard {what}; each mapping is commented with the Mitosis key it came from.",
    ]
    warnings = [note for note in ctx.notes if note.warning]
    if warnings:
        header.append("Not mapped, or mapped with different semantics:")
        header.extend(f"  - {note.line()}" for note in warnings)
    text, origins = emit(header, mapped.entries)
    return ImportResult("mitosis", text, ctx.notes, origins)
