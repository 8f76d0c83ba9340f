"""One Jarvis-CD package (``pkgs[i]`` of a pipeline) → one Shipyard step or service (an
:class:`Entry` tree), through its package type's template (:mod:`jarvispkgs`).

The settings the command reads become the spec's parameters (``<pkg_name>_<setting>``, the
file's value as default), so ``-p`` and a sweep vary them; true/false settings are the words
they add (``write: true`` → ``-w``), fixed when imported. ``nprocs``/``ppn`` of an MPI package
are ``mpi:``; a swept ``nprocs`` cannot be (``mpi.nprocs`` is a number), so that step runs
``mpirun -np {{ … }}`` itself.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from shipyard.formats.context import ImportContext
from shipyard.formats.emit import Entry, Flow, Scalar
from shipyard.formats.jarvispkgs import DECLARATIONS, PLACEHOLDER, Package, Value
from shipyard.spec.yamlsource import PathKey

#: Keys every package takes upstream, with no Shipyard equivalent, and why.
UNMAPPED = {
    "install_method": "Shipyard installs nothing: the package's program must be on PATH here",
    "install_query": "Shipyard installs nothing: the package's program must be on PATH here",
    "container_cache": "Shipyard runs no containers: the package runs on the host",
    "deploy_mode": "Shipyard runs no containers: the package runs on the host",
    "do_dbg": "no gdbserver wrapper: run the command under gdb yourself",
    "dbg_port": "no gdbserver wrapper: run the command under gdb yourself",
    "hide_output": "a unit's output always goes to its log (shipyard logs)",
    "hostfile": "a package's own hostfile: Shipyard's MPI steps use the pipeline's hosts",
}
#: Keys handled here for every package.
COMMON = {"pkg_type", "pkg_name", "interceptors", "sleep", "timeout", "retry_count"}

_PARAMETER_CHARS = re.compile(r"[^A-Za-z0-9_]")


def parameter_name(prefix: str, pkg_name: str, setting: str) -> str:
    """``redis_bench.req_size`` → ``redis_bench_req_size`` (a Shipyard parameter's name)."""
    name = _PARAMETER_CHARS.sub("_", f"{prefix}{pkg_name}_{setting}")
    return name if not name[0].isdigit() else f"p_{name}"


@dataclass
class Pipeline:
    """What a package's mapping needs of its whole pipeline, and what it adds to the spec."""

    prefix: str = ""
    #: (pkg_name, setting) pairs a sweep varies
    swept: set[tuple[str, str]] = field(default_factory=set)
    #: interceptor pkg_name → the variables it sets
    interceptors: dict[str, dict[str, str]] = field(default_factory=dict)
    #: interceptors of the older form (in pkgs): applied to every package after them
    running: list[str] = field(default_factory=list)
    slurm: bool = False
    #: the pipeline names a hostfile
    hosts: bool = False
    #: the spec's parameters (their entries) and, per (pkg_name, setting), the parameter
    parameters: list[Entry] = field(default_factory=list)
    names: dict[tuple[str, str], str] = field(default_factory=dict)
    #: the unit before (its name, and whether it is a service)
    previous: tuple[str, bool] | None = None
    #: pkg_name → its template (a sweep checks its vars against them)
    packages: dict[str, Package] = field(default_factory=dict)


def expand(ctx: ImportContext, path: PathKey, value: Value) -> Value:
    """``${HOME}/x`` as Jarvis's shell would expand it when the package starts: expanded now,
    with this machine's environment (named)."""
    if not isinstance(value, str) or "$" not in value:
        return value
    expanded = os.path.expandvars(value)
    if expanded != value:
        ctx.note(
            path,
            "approximate",
            f"'{value}' expanded when imported, to '{expanded}' (Jarvis's shell expands it "
            "when the package starts)",
        )
    elif re.search(r"\$\{?[A-Za-z_]", value):
        ctx.note(
            path, "approximate", f"'{value}' names a variable that is not set here: kept as written"
        )
    return expanded


def settings_of(
    ctx: ImportContext, path: PathKey, config: dict[str, Any], package: Package, pkg_type: str
) -> dict[str, Value]:
    """The package's settings: its template's defaults under the file's values; every key the
    template does not read is named."""
    values: dict[str, Value] = dict(package.settings)
    used = package.used()
    for key, value in config.items():
        where: PathKey = (*path, key)
        if key in COMMON:
            continue
        if key == "deploy_mode" and value == "default":
            ctx.note(where, "implicit", "default: on the host, as Shipyard runs every package")
        elif key in UNMAPPED:
            ctx.unmapped(where, UNMAPPED[key])
        elif key in package.ignored:
            ctx.unmapped(where, package.ignored[key])
        elif key in used or key in package.settings:
            if value is not None and not isinstance(value, str | int | float | bool):
                ctx.problem(
                    where, f"{key} should be a plain value (a string, number or true/false)"
                )
                continue
            values[key] = expand(ctx, where, value)
        else:
            ctx.unmapped(
                where,
                f"not a setting of {pkg_type}'s template (its settings: "
                f"{', '.join(sorted(package.settings)) or 'none'}; {DECLARATIONS} declares more)",
            )
    return values


def _kind(value: Value) -> str:
    return {bool: "bool", int: "int", float: "float"}.get(type(value), "str")


def _parameter(
    ctx: ImportContext, pipeline: Pipeline, path: PathKey, pkg_name: str, setting: str, value: Value
) -> str:
    key = (pkg_name, setting)
    if key in pipeline.names:
        return pipeline.names[key]
    name = parameter_name(pipeline.prefix, pkg_name, setting)
    if name in pipeline.names.values():
        ctx.problem(
            path, f"{pkg_name}.{setting} and another setting are both the parameter '{name}'"
        )
    pipeline.names[key] = name
    assert value is not None
    pipeline.parameters.append(
        Entry(
            name,
            {"type": _kind(value), "default": value},
            comment=f"{pkg_name}.{setting}",
            origin=ctx.at((*path, setting)),
        )
    )
    return name


def _word(
    ctx: ImportContext,
    pipeline: Pipeline,
    path: PathKey,
    pkg_name: str,
    word: str,
    values: dict[str, Value],
    literal: set[str],
) -> str | None:
    """``word`` with each ``{setting}``: a parameter, or the value where it must be one; None
    when a setting it reads has no value (the word is left out)."""
    names = PLACEHOLDER.findall(word)
    if any(values.get(n) is None or values.get(n) == "" for n in names):
        return None

    def one(match: re.Match[str]) -> str:
        setting = match.group(1)
        value = values[setting]
        if setting in literal or isinstance(value, bool):
            return str(value).lower() if isinstance(value, bool) else str(value)
        return "{{ " + _parameter(ctx, pipeline, path, pkg_name, setting, value) + " }}"

    return PLACEHOLDER.sub(one, word)


def command(
    ctx: ImportContext,
    pipeline: Pipeline,
    path: PathKey,
    pkg_name: str,
    package: Package,
    values: dict[str, Value],
) -> list[Scalar]:
    """The argv: the template's words, each true setting's flags, the joined lists."""
    literal = {package.port} if package.port and package.kind == "service" else set()
    argv: list[Scalar] = []
    words = list(package.run)
    for index, word in enumerate(words):
        rendered = _word(ctx, pipeline, path, pkg_name, word, values, set(literal))
        if rendered is None:
            # an option before a value left out goes with it (-o with no out)
            if argv and index and words[index - 1].startswith("-") and argv[-1] == words[index - 1]:
                argv.pop()
            continue
        argv.append(rendered)
    for setting, flag_words in package.flags.items():
        if values.get(setting) is True:
            argv.extend(flag_words)
    for joined in package.lists:
        items = [item for setting, item in joined.items.items() if values.get(setting) is True]
        if items:
            argv.extend([joined.option, joined.separator.join(items)])
    return argv


def interceptor_env(package: Package, values: dict[str, Value]) -> dict[str, str]:
    """The variables an interceptor sets in the packages that opt in."""
    env: dict[str, str] = {}
    for name, template in package.env.items():
        env[name] = PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), template)
    for setting, variables in package.env_flags.items():
        if values.get(setting) is True:
            env.update(variables)
    if package.preload and values.get(package.preload):
        env["LD_PRELOAD"] = str(values[package.preload])
    return env


def merged_env(parts: list[dict[str, str]]) -> dict[str, str]:
    """Several interceptors' variables: each later one's LD_PRELOAD before the earlier ones'
    (Jarvis prepends), other variables the later one's."""
    env: dict[str, str] = {}
    for part in parts:
        for name, value in part.items():
            if name == "LD_PRELOAD" and env.get(name):
                env[name] = f"{value}:{env[name]}"
            else:
                env[name] = value
    return env


def _seconds(ctx: ImportContext, path: PathKey, value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        ctx.problem(path, f"{path[-1]} {value!r} should be a number of seconds")
        return None
    return float(value)


def unit_of(
    ctx: ImportContext,
    pipeline: Pipeline,
    path: PathKey,
    name: str,
    pkg_type: str,
    package: Package,
    config: dict[str, Any],
) -> tuple[Entry, bool]:
    """``pkgs[i]`` as the unit ``name``; and whether it is a service."""
    pkg_name = str(config.get("pkg_name") or pkg_type.rpartition(".")[2])
    values = settings_of(ctx, path, config, package, pkg_type)
    for setting in package.upper:
        if isinstance(values.get(setting), str):
            values[setting] = str(values[setting]).upper()
    service = package.kind == "service"
    where = "builtin" if package.origin == "builtin" else PurePath(package.origin).name
    unit = Entry(name, comment=f"pkgs: {pkg_type} (the {where} template)", origin=ctx.at(path))
    argv = command(ctx, pipeline, path, pkg_name, package, values)
    env = Entry("env", comment="the package's environment")
    unit.children.append(Entry("run", argv, comment=f"{pkg_type}'s command"))
    _mpi(ctx, pipeline, path, pkg_name, package, values, unit, env)
    if pipeline.previous is not None:
        before, was_service = pipeline.previous
        if service:
            condition = "healthy" if was_service else "completed_successfully"
            unit.children.append(
                Entry("depends_on", {before: condition}, comment="pkgs start in list order")
            )
        else:
            unit.children.append(Entry("needs", [before], comment="pkgs start in list order"))
    if service:
        _service(ctx, path, package, values, unit, config)
    else:
        _step(ctx, pipeline, path, unit, config)
    _interceptors(ctx, pipeline, path, config, env)
    if env.children:
        unit.children.append(env)
    return unit, service


def _mpi(
    ctx: ImportContext,
    pipeline: Pipeline,
    path: PathKey,
    pkg_name: str,
    package: Package,
    values: dict[str, Value],
    unit: Entry,
    env: Entry,
) -> None:
    if not package.mpi:
        return
    nprocs, ppn = values.get("nprocs"), values.get("ppn")
    if not isinstance(nprocs, int) or isinstance(nprocs, bool) or nprocs < 1:
        ctx.problem((*path, "nprocs"), f"nprocs {nprocs!r} should be a whole number of ranks")
        return
    if (pkg_name, "nprocs") in pipeline.swept:
        name = _parameter(ctx, pipeline, path, pkg_name, "nprocs", nprocs)
        run = unit.children[0]
        assert isinstance(run.value, list)
        run.value[:0] = ["mpirun", "-np", "{{ " + name + " }}", "--oversubscribe"]
        run.comment += " under mpirun: a swept nprocs cannot be mpi.nprocs (a number)"
        ctx.note(
            (*path, "nprocs"),
            "approximate",
            "swept: the step runs `mpirun -np {{ " + name + " }} --oversubscribe` itself "
            "(mpi: takes a number); ranks on this machine (or the Slurm allocation)",
        )
        if "ppn" in _written(ctx, path):
            ctx.unmapped((*path, "ppn"), "with a swept nprocs the step runs mpirun itself: no ppn")
        for variable in ("OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"):
            env.children.append(
                Entry(
                    variable, "1", comment="as Shipyard's mpi: does for root (--allow-run-as-root)"
                )
            )
        return
    if not pipeline.hosts and not pipeline.slurm:
        ctx.note(
            (*path, "nprocs"),
            "approximate",
            "no hostfile: Jarvis uses its global one (jarvis hostfile set); Shipyard runs every "
            "rank on this machine: give the pipeline a hostfile (hosts:) to spread them",
        )
    mpi: dict[str, Scalar] = {"nprocs": nprocs}
    written = "ppn" in _written(ctx, path)
    if isinstance(ppn, int) and not isinstance(ppn, bool) and written:
        mpi["ppn"] = ppn
    unit.children.append(
        Entry(
            "mpi",
            mpi,
            comment="nprocs, ppn: mpirun over the hosts",
            origin=ctx.at((*path, "nprocs")),
        )
    )


def _written(ctx: ImportContext, path: PathKey) -> set[str]:
    """The keys written under ``path`` in the file."""
    return {
        str(p[len(path)])
        for p in ctx.source.keys
        if len(p) == len(path) + 1 and p[: len(path)] == path
    }


def _service(
    ctx: ImportContext,
    path: PathKey,
    package: Package,
    values: dict[str, Value],
    unit: Entry,
    config: dict[str, Any],
) -> None:
    port = values.get(package.port) if package.port else None
    if package.port:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            ctx.problem((*path, package.port), f"{package.port} {port!r} should be a port number")
        else:
            unit.children.append(
                Entry("port", port, comment=package.port, origin=ctx.at((*path, package.port)))
            )
            unit.children.append(
                Entry("health", {"tcp": True}, comment="ready once its port takes connections")
            )
    unit.children.append(
        Entry("restart", {"policy": "no"}, comment="Jarvis does not restart a package")
    )
    if "sleep" in config:
        ctx.note(
            (*path, "sleep"),
            "approximate",
            "the wait after the start: the next package waits for the health check instead"
            if package.port
            else "the wait after the start: the next package waits for its start only",
        )
    if "timeout" in config:
        seconds = _seconds(ctx, (*path, "timeout"), config["timeout"])
        if seconds is not None:
            unit.children.append(
                Entry(
                    "readiness_timeout",
                    f"{seconds:g}s",
                    comment="timeout (to start)",
                    origin=ctx.at((*path, "timeout")),
                )
            )
    if "retry_count" in config:
        ctx.unmapped((*path, "retry_count"), "a service is not started again: restart is 'no'")


def _step(
    ctx: ImportContext, pipeline: Pipeline, path: PathKey, unit: Entry, config: dict[str, Any]
) -> None:
    if pipeline.slurm and not any(child.key == "runner" for child in unit.children):
        unit.children.insert(
            1, Entry("runner", "slurm", comment="scheduler: slurm (jarvis ppl submit)")
        )
    if "timeout" in config:
        seconds = _seconds(ctx, (*path, "timeout"), config["timeout"])
        if seconds is not None and seconds > 0:
            unit.children.append(
                Entry(
                    "timeout", f"{seconds:g}s", comment="timeout", origin=ctx.at((*path, "timeout"))
                )
            )
    if "retry_count" in config:
        count = config["retry_count"]
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 1000:
            ctx.problem((*path, "retry_count"), f"retry_count {count!r} should be 0 to 1000")
        else:
            unit.children.append(
                Entry(
                    "retries",
                    {"count": count},
                    comment="retry_count",
                    origin=ctx.at((*path, "retry_count")),
                )
            )
    if "sleep" in config:
        ctx.unmapped((*path, "sleep"), "a wait after a step ends: the next one starts at once")


def _interceptors(
    ctx: ImportContext, pipeline: Pipeline, path: PathKey, config: dict[str, Any], env: Entry
) -> None:
    names = list(pipeline.running)
    asked = config.get("interceptors")
    if asked is not None:
        if not isinstance(asked, list) or not all(isinstance(n, str) for n in asked):
            ctx.problem(
                (*path, "interceptors"), "interceptors should be a list of interceptor names"
            )
            asked = []
        for index, name in enumerate(asked):
            if name in pipeline.interceptors:
                names.append(name)
                continue
            import difflib

            close = difflib.get_close_matches(name, list(pipeline.interceptors), n=1)
            ctx.problem(
                (*path, "interceptors", index),
                f"'{name}' is not an interceptor of this pipeline",
                hint=f"did you mean '{close[0]}'?"
                if close
                else "declare it under the pipeline's interceptors: (pkg_type, pkg_name)",
            )
    if not names:
        return
    variables = merged_env([pipeline.interceptors[n] for n in dict.fromkeys(names)])
    origin = ctx.at((*path, "interceptors")) if asked else None
    for key, value in variables.items():
        flow: Flow = value
        env.children.append(
            Entry(
                key, flow, comment="interceptors: " + ", ".join(dict.fromkeys(names)), origin=origin
            )
        )
