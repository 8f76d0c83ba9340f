"""A Jarvis-CD pipeline YAML (or pipeline test, or suite of tests) → the equivalent Shipyard
spec. docs/importing.md ("Jarvis-CD pipelines") has the table.

Read with Shipyard's own YAML reader (so every note and problem has the file's line and column
and its own key names), then: the pipeline keys (``name``, ``env``, ``hostfile``, ``scheduler``,
``interceptors``), each package through its type's template (:mod:`jarvisunit`,
:mod:`jarvispkgs`), and a test's ``vars``/``loop``/``repeat`` as the spec's ``sweep:``
(:mod:`jarvissweep`); the written spec has a comment on each mapping (:mod:`emit`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import SpecError
from shipyard.formats.context import ImportContext
from shipyard.formats.emit import Entry, Flow, emit
from shipyard.formats.jarvispkgs import DECLARATIONS, Package, close_type, lookup, read_declarations
from shipyard.formats.jarvissweep import sweep_entry, swept_settings
from shipyard.formats.jarvisunit import Pipeline, expand, interceptor_env, settings_of, unit_of
from shipyard.formats.naming import slug
from shipyard.formats.notes import ImportResult
from shipyard.spec.models import NAME_PATTERN
from shipyard.spec.yamlsource import PathKey, SourceMap

_NO_CONTAINERS = (
    "Shipyard runs packages on this machine (or through its ssh and Slurm runners), not in "
    "containers or spack: each package's program must be installed here"
)
#: Pipeline keys with no Shipyard equivalent, and why.
UNMAPPED = {
    "base_deploy_mode": _NO_CONTAINERS,
    "install_manager": _NO_CONTAINERS,
    "container_engine": _NO_CONTAINERS,
    "container_base": _NO_CONTAINERS,
    "container_image": _NO_CONTAINERS,
    "container_binds": _NO_CONTAINERS,
    "container_env": _NO_CONTAINERS,
    "container_gpu": _NO_CONTAINERS,
    "container_caps": _NO_CONTAINERS,
    "tmp_bind_root": _NO_CONTAINERS,
    "ssh_cmd": "the ssh runner runs OpenSSH with the spec's ssh: options (docs/hpc.md)",
    "pssh_cmd": "the ssh runner runs OpenSSH with the spec's ssh: options (docs/hpc.md)",
    "mpi_cmd": "MPI steps run Open MPI's mpirun (docs/hpc.md, MPI)",
}
PIPELINE_KEYS = {"name", "env", "pkgs", "interceptors", "hostfile", "scheduler"}
TEST_KEYS = {"config", "vars", "loop", "repeat", "output", "scheduler", "name"}
#: scheduler keys → what they become
SCHEDULER_UNMAPPED = {
    "job_name": "Shipyard names its Slurm jobs itself (shipyard.<execution>.<step>)",
    "output": "a Slurm step's output goes to its Shipyard log (shipyard logs)",
    "error": "a Slurm step's output goes to its Shipyard log (shipyard logs)",
    "hostfile": "the allocation's nodes are Slurm's: mpirun takes them from the job",
}

_NAME = re.compile(NAME_PATTERN)


@dataclass
class Spec:
    """The spec being written: its parts, in the order they are written."""

    top: list[Entry] = field(default_factory=list)
    parameters: list[Entry] = field(default_factory=list)
    steps: Entry = field(
        default_factory=lambda: Entry("steps", comment="pkgs that run to their end")
    )
    services: Entry = field(
        default_factory=lambda: Entry("services", comment="pkgs that keep running (servers)")
    )
    #: the last unit written (the next experiment's first one waits for it)
    last: tuple[str, bool] | None = None
    hosts: tuple[PathKey, str] | None = None
    slurm: tuple[PathKey, Entry] | None = None
    #: the pipeline just read (a test's sweep names its parameters)
    current: Pipeline = field(default_factory=Pipeline)


def import_jarvis(
    data: dict[str, Any],
    source: SourceMap,
    path: Path | None,
    *,
    rebase: Callable[[str | None], str | None] | None = None,
) -> ImportResult:
    """``data`` read from ``path`` as a Shipyard spec; SpecError with every problem, at the
    file's own lines (or at jarvis-packages.yaml's), when it cannot be imported."""
    ctx = ImportContext(source)
    declared = read_declarations(path.parent) if path is not None else {}
    spec = Spec()
    if "experiments" in data:
        name = _suite(ctx, data, declared, spec)
    elif "config" in data:
        # a test names itself after its config (a top-level name, if given, wins)
        name = _test(ctx, (), data, declared, spec, prefix="", sweep=True)
        name = _name_of(data) or name
        for key in data:
            if key not in TEST_KEYS:
                ctx.unmapped((key,), "not a Jarvis-CD pipeline test key this importer knows")
    else:
        name = _pipeline(ctx, (), data, declared, spec, prefix="", single=True, swept=set())
    if ctx.problems:
        raise SpecError(ctx.problems)
    fallback = path.stem if path is not None else "jarvis"
    top = [Entry("name", slug(name or fallback), comment="name" if name else "the file's name")]
    if spec.parameters:
        top.append(
            Entry(
                "parameters",
                comment="the packages' settings: -p NAME=VALUE, or a sweep",
                children=spec.parameters,
            )
        )
    top.extend(spec.top)
    if spec.hosts is not None:
        where, hostfile = spec.hosts
        top.append(
            Entry(
                "hosts",
                rebase(hostfile) if rebase else hostfile,
                comment="hostfile (Shipyard reads it as Jarvis does: node[01-04] expands)",
                origin=ctx.at(where),
            )
        )
    if spec.slurm is not None:
        top.append(spec.slurm[1])
    if rebase is not None:
        _workdirs(spec, rebase)
    top.extend(entry for entry in (spec.steps, spec.services) if entry.children)
    sweep = next((entry for entry in spec.top if entry.key == "sweep"), None)
    if sweep is not None:  # written last: it names the parameters above
        top.remove(sweep)
        top.append(sweep)
    text, origins = emit(ctx.header("the Jarvis-CD pipeline", path), top)
    return ImportResult("jarvis", text, ctx.notes, origins)


def _workdirs(spec: Spec, rebase: Callable[[str | None], str | None]) -> None:
    """A spec written to another folder: each unit runs in the pipeline file's folder (its
    relative paths, output_file: x.txt, name files there)."""
    folder = rebase(None)
    if folder is None or folder == ".":
        return
    for unit in spec.steps.children + spec.services.children:
        unit.children.insert(
            1, Entry("workdir", folder, comment="the pipeline file's folder (its relative paths)")
        )


def _suite(
    ctx: ImportContext, data: dict[str, Any], declared: dict[str, Package], spec: Spec
) -> str | None:
    experiments = data.get("experiments")
    if not isinstance(experiments, list) or not experiments:
        ctx.problem(
            ("experiments",), "experiments should be a list of pipeline tests (config, vars, …)"
        )
        raise SpecError(ctx.problems)
    swept_first: int | None = None
    seen: set[str] = set()
    for index, experiment in enumerate(experiments):
        at: PathKey = ("experiments", index)
        if not isinstance(experiment, dict) or not isinstance(experiment.get("config"), dict):
            ctx.problem(
                at, "an experiment is a pipeline test: a mapping with config (and vars, loop, …)"
            )
            continue
        config = experiment["config"]
        name = slug(str(config.get("name") or f"experiment{index + 1}"))
        if name in seen:
            ctx.problem((*at, "config", "name"), f"two experiments are named '{name}'")
            continue
        seen.add(name)
        sweeps = "vars" in experiment and swept_first is None
        if sweeps:
            swept_first = index
        _test(ctx, at, experiment, declared, spec, prefix=name, sweep=sweeps)
        for key in experiment:
            if key not in TEST_KEYS - {"name"}:
                ctx.unmapped((*at, key), "not a Jarvis-CD pipeline test key this importer knows")
    ctx.note(
        ("experiments",),
        "approximate",
        "the experiments run one after another in one execution (each experiment's first "
        "package waits for the last one before it); a service of an earlier experiment stays "
        "up until the run ends, where Jarvis stops each pipeline before the next",
    )
    for key in data:
        if key not in ("name", "experiments"):
            ctx.unmapped((key,), "not a Jarvis-CD suite key this importer knows")
    return _name_of(data)


def _name_of(data: dict[str, Any]) -> str | None:
    found = data.get("name")
    return str(found) if isinstance(found, str) and found.strip() else None


def _test(
    ctx: ImportContext,
    at: PathKey,
    test: dict[str, Any],
    declared: dict[str, Package],
    spec: Spec,
    *,
    prefix: str,
    sweep: bool,
) -> str | None:
    """A pipeline test: its config as the pipeline; its vars/loop/repeat as the sweep (only
    ``sweep``'s: a spec has one sweep block)."""
    config = test.get("config")
    if not isinstance(config, dict):
        ctx.problem((*at, "config"), "config should be a pipeline (name, pkgs, …)")
        raise SpecError(ctx.problems)
    scheduler = test.get("scheduler")
    if scheduler is not None:
        merged: dict[str, Any] = {}
        if isinstance(scheduler, dict):
            merged.update(scheduler)
        if isinstance(config.get("scheduler"), dict):
            merged.update(config["scheduler"])
        config = {**config, "scheduler": merged}
    swept = swept_settings(ctx, at, test)
    name = _pipeline(
        ctx,
        (*at, "config"),
        config,
        declared,
        spec,
        prefix=f"{prefix}_" if prefix else "",
        single=not at,
        swept=swept,
        scheduler_at=(*at, "scheduler") if scheduler is not None else None,
    )
    if sweep:
        entry = sweep_entry(ctx, at, test, spec.current)
        if entry is not None:
            spec.top.append(entry)
    elif "vars" in test:
        _other_sweep(ctx, at, test, spec.current)
    return name


def _other_sweep(ctx: ImportContext, at: PathKey, test: dict[str, Any], pipeline: Pipeline) -> None:
    """A later experiment's sweep: named, with the command that runs it."""
    parts: list[str] = []
    variables = test.get("vars")
    if isinstance(variables, dict):
        for key, values in variables.items():
            pkg, _, setting = str(key).partition(".")
            name = pipeline.names.get((pkg, setting))
            if name is not None and isinstance(values, list):
                parts.append(f"-m {name}={','.join(str(v) for v in values)}")
    command = f"shipyard sweep FILE {' '.join(parts)}".rstrip()
    for key in ("vars", "loop", "repeat", "output"):
        if key in test:
            ctx.unmapped(
                (*at, key),
                "a spec has one sweep block (the first experiment's): run this one with "
                f"`{command}` (each point runs the whole suite's packages)",
            )


def _pipeline(
    ctx: ImportContext,
    at: PathKey,
    data: dict[str, Any],
    declared: dict[str, Package],
    spec: Spec,
    *,
    prefix: str,
    single: bool,
    swept: set[tuple[str, str]],
    scheduler_at: PathKey | None = None,
) -> str | None:
    pipeline = Pipeline(prefix=prefix, swept=swept, previous=spec.last)
    spec.current = pipeline
    pipeline.slurm = _scheduler(ctx, at, data.get("scheduler"), spec, scheduler_at)
    env = _env(ctx, (*at, "env"), data.get("env"))
    if env is not None and single:
        spec.top.append(env)
    _interceptor_defs(ctx, at, data.get("interceptors"), declared, pipeline)
    _hostfile(ctx, at, data.get("hostfile"), spec)
    pipeline.hosts = spec.hosts is not None
    pkgs = data.get("pkgs")
    if not isinstance(pkgs, list) or not pkgs:
        ctx.problem(
            (*at, "pkgs") if "pkgs" in data else at,
            "a Jarvis-CD pipeline's pkgs should be a list of packages (pkg_type, pkg_name, …)",
        )
        return None
    for index, config in enumerate(pkgs):
        _one_package(
            ctx, (*at, "pkgs", index), config, declared, spec, pipeline, None if single else env
        )
    spec.last = pipeline.previous
    spec.parameters.extend(pipeline.parameters)
    _pipeline_notes(ctx, at, data)
    return _name_of(data)


def _one_package(
    ctx: ImportContext,
    where: PathKey,
    config: Any,
    declared: dict[str, Package],
    spec: Spec,
    pipeline: Pipeline,
    env: Entry | None,
) -> None:
    """``pkgs[i]``: an interceptor (its variables for the packages after it), or a unit."""
    found = _package(ctx, where, config, declared)
    if found is None:
        return
    pkg_type, package = found
    pkg_name = str(config.get("pkg_name") or pkg_type.rpartition(".")[2])
    if pkg_name in pipeline.packages:
        ctx.problem((*where, "pkg_name"), f"two packages are named '{pkg_name}'")
        return
    pipeline.packages[pkg_name] = package
    if package.kind == "interceptor":
        values = settings_of(ctx, where, config, package, pkg_type)
        pipeline.interceptors[pkg_name] = interceptor_env(package, values)
        pipeline.running.append(pkg_name)
        ctx.note(
            where,
            "mapped",
            "an interceptor in pkgs: its variables are set in every package after it",
        )
        return
    name = f"{pipeline.prefix.rstrip('_')}-{pkg_name}" if pipeline.prefix else pkg_name
    if not _NAME.match(name) or len(name) > 64:
        ctx.problem(
            (*where, "pkg_name") if "pkg_name" in config else where,
            f"package '{pkg_name}' cannot be a Shipyard unit's name",
            hint="name it with letters, digits, '_', '-', '.' (at most 64, starting with a "
            "letter or digit)",
        )
        return
    unit, service = unit_of(ctx, pipeline, where, name, pkg_type, package, config)
    if env is not None:
        own = next((c for c in unit.children if c.key == env.key), None)
        if own is None:
            own = Entry(env.key, env.value, comment="the experiment's env")
            unit.children.append(own)
        own.children[:0] = env.children  # the package's own variables after (they win)
    (spec.services if service else spec.steps).children.append(unit)
    pipeline.previous = (name, service)
    if service and pipeline.slurm:
        ctx.note(
            where,
            "approximate",
            "a service runs on this machine: Shipyard's Slurm runner runs steps only",
        )


def _pipeline_notes(ctx: ImportContext, at: PathKey, data: dict[str, Any]) -> None:
    for key in data:
        if key in UNMAPPED:
            ctx.unmapped((*at, key), UNMAPPED[key])
        elif key not in PIPELINE_KEYS:
            ctx.unmapped((*at, key), "not a Jarvis-CD pipeline key this importer knows")
    if "env" not in data:
        ctx.note(
            at or ("pkgs",),
            "implicit",
            "no env: the units inherit this machine's environment, as Jarvis captures it",
        )


def _package(
    ctx: ImportContext, where: PathKey, config: Any, declared: dict[str, Package]
) -> tuple[str, Package] | None:
    if not isinstance(config, dict):
        ctx.problem(where, "a package is a mapping with pkg_type (and pkg_name, settings)")
        return None
    pkg_type = config.get("pkg_type")
    if not isinstance(pkg_type, str) or not pkg_type:
        ctx.problem(where, "this package has no pkg_type (builtin.ior, redis, …)")
        return None
    package = lookup(pkg_type, declared)
    if package is None:
        close = close_type(pkg_type, declared)
        guess = f"did you mean '{close}'? Or declare" if close else "declare"
        ctx.problem(
            (*where, "pkg_type"),
            f"package type '{pkg_type}' has no Shipyard template (Shipyard has no package "
            "classes: each type it imports is a command template)",
            hint=f"{guess} it in {DECLARATIONS} beside this file: "
            f'`{pkg_type}: {{run: [PROGRAM, --opt, "{{setting}}"], settings: {{setting: '
            'DEFAULT}}` (docs/importing.md, "Jarvis-CD pipelines")',
        )
        return None
    return pkg_type, package


def _env(ctx: ImportContext, where: PathKey, value: Any) -> Entry | None:
    if value is None:
        return None
    if isinstance(value, str):
        ctx.note(
            where,
            "approximate",
            f"a named Jarvis env: Shipyard's named environment '{value}' is used, which "
            f"`shipyard env capture {value}` must have captured (docs/hpc.md, Environments)",
        )
        return Entry(
            "environment", value, comment="env (a named environment)", origin=ctx.at(where)
        )
    if not isinstance(value, dict):
        ctx.problem(where, "env should map names to values (or name a captured environment)")
        return None
    entry = Entry("env", comment="env: over this machine's environment", origin=ctx.at(where))
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool) or isinstance(item, bool):
            ctx.problem((*where, key), f"env {key} should be a string or a number")
            continue
        entry.children.append(Entry(str(key), item, origin=ctx.at((*where, key))))
    return entry if entry.children else None


def _interceptor_defs(
    ctx: ImportContext, at: PathKey, value: Any, declared: dict[str, Package], pipeline: Pipeline
) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        ctx.problem((*at, "interceptors"), "interceptors should be a list of interceptor packages")
        return
    for index, config in enumerate(value):
        where: PathKey = (*at, "interceptors", index)
        found = _package(ctx, where, config, declared)
        if found is None:
            continue
        pkg_type, package = found
        if package.kind != "interceptor":
            ctx.problem(
                (*where, "pkg_type"), f"'{pkg_type}' is a {package.kind}, not an interceptor"
            )
            continue
        pkg_name = str(config.get("pkg_name") or pkg_type.rpartition(".")[2])
        values = settings_of(ctx, where, config, package, pkg_type)
        pipeline.interceptors[pkg_name] = interceptor_env(package, values)
        ctx.note(where, "mapped", "its variables are set in the env of each package that names it")


def _hostfile(ctx: ImportContext, at: PathKey, value: Any, spec: Spec) -> None:
    if value is None:
        return
    where: PathKey = (*at, "hostfile")
    if not isinstance(value, str) or not value.strip():
        ctx.problem(where, "hostfile should be a path")
        return
    hostfile = str(expand(ctx, where, value))
    if spec.hosts is not None and spec.hosts[1] != hostfile:
        ctx.unmapped(where, "a spec has one hosts list: the first experiment's hostfile is used")
        return
    spec.hosts = (where, hostfile)


def _scheduler(
    ctx: ImportContext, at: PathKey, value: Any, spec: Spec, test_at: PathKey | None
) -> bool:
    """scheduler: slurm → every step ``runner: slurm`` and the spec's ``slurm:``. True when
    the packages run on Slurm. ``test_at``: a test's scheduler, merged under the config's."""
    if value is None:
        return False
    where: PathKey = (*at, "scheduler")
    if not isinstance(value, dict):
        ctx.problem(where, "scheduler should be a mapping (name: slurm, nodes, partition, …)")
        return False

    def key_at(key: str) -> PathKey:
        if (*where, key) in ctx.source.keys or test_at is None:
            return (*where, key)
        return (*test_at, key)

    if value.get("name") != "slurm":
        ctx.problem(
            key_at("name"),
            f"scheduler {value.get('name')!r} has no Shipyard runner",
            hint="Shipyard runs Slurm (name: slurm), or leave the scheduler out to run here",
        )
        return False
    if spec.slurm is not None:
        ctx.unmapped(where, "a spec has one slurm: block: the first experiment's is used")
        return True
    # mode: job (sbatch per step), not allocation: an srun step of --ntasks N would start N
    # mpiruns, where the batch script of a job runs one mpirun over the job's tasks
    children = [
        Entry("mode", "job", comment="each step an sbatch job with these settings"),
        *_slurm_settings(ctx, value, key_at),
    ]
    ctx.note(
        key_at("name"),
        "approximate",
        "slurm: jarvis ppl submit runs the whole pipeline in one sbatch job; Shipyard submits "
        "each step as a job of its own with these settings (mode: job)",
    )
    for key in value:
        if key in SCHEDULER_UNMAPPED:
            ctx.unmapped(key_at(key), SCHEDULER_UNMAPPED[key])
        elif key not in ("name", "partition", "time", "nodes", "ntasks_per_node", "sbatch_args"):
            ctx.unmapped(key_at(key), "not a Jarvis-CD scheduler key this importer knows")
    spec.slurm = (
        where,
        Entry("slurm", comment="scheduler (slurm)", origin=ctx.at(where), children=children),
    )
    return True


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _slurm_settings(
    ctx: ImportContext, value: dict[str, Any], key_at: Callable[[str], PathKey]
) -> list[Entry]:
    """partition, time, nodes as they are; ntasks_per_node → ntasks (× nodes) and an sbatch
    option, with sbatch_args, in extra."""
    children: list[Entry] = []
    for key in ("partition", "time"):
        if key in value:
            children.append(Entry(key, str(value[key]), comment=key, origin=ctx.at(key_at(key))))
    nodes = value.get("nodes")
    if nodes is not None and not _whole(nodes):
        ctx.problem(key_at("nodes"), f"nodes {nodes!r} should be a whole number of nodes")
    elif nodes is not None:
        children.append(Entry("nodes", nodes, comment="nodes", origin=ctx.at(key_at("nodes"))))
    extra: list[Flow] = []
    per_node = value.get("ntasks_per_node")
    if per_node is not None and not _whole(per_node):
        ctx.problem(
            key_at("ntasks_per_node"), f"ntasks_per_node {per_node!r} should be a whole number"
        )
    elif per_node is not None:
        if _whole(nodes):
            children.append(
                Entry(
                    "ntasks",
                    nodes * per_node,
                    comment="nodes × ntasks_per_node",
                    origin=ctx.at(key_at("ntasks_per_node")),
                )
            )
        extra.append(f"--ntasks-per-node={per_node}")
    args = value.get("sbatch_args")
    if args is not None and not (
        isinstance(args, list) and all(isinstance(a, str) and a for a in args)
    ):
        ctx.problem(key_at("sbatch_args"), "sbatch_args should be a list of sbatch options")
    elif args is not None:
        extra.extend(args)
    if extra:
        children.append(Entry("extra", extra, comment="ntasks_per_node, sbatch_args"))
    return children
