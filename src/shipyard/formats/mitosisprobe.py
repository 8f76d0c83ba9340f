"""Is this mapping a Mitosis suite or task? (detect.py asks; ``shipyard suite create`` too.)

Shipyard's own suite file shares ``worker_schedule``, ``env_preparation`` and ``env_cleanup``
with Mitosis's guide, so those names alone do not tell: a key only Mitosis has does
(``group_name``, ``exec_hooks``, an ExecSpec's ``args``, ``worker_count``…). No imports: it
runs on every foreign-format detection.
"""

from __future__ import annotations

from typing import Any

#: Keys of the top level that only a Mitosis suite body has.
ONLY_MITOSIS = ("group_name", "exec_hooks")
#: Keys of ``worker_schedule`` that only Mitosis's has (Shipyard's: count, prefetch).
SCHEDULE = ("type", "worker_count", "task_prefetch_count")
TASK = "a task"


def mitosis_key(data: dict[str, Any]) -> tuple[str, str] | None:
    """The top-level key that shows ``data`` is Mitosis's and why ("…: a task" or "…: a
    suite"), or None."""
    spec = data.get("spec")
    if isinstance(spec, dict) and "args" in spec:
        return "spec", f"'spec' with 'args': {TASK}"
    if "exec_options" in data:
        return "exec_options", f"'exec_options': {TASK}"
    for key in ONLY_MITOSIS:
        if key in data:
            return key, f"'{key}': a suite"
    schedule = data.get("worker_schedule")
    if isinstance(schedule, dict) and any(key in schedule for key in SCHEDULE):
        return "worker_schedule", "'worker_schedule' with 'worker_count': a suite"
    for key in ("env_preparation", "env_cleanup"):
        hook = data.get(key)
        if isinstance(hook, dict) and "args" in hook:
            return key, f"'{key}' with 'args': a suite"
    return None


def where_it_goes(reason: str, toml: bool) -> str:
    """Where a Mitosis file goes in Shipyard (the hint of validate, plan, run and import)."""
    if toml:
        return (
            "a node manager's config (coordinator_url, tags, groups) goes to `shipyard "
            "manager --config FILE`; a coordinator's or worker's ([coordinator], [worker]) "
            "are `shipyard serve --db` and `shipyard worker` options (docs/importing.md)"
        )
    if reason.endswith(TASK):
        return (
            "`shipyard tasks submit --file FILE` (or `shipyard suite submit UUID --file "
            "FILE`) submits it to Shipyard's coordinator; `shipyard import FILE` writes its "
            "Shipyard task file (docs/importing.md)"
        )
    return (
        "`shipyard suite create FILE` creates the suite on Shipyard's coordinator; "
        "`shipyard import FILE` writes its Shipyard suite file (docs/importing.md)"
    )
