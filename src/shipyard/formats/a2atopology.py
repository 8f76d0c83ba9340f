"""An A2A job's ``topology`` → Shipyard's ``topology`` (docs/importing.md, "A2A job").

hub-spoke and pipeline keep their keys; dag ``connections`` become ``edges``, mesh ``agents``
become ``members``, hierarchical ``root`` + ``levels`` become ``levels: [[root], …]``
(upstream's ``{parent, children}`` form too, level by level); ``dynamic`` has no equivalent."""

from __future__ import annotations

from typing import Any

from shipyard.formats.context import ImportContext
from shipyard.formats.emit import Entry
from shipyard.spec.yamlsource import PathKey

TYPES = ("hub-spoke", "pipeline", "dag", "mesh", "hierarchical", "dynamic")
#: Keys of a topology each type reads (any other is named as unused).
KEYS = {
    "hub-spoke": {"hub", "spokes"},
    "pipeline": {"stages"},
    "dag": {"connections"},
    "mesh": {"agents"},
    "hierarchical": {"root", "levels"},
    "dynamic": set(),
}


def topology_entry(ctx: ImportContext, value: Any, ids: set[str]) -> Entry | None:
    """The ``topology`` entry, or None (no topology, or one with no equivalent: named)."""
    if value is None:
        return None
    where: PathKey = ("topology",)
    if not isinstance(value, dict):
        ctx.problem(where, "topology should be a mapping with a 'type'")
        return None
    kind = value.get("type")
    if kind not in TYPES:
        ctx.problem(
            (*where, "type") if "type" in value else where,
            f"topology type {kind!r} is not one of A2A's",
            hint="use one of: " + ", ".join(TYPES),
        )
        return None
    if kind == "dynamic":
        ctx.unmapped(
            (*where, "type"),
            "Shipyard has no dynamic topology: the agents start under execution.deployment "
            "with no connections between them (CONNECTED_AGENTS empty)",
        )
        return None
    entry = Entry("topology", origin=ctx.at(where))
    entry.children.append(
        Entry("type", kind, comment="topology.type", origin=ctx.at((*where, "type")))
    )
    builder = _BUILDERS[kind]
    builder(ctx, value, entry, ids)
    for key in value:
        if key != "type" and key not in KEYS[kind]:
            ctx.unmapped((*where, key), f"a {kind} topology does not read '{key}'")
    return entry


def _names(ctx: ImportContext, path: PathKey, value: Any, ids: set[str]) -> list[str] | None:
    """A list of agent ids (a string alone is a list of one), each checked."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        ctx.problem(path, "should be an agent id or a list of agent ids")
        return None
    good = True
    for index, name in enumerate(items):
        if name not in ids:
            at = path if isinstance(value, str) else (*path, index)
            ctx.problem(at, f"'{name}' is not an agent id", hint=_known(ids, name))
            good = False
    return items if good else None


def _known(ids: set[str], name: object = None) -> str:
    """The hint for a name that is not an agent id: the closest id, and every id."""
    import difflib

    if not ids:
        return "the file declares no agents"
    close = difflib.get_close_matches(str(name), sorted(ids), n=1) if name is not None else []
    known = "the agents: " + ", ".join(sorted(ids))
    return f"did you mean '{close[0]}'? {known}" if close else known


def _copy(ctx: ImportContext, value: dict[str, Any], entry: Entry, key: str, ids: set[str]) -> None:
    path: PathKey = ("topology", key)
    if key not in value:
        return
    if key == "hub":
        hub = value[key]
        if not isinstance(hub, str) or hub not in ids:
            ctx.problem(path, f"hub {hub!r} is not an agent id", hint=_known(ids, hub))
            return
        entry.children.append(Entry("hub", hub, comment="topology.hub", origin=ctx.at(path)))
        return
    names = _names(ctx, path, value[key], ids)
    if names is not None:
        entry.children.append(
            Entry(key, list(names), comment=f"topology.{key}", origin=ctx.at(path))
        )


def _hub_spoke(ctx: ImportContext, value: dict[str, Any], entry: Entry, ids: set[str]) -> None:
    _copy(ctx, value, entry, "hub", ids)
    _copy(ctx, value, entry, "spokes", ids)


def _pipeline(ctx: ImportContext, value: dict[str, Any], entry: Entry, ids: set[str]) -> None:
    path: PathKey = ("topology", "stages")
    stages = value.get("stages")
    if not isinstance(stages, list):
        ctx.problem(
            path if "stages" in value else ("topology",), "a pipeline needs 'stages', a list"
        )
        return
    items: list[str | list[str]] = []
    for index, stage in enumerate(stages):
        names = _names(ctx, (*path, index), stage, ids)
        if names is not None:
            items.append(stage if isinstance(stage, str) else list(names))
    entry.children.append(
        Entry(
            "stages",
            list(items),
            comment="topology.stages (a list is a parallel stage)",
            origin=ctx.at(path),
        )
    )


def _dag(ctx: ImportContext, value: dict[str, Any], entry: Entry, ids: set[str]) -> None:
    path: PathKey = ("topology", "connections")
    connections = value.get("connections")
    if not isinstance(connections, list):
        ctx.problem(
            path if "connections" in value else ("topology",),
            "a dag needs 'connections', a list of {from, to}",
        )
        return
    edges = Entry("edges", comment="topology.connections: from → [to…]", origin=ctx.at(path))
    found: dict[str, list[str]] = {}
    for index, item in enumerate(connections):
        at: PathKey = (*path, index)
        if not isinstance(item, dict) or "from" not in item or "to" not in item:
            ctx.problem(at, "a connection is a mapping with 'from' and 'to'")
            continue
        source = _names(ctx, (*at, "from"), item["from"], ids)
        targets = _names(ctx, (*at, "to"), item["to"], ids)
        if source is None or targets is None or len(source) != 1:
            if source is not None and len(source) != 1:
                ctx.problem((*at, "from"), "'from' is one agent id")
            continue
        kind = item.get("type", "query")
        if kind == "bidirectional":
            ctx.note(
                (*at, "type"),
                "approximate",
                "bidirectional: Shipyard's edge goes from → to only (the 'to' agents start "
                f"first and {source[0]} gets their URLs; they do not get {source[0]}'s)",
            )
        elif kind not in ("query", "stream"):
            ctx.problem(
                (*at, "type"), f"connection type {kind!r} is not query, stream or bidirectional"
            )
        for key in item:
            if key not in ("from", "to", "type"):
                ctx.unmapped((*at, key), "a connection has only from, to and type")
        listed = found.setdefault(source[0], [])
        listed.extend(t for t in targets if t not in listed)
    for name, targets in found.items():
        edges.children.append(Entry(name, list(targets)))
    if edges.children:
        entry.children.append(edges)


def _mesh(ctx: ImportContext, value: dict[str, Any], entry: Entry, ids: set[str]) -> None:
    path: PathKey = ("topology", "agents")
    if "agents" not in value:
        return
    names = _names(ctx, path, value["agents"], ids)
    if names is not None:
        entry.children.append(
            Entry("members", list(names), comment="topology.agents", origin=ctx.at(path))
        )


def _hierarchical(ctx: ImportContext, value: dict[str, Any], entry: Entry, ids: set[str]) -> None:
    root = value.get("root")
    where: PathKey = ("topology", "root")
    if not isinstance(root, str) or root not in ids:
        ctx.problem(
            where if "root" in value else ("topology",),
            f"root {root!r} is not an agent id"
            if "root" in value
            else "a hierarchy needs a 'root'",
            hint=_known(ids, root),
        )
        return
    path: PathKey = ("topology", "levels")
    levels_value = value.get("levels", [])
    if not isinstance(levels_value, list):
        ctx.problem(path, "levels should be a list of levels (each a list of agent ids)")
        return
    if levels_value and all(isinstance(level, dict) for level in levels_value):
        levels = _tree_levels(ctx, path, root, levels_value, ids)
        comment = "topology.root + levels ({parent, children}): level by level from the root"
    else:
        levels = [[root]]
        for index, level in enumerate(levels_value):
            names = _names(ctx, (*path, index), level, ids)
            if names is not None and names != [root]:
                levels.append(names)
        comment = "topology.root + levels: [[root], …]"
    if levels is not None:
        entry.children.append(Entry("levels", list(levels), comment=comment, origin=ctx.at(path)))


def _tree_levels(
    ctx: ImportContext, path: PathKey, root: str, items: list[dict[str, Any]], ids: set[str]
) -> list[list[str]] | None:
    children: dict[str, list[str]] = {}
    for index, item in enumerate(items):
        at: PathKey = (*path, index)
        parent = _names(ctx, (*at, "parent"), item.get("parent"), ids)
        kids = _names(ctx, (*at, "children"), item.get("children"), ids)
        if parent is None or kids is None or len(parent) != 1:
            continue
        children.setdefault(parent[0], []).extend(kids)
    if ctx.problems:
        return None
    ctx.note(
        path,
        "approximate",
        "{parent, children} levels: Shipyard's levels talk to the whole level below, not to "
        "their own children only",
    )
    levels = [[root]]
    seen = {root}
    while True:
        below = [k for p in levels[-1] for k in children.get(p, []) if k not in seen]
        if not below:
            return levels
        seen.update(below)
        levels.append(list(dict.fromkeys(below)))


_BUILDERS = {
    "hub-spoke": _hub_spoke,
    "pipeline": _pipeline,
    "dag": _dag,
    "mesh": _mesh,
    "hierarchical": _hierarchical,
}
