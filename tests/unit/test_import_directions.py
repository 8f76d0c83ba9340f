"""Who may import whom (docs/architecture.md, "Layers"): the package has no import cycle, and
the engine imports nothing of the layers above it. Every import counts — at the top of a
module or inside a function (a lazy import is still a dependency); one under ``TYPE_CHECKING``
counts for the engine's direction but cannot make a cycle (it never runs) — so the check reads
the source with ``ast`` rather than watching what Python happens to load."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import shipyard

PACKAGE = Path(shipyard.__file__).parent

#: What the engine must never import: front ends, the facade and the layers that drive it.
ABOVE_THE_ENGINE = (
    "shipyard.local",
    "shipyard.cli",
    "shipyard.api",
    "shipyard.checkpoint",
    "shipyard.watchdog",
    "shipyard.control",
    "shipyard.supervisor",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _nodes(tree: ast.AST, *, typing_too: bool) -> list[ast.AST]:
    """Every node of ``tree``; without ``typing_too``, not those under ``if TYPE_CHECKING:``
    (never executed: such an import names a type, it cannot make an import cycle)."""
    found: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if not typing_too and _is_type_checking(node):
            assert isinstance(node, ast.If)
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return found


def imported(name: str, path: Path, known: set[str], *, typing_too: bool = True) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in _nodes(tree, typing_too=typing_too):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from shipyard import checkpoint` imports the module shipyard.checkpoint.
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.startswith("shipyard.") and target != name:
                found.add(target)
    return found


def graph(*, typing_too: bool = True) -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {
        name: imported(name, path, known, typing_too=typing_too) for name, path in found.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan's, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b"], ["c", "d"]]),
    ],
)
def test_cycles_are_found(edges: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert sorted(cycles(edges)) == expected


def test_imports_are_read_wherever_they_are(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from shipyard.engine import process\n"
        "if TYPE_CHECKING:\n    from shipyard.plan.model import Plan\n"
        "def late():\n    from shipyard import checkpoint\n    import shipyard.control\n"
        "from . import dag\n"
    )
    known = {"shipyard.engine.process", "shipyard.plan.model", "shipyard.checkpoint"}
    known |= {"shipyard.control", "shipyard.dag", "shipyard.engine", "shipyard.plan"}
    assert imported("shipyard.probe", source, known, typing_too=False) == {
        "shipyard.engine",
        "shipyard.engine.process",
        "shipyard.checkpoint",
        "shipyard.control",
        "shipyard.dag",
    }
    assert imported("shipyard.probe", source, known) == {
        "shipyard.engine",
        "shipyard.engine.process",
        "shipyard.plan.model",
        "shipyard.checkpoint",
        "shipyard.control",
        "shipyard.dag",
    }


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(graph(typing_too=False)) == []


def test_the_engine_imports_nothing_above_it() -> None:
    """Not even for a type: the engine's signatures name nothing of the layers above."""
    upward = sorted(
        (name, target)
        for name, targets in graph().items()
        if name.startswith("shipyard.engine")
        for target in targets
        if any(target == top or target.startswith(top + ".") for top in ABOVE_THE_ENGINE)
    )
    assert upward == []
