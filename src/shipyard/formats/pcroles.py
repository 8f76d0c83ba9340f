"""Which process-compose processes become Shipyard steps (run to their end) and which become
services (kept running): a pure decision over the ``processes`` mapping.

In order, first match wins (docs/importing.md):

1. ``availability.restart: always`` → service (it is meant to keep running);
2. another process waits for it ``process_started``, ``process_healthy`` or ``process_log_ready``
   → service (only a service can be waited for so);
3. another process waits for it ``process_completed`` or ``process_completed_successfully``
   → step (it is meant to complete);
4. it has a readiness or liveness probe, a ``ready_log_line``, ``replicas`` over 1 or
   ``is_daemon`` → service;
5. anything else → step: nothing waits for it nor watches it, so it runs to its own end, as
   process-compose runs it (``shipyard run`` waits for it, as ``process-compose up`` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["step", "service"]

SERVICE_WAITS = frozenset({"process_started", "process_healthy", "process_log_ready"})
STEP_WAITS = frozenset({"process_completed", "process_completed_successfully"})


@dataclass(frozen=True)
class RoleChoice:
    role: Role
    reason: str


def waits_on(processes: dict[str, Any]) -> dict[str, set[str]]:
    """For each process, the conditions other processes wait for it with."""
    waits: dict[str, set[str]] = {name: set() for name in processes}
    for process in processes.values():
        depends = process.get("depends_on") if isinstance(process, dict) else None
        if not isinstance(depends, dict):
            continue
        for target, how in depends.items():
            condition = how.get("condition") if isinstance(how, dict) else None
            if target in waits and isinstance(condition, str):
                waits[target].add(condition)
    return waits


def role_of(process: dict[str, Any], waited: set[str]) -> RoleChoice:
    availability = process.get("availability")
    restart = availability.get("restart") if isinstance(availability, dict) else None
    if restart == "always":
        return RoleChoice("service", "restart: always")
    if waited & SERVICE_WAITS:
        return RoleChoice("service", f"waited for with {', '.join(sorted(waited & SERVICE_WAITS))}")
    if waited & STEP_WAITS:
        return RoleChoice("step", f"waited for with {', '.join(sorted(waited & STEP_WAITS))}")
    for key in ("readiness_probe", "liveness_probe", "ready_log_line"):
        if process.get(key):
            return RoleChoice("service", f"it has a {key}")
    replicas = process.get("replicas")
    if isinstance(replicas, int) and not isinstance(replicas, bool) and replicas > 1:
        return RoleChoice("service", "replicas")
    if process.get("is_daemon"):
        return RoleChoice("service", "is_daemon")
    return RoleChoice("step", "nothing waits for it or probes it: it runs to its end")


def roles(processes: dict[str, Any]) -> dict[str, RoleChoice]:
    waits = waits_on(processes)
    return {
        name: role_of(process if isinstance(process, dict) else {}, waits[name])
        for name, process in processes.items()
    }
