"""A Jarvis-CD pipeline test's ``vars``/``loop``/``repeat``/``output`` → the spec's ``sweep:``.

``vars: {pkg_name.setting: [values]}`` → ``matrix: {<pkg_name>_<setting>: [values]}`` (the
setting's parameter, :mod:`jarvisunit`); ``loop`` groups of several vars → ``zip`` (they move
together; the groups are crossed, as Shipyard crosses zip groups and the other parameters);
``repeat`` → ``repeat``. ``output`` has no equivalent: a sweep's results are Shipyard's records.
"""

from __future__ import annotations

import difflib
from typing import Any

from shipyard.formats.context import ImportContext
from shipyard.formats.emit import Entry, Flow
from shipyard.formats.jarvisunit import Pipeline
from shipyard.spec.yamlsource import PathKey


def swept_settings(ctx: ImportContext, at: PathKey, test: dict[str, Any]) -> set[tuple[str, str]]:
    """The (pkg_name, setting) pairs ``vars`` varies (their shape is checked later)."""
    variables = test.get("vars")
    if not isinstance(variables, dict):
        return set()
    pairs: set[tuple[str, str]] = set()
    for key in variables:
        pkg, dot, setting = str(key).partition(".")
        if dot and pkg != "scheduler":
            pairs.add((pkg, setting))
    return pairs


def sweep_entry(
    ctx: ImportContext, at: PathKey, test: dict[str, Any], pipeline: Pipeline
) -> Entry | None:
    variables = test.get("vars")
    if variables is None:
        for key in ("loop", "repeat", "output"):
            if key in test:
                ctx.unmapped((*at, key), "no vars: nothing is swept")
        return None
    if not isinstance(variables, dict) or not variables:
        ctx.problem((*at, "vars"), "vars should map pkg_name.setting to a list of values")
        return None
    matrix = _matrix(ctx, at, variables, pipeline)
    zips = _loop(ctx, at, test.get("loop"), matrix, pipeline)
    order = [key for group in zips for key in group]
    order += [key for key in matrix if key not in order]
    rows = Entry("matrix", comment="vars")
    for key in order:
        where, values = matrix[key]
        rows.children.append(
            Entry(pipeline.names[_pair(key)], values, comment=f"vars: {key}", origin=ctx.at(where))
        )
    if not rows.children:
        return None
    entry = Entry(
        "sweep",
        comment="vars, loop, repeat: `shipyard sweep FILE` runs it",
        origin=ctx.at((*at, "vars")),
        children=[rows],
    )
    together: list[Flow] = [
        [pipeline.names[_pair(k)] for k in group] for group in zips if len(group) > 1
    ]
    if together:
        entry.children.append(
            Entry(
                "zip",
                together,
                comment="loop: vars in one group move together",
                origin=ctx.at((*at, "loop")),
            )
        )
    entry.children.extend(_repeat(ctx, at, test))
    return entry


def _matrix(
    ctx: ImportContext, at: PathKey, variables: dict[str, Any], pipeline: Pipeline
) -> dict[str, tuple[PathKey, list[Flow]]]:
    """Each var that names a parameter, with its values (upper-cased where the package
    upper-cases the setting: ior's api)."""
    matrix: dict[str, tuple[PathKey, list[Flow]]] = {}
    for key, values in variables.items():
        where: PathKey = (*at, "vars", key)
        if _parameter_of(ctx, where, str(key), pipeline) is None:
            continue
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values)
        ):
            ctx.problem(where, f"{key} should be a list of values (strings or numbers)")
            continue
        pkg, _, setting = str(key).partition(".")
        package = pipeline.packages.get(pkg)
        if package is not None and setting in package.upper:
            values = [v.upper() if isinstance(v, str) else v for v in values]
        matrix[str(key)] = (where, list(values))
    return matrix


def _repeat(ctx: ImportContext, at: PathKey, test: dict[str, Any]) -> list[Entry]:
    if "output" in test:
        ctx.unmapped(
            (*at, "output"),
            "Shipyard keeps each point's results in its own records: `shipyard sweep status "
            "ID --csv` writes the table (parameters, state, duration, metrics)",
        )
    repeat = test.get("repeat")
    if repeat is None:
        return []
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 1000:
        ctx.problem((*at, "repeat"), f"repeat {repeat!r} should be 1 to 1000 (runs of each point)")
        return []
    return [Entry("repeat", repeat, comment="repeat", origin=ctx.at((*at, "repeat")))]


def _pair(key: str) -> tuple[str, str]:
    pkg, _, setting = key.partition(".")
    return pkg, setting


def _parameter_of(ctx: ImportContext, where: PathKey, key: str, pipeline: Pipeline) -> str | None:
    pkg, dot, setting = key.partition(".")
    if not dot:
        ctx.problem(where, f"var '{key}' should be pkg_name.setting (ior.xfer)")
        return None
    if pkg == "scheduler":
        ctx.unmapped(where, "a swept Slurm setting: a spec's slurm: takes no parameters")
        return None
    if pkg not in pipeline.packages:
        close = difflib.get_close_matches(pkg, list(pipeline.packages), n=1)
        ctx.problem(
            where,
            f"var '{key}': '{pkg}' is not a package of this pipeline",
            hint=f"did you mean '{close[0]}'?"
            if close
            else "packages: " + ", ".join(pipeline.packages),
        )
        return None
    name = pipeline.names.get((pkg, setting))
    if name is not None:
        return name
    package = pipeline.packages[pkg]
    if isinstance(package.settings.get(setting), bool) or setting in package.flags:
        why = "a true/false setting is the words it adds, fixed when imported"
    elif setting == package.port:
        why = "a service's port is a number in the spec (port:), not a parameter"
    elif setting in package.settings:
        why = "its command does not read it"
    else:
        close = difflib.get_close_matches(setting, list(package.settings), n=1)
        ctx.problem(
            where,
            f"var '{key}': '{setting}' is not a setting of {pkg}",
            hint=f"did you mean '{close[0]}'?"
            if close
            else "settings: " + ", ".join(package.settings),
        )
        return None
    ctx.problem(where, f"var '{key}' cannot be swept: {why}")
    return None


def _loop(
    ctx: ImportContext,
    at: PathKey,
    value: Any,
    matrix: dict[str, tuple[PathKey, list[Flow]]],
    pipeline: Pipeline,
) -> list[list[str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        ctx.problem(
            (*at, "loop"), "loop should be a list of groups of vars ([[ior.xfer], [ior.nprocs]])"
        )
        return []
    groups: list[list[str]] = []
    for index, group in enumerate(value):
        where: PathKey = (*at, "loop", index)
        if not isinstance(group, list) or not all(isinstance(k, str) for k in group):
            ctx.problem(where, "a loop group is a list of vars")
            continue
        kept = [k for k in group if k in matrix]
        for k in group:
            if k not in matrix and _pair(k) not in pipeline.names:
                ctx.problem(where, f"loop names '{k}', which vars does not sweep")
        lengths = {len(matrix[k][1]) for k in kept}
        if len(lengths) > 1:
            ctx.problem(
                where, "vars in one loop group move together: their lists must be of one length"
            )
            continue
        if kept:
            groups.append(kept)
    return groups
