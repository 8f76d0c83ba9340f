"""The plan: pure resolution of a spec into ordered, ready-to-run units."""

from shipyard.plan.build import build_plan
from shipyard.plan.model import Plan, PlannedCommand, PlannedStep, RunMode

__all__ = ["Plan", "PlannedCommand", "PlannedStep", "RunMode", "build_plan"]
