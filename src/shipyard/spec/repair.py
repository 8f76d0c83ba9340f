"""A spec with shape errors, patched just enough to be validated, so that the named checks
(templates, ports, services, secrets…) still run and every problem is reported at once.

The patched spec is never run or shown: it only lets the checks see the rest of the file. Each
patch removes or neutralises the part that is wrong — an unknown or ill-typed key is dropped, a
unit that cannot be read becomes a placeholder of the same name (so a reference to it stays
valid and no new problem appears) — and a few rounds are tried, since a patch can uncover
another error (a dropped ``run`` is then missing). Pure: data in, data out.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from shipyard.spec.yamlsource import PathKey

#: Mappings whose entries are named units or parameters: an entry that cannot be read is
#: replaced by a placeholder under its own name, never removed at once.
_NAMED = {"steps": {"run": "true"}, "services": {"run": "true"}, "parameters": {}}
#: How many rounds of patches to try before giving up (a patch may uncover one more error).
_ROUNDS = 4


def patched(data: dict[str, Any], paths: Iterable[PathKey]) -> dict[str, Any] | None:
    """``data`` with the parts at ``paths`` (where validation failed, as found in the data)
    patched (a unit refused again as a placeholder is removed). None when a path cannot be
    patched (the whole file, or a whole mapping of units)."""
    result = copy.deepcopy(data)
    for path in paths:
        if not _patch(result, path):
            return None
    return result


def _patch(data: dict[str, Any], path: PathKey) -> bool:
    if not path:
        return False
    top = path[0]
    if top in _NAMED:
        return _patch_named(data, path)
    if top == "name":
        data["name"] = "spec"  # only named in messages of checks that do not run repaired
        return True
    _remove(data, path[:2])
    return True


def _patch_named(data: dict[str, Any], path: PathKey) -> bool:
    top = str(path[0])
    entries = data.get(top)
    if len(path) == 1 or not isinstance(entries, dict):
        return False  # `steps: 3`: no unit can be read
    unit = entries.get(path[1])
    if len(path) >= 3 and isinstance(unit, dict) and path[2] in unit:
        _remove(data, path[:3])  # one key of the unit: the unit stays
    elif entries.get(path[1]) != _NAMED[top]:
        entries[path[1]] = dict(_NAMED[top])
    else:
        entries.pop(path[1], None)  # even the placeholder is refused: a bad name
    return True


def _remove(data: dict[str, Any], path: PathKey) -> None:
    node: Any = data
    for part in path[:-1]:
        node = _child(node, part)
    if isinstance(node, dict):
        node.pop(path[-1], None)
    elif _child(node, path[-1]) is not None:
        del node[path[-1]]


def _child(node: Any, part: str | int) -> Any:
    """``node[part]`` when the data has it, else None."""
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def repair(
    data: dict[str, Any],
    first_paths: list[PathKey],
    attempt_paths: Callable[[dict[str, Any]], list[PathKey] | None],
) -> dict[str, Any] | None:
    """Data that validates, patched from ``data`` round after round, or None.
    ``first_paths``: where ``data`` failed; ``attempt_paths(candidate)``: where a candidate
    fails (None: it validates)."""
    paths = first_paths
    candidate: dict[str, Any] | None = data
    for _ in range(_ROUNDS):
        assert candidate is not None
        candidate = patched(candidate, paths)
        if candidate is None:
            return None
        found = attempt_paths(candidate)
        if found is None:
            return candidate
        paths = found
    return None
