"""Where each unit of an execution runs (issue 16), as ``status``, ``ps`` and ``logs`` show it.

The store has no column for it: when an execution is prepared, a run folder whose plan places
some unit off this machine gets ``nodes.json`` beside ``plan.json`` — ``{unit: node}``, the
host's name for the ssh runner, ``slurm`` for Slurm (a Slurm runner may later put the job's
node there with :func:`record_node`). A run that is all local has no such file, so ``status``
pays one failed ``open`` for it and nothing more.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.models import ExecutionStatus

if TYPE_CHECKING:
    from shipyard.plan.model import Plan

#: In a run folder: ``{unit: node}`` of the units that do not run here; absent when all do.
NODES_FILE = "nodes.json"

_LOCAL = "local"  # shipyard.plan.placement.LOCAL (not imported: it brings in the spec's models)


def unit_nodes(plan: Plan) -> dict[str, str]:
    """``{unit: node}`` of ``plan``'s units that do not run on the local runner: a unit of the
    ssh runner is on its host; any other runner's unit is shown by the runner's key (``slurm``)
    until its runner knows better."""
    units = [(s.name, s.runner, s.host) for s in plan.steps]
    units += [(s.name, s.runner, s.host) for s in plan.services]
    return {name: host or runner for name, runner, host in units if runner != _LOCAL}


def write_nodes(run_root: Path, plan: Plan) -> None:
    """Write ``nodes.json`` in ``run_root`` when some unit of ``plan`` is not local; else make
    sure none is there (a resumed execution's earlier plan may have had one)."""
    nodes = unit_nodes(plan)
    path = run_root / NODES_FILE
    if nodes:
        _replace(path, nodes)
    else:
        path.unlink(missing_ok=True)


def record_node(run_root: Path, unit: str, node: str) -> None:
    """Say that ``unit`` runs on ``node`` (a Slurm job's node once Slurm has placed it): the
    file is replaced whole, so a ``status`` reading it meanwhile sees the old or the new one."""
    nodes = read_nodes(run_root)
    if nodes.get(unit) != node:
        _replace(run_root / NODES_FILE, {**nodes, unit: node})


def record_nodes(run_root: Path, placed: dict[str, str]) -> None:
    """:func:`record_node` for several units at once (a Slurm poll's changes): one read, one
    replace, nothing written when nothing changed."""
    nodes = read_nodes(run_root)
    merged = {**nodes, **placed}
    if merged != nodes:
        _replace(run_root / NODES_FILE, merged)


def read_nodes(run_root: str | Path) -> dict[str, str]:
    """The run folder's ``{unit: node}``; empty when it has no nodes.json (all its units run
    here) or one that is not such a mapping (a hand edit: the nodes are a display, not a
    reason for ``status`` to fail)."""
    try:
        with open(Path(run_root) / NODES_FILE, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):  # FileNotFoundError: the common case, all local
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(unit): node for unit, node in data.items() if isinstance(node, str) and node}


def with_nodes(status: ExecutionStatus) -> ExecutionStatus:
    """``status`` with each unit's node (units of the local runner keep None)."""
    nodes = read_nodes(status.run_dir)
    if not nodes:
        return status
    units = [
        dataclasses.replace(unit, node=nodes[unit.name]) if unit.name in nodes else unit
        for unit in status.units
    ]
    return dataclasses.replace(status, units=units)


def _replace(path: Path, nodes: dict[str, str]) -> None:
    from shipyard.workspace import write_private

    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_private(partial, json.dumps(nodes, sort_keys=True))
    partial.replace(path)
