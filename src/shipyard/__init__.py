"""Shipyard: deploy, run and watch pipelines from one declarative YAML file.

The public surface is small and stable::

    import shipyard

    ops = shipyard.LocalOperations()
    status = ops.run("examples/quickstart.yaml", {"count": 3})
    print(status.state, [unit.state for unit in status.units])

Names are imported on first use, so ``import shipyard`` (and the CLI's start-up) stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Event",
    "ExecutionState",
    "ExecutionStatus",
    "ExecutionSummary",
    "LocalOperations",
    "LogLine",
    "Operations",
    "Plan",
    "ShipyardError",
    "SpecError",
    "UnitState",
    "UnitStatus",
    "ValidationReport",
    "Workspace",
    "__version__",
    "build_plan",
    "load_spec",
]

_WHERE = {
    "Event": "shipyard.models",
    "ExecutionState": "shipyard.models",
    "ExecutionStatus": "shipyard.models",
    "ExecutionSummary": "shipyard.models",
    "UnitState": "shipyard.models",
    "UnitStatus": "shipyard.models",
    "LocalOperations": "shipyard.local",
    "LogLine": "shipyard.api",
    "Operations": "shipyard.api",
    "ValidationReport": "shipyard.api",
    "Plan": "shipyard.plan.model",
    "build_plan": "shipyard.plan.build",
    "ShipyardError": "shipyard.errors",
    "SpecError": "shipyard.errors",
    "Workspace": "shipyard.workspace",
    "load_spec": "shipyard.spec.loader",
}

if TYPE_CHECKING:
    from shipyard.api import LogLine, Operations, ValidationReport
    from shipyard.errors import ShipyardError, SpecError
    from shipyard.local import LocalOperations
    from shipyard.models import (
        Event,
        ExecutionState,
        ExecutionStatus,
        ExecutionSummary,
        UnitState,
        UnitStatus,
    )
    from shipyard.plan.build import build_plan
    from shipyard.plan.model import Plan
    from shipyard.spec.loader import load_spec
    from shipyard.workspace import Workspace


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard' has no attribute '{name}'")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
