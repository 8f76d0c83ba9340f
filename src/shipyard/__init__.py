"""Shipyard: deploy, run and watch pipelines from one declarative YAML file.

The public surface is small and stable::

    import shipyard

    ops = shipyard.connect()
    status = ops.run("examples/quickstart.yaml", {"count": 3})
    print(status.state, [unit.state for unit in status.units])

``connect`` is the one way to get the operations (:class:`shipyard.api.Operations`); names are
imported on first use, so ``import shipyard`` (and the CLI's start-up) stays fast.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Event",
    "ExecutionNotFound",
    "ExecutionState",
    "ExecutionStatus",
    "ExecutionSummary",
    "LocalOperations",
    "LogLine",
    "Operations",
    "ParameterError",
    "Plan",
    "ShipyardError",
    "SpecError",
    "StoreError",
    "UnitState",
    "UnitStatus",
    "ValidationReport",
    "Workspace",
    "__version__",
    "build_plan",
    "connect",
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
    "ParameterError": "shipyard.errors",
    "ExecutionNotFound": "shipyard.errors",
    "StoreError": "shipyard.errors",
    "Workspace": "shipyard.workspace",
    "load_spec": "shipyard.spec.loader",
}

if TYPE_CHECKING:
    from pathlib import Path

    from shipyard.api import LogLine, Operations, ValidationReport
    from shipyard.errors import (
        ExecutionNotFound,
        ParameterError,
        ShipyardError,
        SpecError,
        StoreError,
    )
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


def connect(
    home: str | Path | None = None, *, url: str | None = None, token: str | None = None
) -> Operations:
    """The operations of the Shipyard whose state is in ``home`` (default: ``$SHIPYARD_HOME``,
    else ``./.shipyard``), in this process; or of the server at ``url`` (``shipyard serve``,
    :class:`shipyard.remote.RemoteOperations`), with ``token``, else ``$SHIPYARD_TOKEN``, else
    — a server on 127.0.0.1 — the token file it wrote under ``home``.

    With ``SHIPYARD_WIRE_CHECK=1`` every call crosses JSON text both ways on its way to the
    local engine (:class:`shipyard.wire.RoundTripOperations`): a test aid proving that the
    protocol can be served over a network.
    """
    if url is not None:
        from typing import cast

        from shipyard.remote import RemoteOperations, token_for_url

        # Every member of the protocol is forwarded (generated from it), unseen by mypy.
        remote = RemoteOperations(url, token=token_for_url(url, token, home))
        return cast("Operations", remote)
    from pathlib import Path

    from shipyard.local import LocalOperations
    from shipyard.workspace import Workspace

    local = LocalOperations(Workspace(Path(home).resolve()) if home is not None else None)
    if os.environ.get("SHIPYARD_WIRE_CHECK") == "1":
        from typing import cast

        from shipyard.wire import RoundTripOperations

        # Every member of the protocol is forwarded (generated from the protocol itself), which
        # mypy cannot see through __getattr__.
        return cast("Operations", RoundTripOperations(local))
    return local
