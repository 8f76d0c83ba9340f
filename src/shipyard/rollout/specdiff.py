"""Whether `up` of a changed spec is a rollout: the running fleet's plan against the new one.
Pure: two plans in, each service's environment changes out (or None: not a rollout).

It is a rollout when the only differences are environment values of services that have
``rollout:`` (values changed or added). Anything else — a command, a port, a health check,
another service, a removed variable — is not something a canary can carry: `up` then does
what it always did (a fleet of its own).
"""

from __future__ import annotations

import dataclasses

from shipyard.plan.model import Plan, PlannedService


def _without_env(service: PlannedService) -> PlannedService:
    return dataclasses.replace(service, env={})


def rollout_changes(running: Plan, new: Plan) -> dict[str, dict[str, str]] | None:
    """service → the env values its new version changes; None when the new plan is not the
    running one with only rollout services' env values changed (or changes nothing)."""
    if running.name != new.name:
        return None
    old_services = {s.name: s for s in running.services}
    new_services = {s.name: s for s in new.services}
    if old_services.keys() != new_services.keys():
        return None
    if (
        dataclasses.replace(running, services=[], steps=[], spec_digest="", spec_path=None)
        != (dataclasses.replace(new, services=[], steps=[], spec_digest="", spec_path=None))
        or running.steps != new.steps
    ):
        return None
    changes: dict[str, dict[str, str]] = {}
    for name, old in old_services.items():
        fresh = new_services[name]
        if _without_env(old) != _without_env(fresh):
            return None
        if old.env == fresh.env:
            continue
        if old.rollout is None or not old.env.keys() <= fresh.env.keys():
            return None
        changes[name] = {k: v for k, v in fresh.env.items() if old.env.get(k) != v}
    return changes or None
