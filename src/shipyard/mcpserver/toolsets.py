"""Which tools a server lists: tool groups, the default set and the read-only mode (issue 18 §2).

A small model copes with few tools (one client stops at 40), and someone who only wants to
look should not be handed a tool that stops a run. So every tool belongs to one group;
``shipyard mcp --tools pipelines,fleets`` lists those groups only, the default lists
:data:`DEFAULT_GROUPS`, and ``--read-only`` keeps only the tools whose kind is read-only (the
``readOnlyHint`` they carry). The choice is a pure function (:func:`select`) over the
registry, with table tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from shipyard.errors import ShipyardError
from shipyard.mcpserver.toolkit import Kind, ToolSpec

#: Every tool's group. A tool in no group is refused when the server is built (and by the
#: test that lists the registry), so a new tool gets a place here on purpose.
GROUPS: dict[str, tuple[str, ...]] = {
    "pipelines": (
        "run_pipeline",
        "stop_pipeline",
        "clean_pipeline",
        "get_pipeline_status",
        "run_pipeline_from_yaml",
        "monitor_pipeline_execution",
        "analyze_execution_results",
        "manage_execution_logs",
        "handle_checkpoint_restart",
        "validate_spec",
        "plan_pipeline",
        "spec_schema",
        "list_executions",
        "get_execution_events",
        "resume_execution",
        "history",
    ),
    "fleets": ("up", "down", "ps", "restart_service", "service_stop", "service_start"),
    "registry": (
        "pipelines_add",
        "pipelines_list",
        "pipelines_show",
        "pipelines_remove",
        "pipelines_set",
        "pipelines_step_add",
        "pipelines_step_remove",
        "pipelines_step_replace",
        "pipelines_validate",
        "pipelines_spec",
    ),
    "sweeps": ("execute_pipeline_test", "sweep_status", "sweep_list", "sweep_stop", "sweep_plot"),
    "agents": (
        "agents_discover",
        "agents_deploy",
        "agents_undeploy",
        "agents_list",
        "agent_status",
        "agent_deploy",
        "agent_undeploy",
        "agent_restart",
    ),
    "index": (
        "run_pipeline_from_index",
        "index_add",
        "index_list",
        "index_remove",
        "index_update",
        "index_templates",
        "index_show",
    ),
    "maintenance": ("clean_undo", "clean_purge", "store_check", "store_rebuild"),
    "artifacts": ("artifacts_list", "artifact_read", "gate_approve"),
    "ml": (
        "pipeline_metrics",
        "models_register",
        "models_list",
        "models_show",
        "models_promote",
        "models_rollback",
        "models_path",
        "rollout_start",
        "rollout_status",
        "rollout_promote",
        "rollout_abort",
    ),
    "environments": (
        "environments_save",
        "environments_list",
        "environments_show",
        "environments_remove",
    ),
    "api": ("integrate_python_api",),
}

#: The groups listed when --tools is not given: the daily work, under 40 tools (a test counts
#: them). Agents, the template index, the store's maintenance and ml (pipeline metrics, the
#: model registry) are asked for by name.
DEFAULT_GROUPS = ("pipelines", "fleets", "registry", "sweeps", "api")
#: ``--tools all``: every group.
ALL = "all"
#: The most tools the default set may list (some clients stop at 40).
DEFAULT_LIMIT = 40


def parse_groups(text: str | None) -> tuple[str, ...] | None:
    """``--tools pipelines,fleets`` as group names (None: the default; ``all``: every one)."""
    if text is None:
        return None
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if ALL in names:
        return tuple(GROUPS)
    unknown = [name for name in names if name not in GROUPS]
    if unknown or not names:
        raise ShipyardError(
            f"--tools {text!r}: "
            + (f"no group named {', '.join(unknown)}" if unknown else "no group given"),
            hint=f"the groups are {', '.join(GROUPS)}, or {ALL}; separate them with commas",
        )
    return names


def group_of(name: str) -> str:
    """The group of the tool ``name``; a tool in none is a programming error, named."""
    for group, members in GROUPS.items():
        if name in members:
            return group
    raise ShipyardError(
        f"the MCP tool {name} is in no group",
        hint="add it to shipyard.mcpserver.toolsets.GROUPS",
    )


def select(
    tools: Iterable[ToolSpec], groups: Sequence[str] | None = None, *, read_only: bool = False
) -> list[ToolSpec]:
    """The tools a server lists: those of ``groups`` (None: the default groups), only the
    read-only ones with ``read_only`` (of every group when no group is named)."""
    if groups is None:
        groups = tuple(GROUPS) if read_only else DEFAULT_GROUPS
    chosen = set(groups)
    return [
        spec
        for spec in tools
        if group_of(spec.name) in chosen and (not read_only or spec.kind is Kind.READ)
    ]
