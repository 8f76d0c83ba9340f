"""process-compose's ``availability`` → a service's ``restart`` or a step's ``retries``.

process-compose's backoff is constant (``backoff_seconds``, at least 1): Shipyard's doubles up
to ``max_backoff``, so both are set to it and the delay stays constant. ``max_restarts: 0`` (or
none) is unlimited there; Shipyard has no unlimited, so its largest sensible counts stand in
(1000 retries for a step, the most a step may have; 1,000,000 restarts for a service).
"""

from __future__ import annotations

from typing import Any

from shipyard.formats.context import ImportContext
from shipyard.formats.emit import Entry
from shipyard.spec.yamlsource import PathKey

#: process-compose's default backoff_seconds.
BACKOFF = 1
#: "unlimited" restarts of a service, retries of a step.
UNLIMITED_RESTARTS = 1_000_000
UNLIMITED_RETRIES = 1000

POLICIES = {"no": "no", "always": "always", "on_failure": "on-failure", "exit_on_failure": "no"}

_KNOWN = {"restart", "backoff_seconds", "max_restarts"}
_UNMAPPED = {
    "exit_on_end": "Shipyard does not stop the whole run when one unit ends",
    "exit_on_skipped": "Shipyard does not stop the whole run when one unit is skipped",
}


def _read(ctx: ImportContext, path: PathKey, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        ctx.problem(path, "availability should be a mapping (restart, backoff_seconds, ...)")
        return None
    restart = value.get("restart", "no")
    if restart not in POLICIES:
        ctx.problem(
            (*path, "restart"),
            f"availability.restart {restart!r} is not one of process-compose's",
            hint="use " + ", ".join(POLICIES),
        )
        return None
    for key in value:
        if key in _UNMAPPED:
            ctx.unmapped((*path, key), _UNMAPPED[key])
        elif key not in _KNOWN:
            ctx.unmapped((*path, key), "not an availability key this importer knows")
    return value


def _count(ctx: ImportContext, path: PathKey, value: Any, unlimited: int) -> tuple[int, str]:
    if value is None or value == 0:
        return unlimited, "max_restarts 0 or none: unlimited (as many as Shipyard allows)"
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        ctx.problem(path, f"max_restarts should be a whole number, not {value!r}")
        return unlimited, ""
    return min(value, unlimited), "max_restarts"


def restart_entries(ctx: ImportContext, path: PathKey, value: Any) -> tuple[list[Entry], bool]:
    """A service's ``restart`` (process-compose's default is no restart, Shipyard's on-failure:
    always written), and whether the whole run stops when it fails (exit_on_failure)."""
    read = _read(ctx, path, value)
    where = ctx.at(path) if value is not None else None
    if read is None:
        return [
            Entry(
                "restart",
                {"policy": "no"},
                comment="process-compose's default: no restart",
                origin=where,
            )
        ], False
    restart = str(read.get("restart", "no"))
    entry = Entry("restart", comment="availability", origin=where)
    entry.children.append(Entry("policy", POLICIES[restart], comment=f"restart: {restart}"))
    if restart == "exit_on_failure":
        ctx.note(
            (*path, "restart"),
            "approximate",
            "exit_on_failure: no restart, and execution.on_service_failure: stop-all (which "
            "Shipyard applies to every service's failure, not this one's only)",
        )
    if restart in ("always", "on_failure"):
        backoff = read.get("backoff_seconds", BACKOFF)
        entry.children.append(Entry("backoff", backoff, comment="backoff_seconds (constant)"))
        entry.children.append(Entry("max_backoff", backoff, comment="kept constant"))
        count, why = _count(
            ctx, (*path, "max_restarts"), read.get("max_restarts"), UNLIMITED_RESTARTS
        )
        entry.children.append(Entry("max_restarts", count, comment=why))
    return [entry], restart == "exit_on_failure"


def retry_entries(ctx: ImportContext, path: PathKey, value: Any) -> list[Entry]:
    """A step's ``retries`` for restart on_failure (a one-shot restarted on failure is retried);
    ``always`` never reaches here (it makes a service)."""
    read = _read(ctx, path, value)
    if read is None:
        return []
    restart = read.get("restart", "no")
    if restart == "exit_on_failure":
        ctx.note(
            (*path, "restart"),
            "implicit",
            "a failed step fails the run (failure_strategy fail_fast, Shipyard's default)",
        )
    if restart != "on_failure":
        return []
    backoff = read.get("backoff_seconds", BACKOFF)
    count, why = _count(ctx, (*path, "max_restarts"), read.get("max_restarts"), UNLIMITED_RETRIES)
    entry = Entry("retries", comment="availability: restart on_failure", origin=ctx.at(path))
    entry.children.append(Entry("count", count, comment=why))
    entry.children.append(Entry("backoff", backoff, comment="backoff_seconds (constant)"))
    entry.children.append(Entry("max_backoff", backoff, comment="kept constant"))
    entry.children.append(Entry("jitter", False, comment="process-compose waits exactly"))
    return [entry]
