"""The runners an execution needs, made from its plan (issue 16): ``local`` always, one
``ssh:<host>`` per host a unit is placed on, ``slurm`` when a step runs on Slurm. Each is made
lazily here, so a plan that runs only here imports nothing of ssh or Slurm."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.engine.runners.base import Runner
from shipyard.engine.runners.local import LocalRunner
from shipyard.plan.model import Plan
from shipyard.plan.placement import LOCAL, SLURM, SSH_PREFIX

if TYPE_CHECKING:
    from shipyard.engine.containment import Containment


def runner_keys(plan: Plan) -> set[str]:
    """Every runner key the plan's units name."""
    return {step.runner for step in plan.steps} | {service.runner for service in plan.services}


def needs_runners(plan: Plan) -> bool:
    """Does the plan run anything but here?"""
    keys = runner_keys(plan)
    return bool(keys) and keys != {LOCAL}


def plan_runners(
    plan: Plan,
    containment: Containment,
    run_root: Path,
    given: Mapping[str, Runner] | None = None,
) -> dict[str, Runner]:
    """The runners of ``plan``'s units (``given`` ones first: tests and callers may bring
    their own)."""
    runners: dict[str, Runner] = {LOCAL: LocalRunner(containment), **(given or {})}
    hosts = {host.name: host for host in plan.hosts}
    for key in sorted(runner_keys(plan) - set(runners)):
        if key.startswith(SSH_PREFIX):
            from shipyard.engine.runners.ssh import SshRunner

            runners[key] = SshRunner(hosts[key[len(SSH_PREFIX) :]], plan.ssh, containment)
        elif key == SLURM:
            from shipyard.engine.runners.slurm import SlurmRunner

            runners[key] = SlurmRunner(containment, run_root)
    return runners
