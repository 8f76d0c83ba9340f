"""Pure graph algorithms over ``{node: [dependencies]}``: cycles, stages, critical path.

Used by the spec checks (cycles) and by the planner (stages, critical path). Iterative, so a
10,000-step chain does not hit Python's recursion limit; linear in nodes + edges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycle(needs: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle as ``[a, b, c, a]`` (a needs b needs c needs a), or None.

    Dependencies that are not nodes are ignored (they are reported elsewhere).
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(needs, white)
    for root in needs:
        if colour[root] != white:
            continue
        # Each frame: a node and an iterator over its remaining dependencies.
        stack = [(root, iter(needs[root]))]
        path: list[str] = [root]
        colour[root] = grey
        while stack:
            node, remaining = stack[-1]
            dep = next((d for d in remaining if d in needs), None)
            if dep is not None:
                if colour[dep] == grey:
                    return [*path[path.index(dep) :], dep]
                if colour[dep] == white:
                    colour[dep] = grey
                    stack.append((dep, iter(needs[dep])))
                    path.append(dep)
            else:
                colour[node] = black
                stack.pop()
                path.pop()
    return None


def stages(needs: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Topological levels: stage k holds the nodes whose longest dependency chain has length k.

    Within a stage nodes keep the order they were declared in. Assumes no cycle.
    """
    level: dict[str, int] = {}
    for node in _topological_order(needs):
        deps = needs[node]
        level[node] = 1 + max((level[dep] for dep in deps), default=-1)
    result: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for node in needs:
        result[level[node]].append(node)
    return result


def critical_path(
    needs: Mapping[str, Sequence[str]], duration: Mapping[str, float] | None = None
) -> tuple[list[str], float]:
    """The longest chain by total duration (each node 1.0 when durations are unknown)."""
    weight = duration or {}
    finish: dict[str, float] = {}
    previous: dict[str, str | None] = {}
    for node in _topological_order(needs):
        best, via = 0.0, None
        for dep in needs[node]:
            if finish[dep] > best:
                best, via = finish[dep], dep
        finish[node] = best + weight.get(node, 1.0)
        previous[node] = via
    if not finish:
        return [], 0.0
    end = max(finish, key=lambda node: finish[node])
    chain: list[str] = []
    cursor: str | None = end
    while cursor is not None:
        chain.append(cursor)
        cursor = previous[cursor]
    return chain[::-1], finish[end]


def dependants(needs: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The reverse edges: for each node, the nodes that need it."""
    reverse: dict[str, list[str]] = {node: [] for node in needs}
    for node, deps in needs.items():
        for dep in deps:
            reverse[dep].append(node)
    return reverse


def _topological_order(needs: Mapping[str, Sequence[str]]) -> list[str]:
    """Kahn's algorithm, stable with respect to declaration order."""
    remaining = {node: len(deps) for node, deps in needs.items()}
    reverse = dependants(needs)
    ready = [node for node, count in remaining.items() if count == 0]
    order: list[str] = []
    while ready:
        next_ready: list[str] = []
        for node in ready:
            order.append(node)
            for child in reverse[node]:
                remaining[child] -= 1
                if remaining[child] == 0:
                    next_ready.append(child)
        ready = next_ready
    if len(order) != len(needs):
        raise ValueError("the graph has a cycle")
    return order
