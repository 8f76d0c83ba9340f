"""Turning a fleet's topology into connections and a start order. Pure.

``connections[a]`` are the services ``a`` talks to; a service starts after the services it talks
to (they must be up to answer it) and after its ``depends_on``:

- hub-spoke: the hub talks to every spoke; spokes start first.
- pipeline: each stage talks to the next; the last stage starts first.
- dag: ``edges: {a: [b]}`` — a talks to b; b starts first.
- mesh: everyone talks to everyone; no order among them.
- hierarchical: each level talks to the next one down; the lowest level starts first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from shipyard.dag import find_cycle, stages


class TopologyError(ValueError):
    """The topology names something that is not a service, or cannot be ordered."""


@dataclass(frozen=True)
class Wiring:
    stages: list[list[str]]  # start order: every service of a stage before the next stage
    connections: dict[str, list[str]]
    after: dict[str, list[str]]  # service → what must be up before it starts


def resolve(
    services: Sequence[str],
    topology: Mapping[str, Any] | None,
    depends_on: Mapping[str, Sequence[str]],
    *,
    deployment: str = "staged",
) -> Wiring:
    connections = _connections(list(services), topology) if topology else {}
    for name, targets in connections.items():
        for target in [name, *targets]:
            if target not in services:
                raise TopologyError(f"topology names '{target}', which is not a service")
    after: dict[str, list[str]] = {name: [] for name in services}
    for name in services:
        wanted = list(depends_on.get(name, ()))
        if topology is None or topology.get("type") != "mesh":
            wanted += connections.get(name, [])
        after[name] = list(dict.fromkeys(dep for dep in wanted if dep != name))
    cycle = find_cycle(after)
    if cycle:
        raise TopologyError(f"the services cannot be started in order: {' → '.join(cycle)}")
    order = stages(after)
    if deployment == "sequential":
        order = [[name] for stage in order for name in stage]
    elif deployment == "parallel":
        order = [[name for stage in order for name in stage]]
    return Wiring(stages=order, connections=connections, after=after)


def _connections(services: list[str], topology: Mapping[str, Any]) -> dict[str, list[str]]:
    return _KINDS[topology["type"]](services, topology)


def _hub_spoke(services: list[str], topology: Mapping[str, Any]) -> dict[str, list[str]]:
    hub = topology.get("hub")
    if not hub:
        raise TopologyError("hub-spoke needs a hub")
    spokes = list(topology.get("spokes") or [name for name in services if name != hub])
    return {hub: spokes}


def _pipeline(services: list[str], topology: Mapping[str, Any]) -> dict[str, list[str]]:
    stages_ = [s if isinstance(s, list) else [s] for s in topology.get("stages") or []]
    if len(stages_) < 2:
        raise TopologyError("a pipeline topology needs at least two stages")
    return {name: list(following) for current, following in pairwise(stages_) for name in current}


def _dag(services: list[str], topology: Mapping[str, Any]) -> dict[str, list[str]]:
    edges = {name: list(targets) for name, targets in (topology.get("edges") or {}).items()}
    if not edges:
        raise TopologyError("a dag topology needs edges: {service: [services it sends to]}")
    return edges


def _mesh(services: list[str], topology: Mapping[str, Any]) -> dict[str, list[str]]:
    members = list(topology.get("members") or services)
    return {name: [other for other in members if other != name] for name in members}


def _hierarchical(services: list[str], topology: Mapping[str, Any]) -> dict[str, list[str]]:
    levels = [list(level) for level in topology.get("levels") or []]
    if len(levels) < 2:
        raise TopologyError("a hierarchical topology needs at least two levels")
    return {name: list(children) for parents, children in pairwise(levels) for name in parents}


_KINDS = {
    "hub-spoke": _hub_spoke,
    "pipeline": _pipeline,
    "dag": _dag,
    "mesh": _mesh,
    "hierarchical": _hierarchical,
}


def replica_names(name: str, count: int) -> list[str]:
    """``web`` with 3 replicas is ``web-1``, ``web-2``, ``web-3``; one replica keeps its name."""
    return [name] if count == 1 else [f"{name}-{index}" for index in range(1, count + 1)]


def expand_replicas(
    counts: Mapping[str, int],
    topology: Mapping[str, Any] | None,
    depends_on: Mapping[str, Sequence[str]],
) -> tuple[list[str], dict[str, Any] | None, dict[str, list[str]], dict[str, str]]:
    """Services with ``replicas`` become one service per replica, everywhere they are named:
    a topology or a dependency naming ``web`` names every replica of it.

    Returns (names, topology, depends_on, replica → the service it is a copy of).
    """
    copies = {name: replica_names(name, count) for name, count in counts.items()}
    origin = {replica: name for name, replicas in copies.items() for replica in replicas}

    def many(names: Sequence[str]) -> list[str]:
        return [replica for name in names for replica in copies.get(name, [name])]

    expanded: dict[str, Any] | None = None
    if topology is not None:
        expanded = dict(topology)
        hub = topology.get("hub")
        if hub and len(copies.get(hub, [hub])) > 1:
            raise TopologyError(f"the hub '{hub}' of a hub-spoke topology cannot have replicas")
        expanded["spokes"] = many(topology.get("spokes") or [])
        expanded["stages"] = [
            many(stage if isinstance(stage, list) else [stage])
            for stage in topology.get("stages") or []
        ]
        expanded["edges"] = {
            replica: many(targets)
            for name, targets in (topology.get("edges") or {}).items()
            for replica in copies.get(name, [name])
        }
        expanded["members"] = many(topology.get("members") or [])
        expanded["levels"] = [many(level) for level in topology.get("levels") or []]
    needs = {
        replica: many(depends_on.get(name, ()))
        for name, replicas in copies.items()
        for replica in replicas
    }
    return list(origin), expanded, needs, origin


@dataclass(frozen=True)
class Fleet:
    """A fleet's services with their replicas expanded, wired and ordered."""

    names: list[str]  # every replica, in declaration order
    wiring: Wiring
    origin: dict[str, str]  # replica → the service it is a copy of
    copies: dict[str, list[str]]  # service → its replicas

    def replicas(self, names: Sequence[str]) -> list[str]:
        """``names`` with each service replaced by its replicas (other names kept)."""
        return [replica for name in names for replica in self.copies.get(name, [name])]


def fleet(
    replicas: Mapping[str, int],
    topology: Mapping[str, Any] | None,
    depends_on: Mapping[str, Sequence[str]],
    *,
    deployment: str = "staged",
) -> Fleet:
    """Expand replicas, then resolve. ``depends_on`` may name steps: only the services among
    them order the fleet (the engine waits for the steps separately)."""
    between_services = {
        name: [dep for dep in deps if dep in replicas] for name, deps in depends_on.items()
    }
    names, expanded, needs, origin = expand_replicas(replicas, topology, between_services)
    wiring = resolve(names, expanded, needs, deployment=deployment)
    copies = {name: replica_names(name, count) for name, count in replicas.items()}
    return Fleet(names=names, wiring=wiring, origin=origin, copies=copies)
