"""What the server serves of the protocol: the operations and their resolved signatures."""

from __future__ import annotations

import functools
import inspect
from typing import Any

from shipyard.wire import operation_names

__all__ = ["NOT_SERVED", "served_operations", "signature_of"]

#: Members of the protocol that are no operation to serve: ``close`` lets go of what the
#: caller's implementation holds (the client closes its own connection).
NOT_SERVED = frozenset({"close"})


def served_operations() -> list[str]:
    return [name for name in operation_names() if name not in NOT_SERVED]


@functools.cache
def signature_of(name: str) -> tuple[inspect.Signature, dict[str, Any]]:
    from shipyard import wire

    return wire._signature(name)  # one resolver of the hints
