"""Which front end reaches each operation: the explicit table behind the parity test
(tests/unit/test_front_end_parity.py) and the tool reference in docs/mcp.md.

Every member of :class:`shipyard.api.Operations` is either in :data:`REACHED` — the MCP tool
that calls it and the CLI command that does (a command path, with an option where the option is
what reaches it) — or in :data:`INTERNAL` with the reason it has no front end of its own. A new
operation in neither fails the test until it gets a tool and a command, or a reason.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reach:
    tool: str  # the MCP tool; "tool(parameter)" when that parameter is what calls it
    command: str  # the CLI command path; "command --option" when the option is what calls it


REACHED: dict[str, Reach] = {
    # specs
    "validate": Reach("validate_spec", "validate"),
    "plan": Reach("plan_pipeline", "plan"),
    "preview_ports": Reach("plan_pipeline", "plan"),
    "schema": Reach("spec_schema", "schema"),
    # executions
    "run": Reach("run_pipeline", "run"),
    "resume": Reach("resume_execution", "resume"),
    "status": Reach("get_pipeline_status", "status"),
    "list_executions": Reach("list_executions", "list"),
    "events": Reach("get_execution_events", "run"),
    "stop": Reach("stop_pipeline", "stop"),
    "stop_impact": Reach("stop_pipeline(dry_run)", "stop"),
    # fleets and agents
    "up": Reach("up", "up"),
    "wait_healthy": Reach("up(wait_healthy)", "up --wait"),
    "latest_fleet": Reach("ps", "ps"),
    "restart_service": Reach("restart_service", "restart"),
    "service_stop": Reach("service_stop", "service stop"),
    "service_start": Reach("service_start", "service start"),
    "agents_discover": Reach("agents_discover", "agents discover"),
    "agents_deploy": Reach("agents_deploy", "agents deploy"),
    "agents_fleet": Reach("agents_undeploy", "agents undeploy"),
    "agents_list": Reach("agents_list", "agents list"),
    "agent_status": Reach("agent_status", "agents status"),
    "agent_deploy": Reach("agent_deploy", "agents deploy"),
    "agent_undeploy": Reach("agent_undeploy", "agents undeploy"),
    "agent_restart": Reach("agent_restart", "agents restart"),
    # checkpoints, logs, maintenance
    "checkpoint_create": Reach("handle_checkpoint_restart(action)", "checkpoint create"),
    "checkpoint_list": Reach("handle_checkpoint_restart(action)", "checkpoint list"),
    "checkpoint_restore": Reach("handle_checkpoint_restart(checkpoint_id)", "checkpoint restore"),
    "logs": Reach("manage_execution_logs", "logs"),
    "clean": Reach("clean_pipeline", "clean"),
    "clean_undo": Reach("clean_undo", "clean --undo"),
    "clean_purge": Reach("clean_purge", "clean --purge"),
    "check_store": Reach("store_check", "store check"),
    "rebuild_store": Reach("store_rebuild", "store rebuild"),
    # named pipelines
    "pipeline_add": Reach("pipelines_add", "pipelines add"),
    "pipeline_list": Reach("pipelines_list", "pipelines list"),
    "pipeline_show": Reach("pipelines_show", "pipelines show"),
    "pipeline_remove": Reach("pipelines_remove", "pipelines remove"),
    "pipeline_set": Reach("pipelines_set", "pipelines set"),
    "pipeline_step_add": Reach("pipelines_step_add", "pipelines step add"),
    "pipeline_step_remove": Reach("pipelines_step_remove", "pipelines step remove"),
    "pipeline_step_replace": Reach("pipelines_step_replace", "pipelines step replace"),
    "pipeline_validate": Reach("pipelines_validate", "pipelines validate"),
    "pipeline_spec": Reach("pipelines_spec", "pipelines spec"),
    # named environments (issue 16 §4)
    "environment_save": Reach("environments_save", "env capture"),
    "environment_list": Reach("environments_list", "env list"),
    "environment_show": Reach("environments_show", "env show"),
    "environment_remove": Reach("environments_remove", "env rm"),
    # sweeps
    "sweep": Reach("execute_pipeline_test", "sweep run"),
    "sweep_status": Reach("sweep_status", "sweep status"),
    "sweep_list": Reach("sweep_list", "sweep list"),
    "sweep_stop": Reach("sweep_stop", "sweep stop"),
    "sweep_plot": Reach("sweep_plot", "sweep status --plot"),
    # the template index
    "index_add": Reach("index_add", "index add"),
    "index_list": Reach("index_list", "index list"),
    "index_remove": Reach("index_remove", "index remove"),
    "index_update": Reach("index_update", "index update"),
    "index_templates": Reach("index_templates", "index templates"),
    "index_show": Reach("index_show", "index show"),
    # analysis
    "monitor": Reach("monitor_pipeline_execution", "monitor"),
    "analyze": Reach("analyze_execution_results", "analyze"),
    "history": Reach("history", "history"),
    # artifacts between steps and quality gates (issue 15 §1-2)
    "artifacts": Reach("artifacts_list", "artifacts"),
    "artifact_read": Reach("artifact_read", "artifacts --output"),
    "gate_approve": Reach("gate_approve", "gate approve"),
    # pipeline metrics and the model registry (issue 15 §3-4)
    "pipeline_metrics": Reach("pipeline_metrics", "metrics"),
    "model_register": Reach("models_register", "models register"),
    "model_list": Reach("models_list", "models list"),
    "model_show": Reach("models_show", "models show"),
    "model_promote": Reach("models_promote", "models promote"),
    "model_rollback": Reach("models_rollback", "models rollback"),
    "model_path": Reach("models_path", "models path"),
    # canary rollouts (issue 15 §5)
    "rollout_start": Reach("rollout_start", "rollout start"),
    "rollout_status": Reach("rollout_status", "rollout status"),
    "rollout_promote": Reach("rollout_promote", "rollout promote"),
    "rollout_abort": Reach("rollout_abort", "rollout abort"),
}

INTERNAL: dict[str, str] = {
    "close": "lets go of the implementation's connection; every front end calls it when done, "
    "no user asks for it",
    "start": "drives an execution prepared with hold=True by the same object; `shipyard run` "
    "uses it to show a foreground run live, the MCP tools start detached runs instead",
}

#: Tools beyond the table: another way to an operation the table names (or, for the call
#: language, to every one it allows).
ALSO: dict[str, str] = {
    "run_pipeline_from_yaml": "run",
    "run_pipeline_from_index": "run",
    "down": "stop",
    "integrate_python_api": "*",
}
