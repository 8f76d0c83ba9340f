"""Every SQL statement of task suites, by name (issue 14 §1; the tasks' own are in
:mod:`shipyard.coordinator.queries`). The counters are not written here: revision
``0004_suites``'s trigger keeps them as the tasks change.
"""

from __future__ import annotations

SUITE_COLUMNS = (
    "s.id, s.uuid::text AS uuid, s.name, s.description, s.group_id, s.creator_id, s.tags, "
    "s.labels, s.priority, s.worker_schedule, s.env_preparation, s.env_cleanup, s.state, "
    "s.reason, s.total, s.pending, s.running, s.done, s.failed, s.cancelled, s.created_at, "
    "s.updated_at, s.last_task_at, s.closed_at, s.completed_at"
)

CREATE = """
INSERT INTO suites (name, description, group_id, creator_id, tags, labels, priority,
                    worker_schedule, env_preparation, env_cleanup)
VALUES (%(name)s, %(description)s, %(group_id)s, %(creator_id)s, %(tags)s, %(labels)s,
        %(priority)s, %(worker_schedule)s, %(env_preparation)s, %(env_cleanup)s)
RETURNING uuid::text
"""

GET = f"SELECT {SUITE_COLUMNS} FROM suites s WHERE s.uuid = %(uuid)s::uuid"  # noqa: S608

LOCK = f"SELECT {SUITE_COLUMNS} FROM suites s WHERE s.uuid = %(uuid)s::uuid FOR UPDATE"  # noqa: S608

# The list's filter: the caller's groups always; the others only when given (NULL: any).
_LISTED = """
FROM suites s
WHERE s.group_id = ANY(%(groups)s)
  AND (%(state)s::text IS NULL OR s.state = %(state)s)
  AND s.tags @> %(tags)s::text[]
"""

LIST = f"""
SELECT {SUITE_COLUMNS} {_LISTED}
ORDER BY s.created_at DESC, s.id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

COUNT = f"SELECT count(*) AS n {_LISTED}"

SET_STATE = """
UPDATE suites SET state = %(state)s, updated_at = now(), reason = coalesce(%(reason)s, reason),
    closed_at = CASE WHEN %(state)s = 'closed' THEN now() ELSE closed_at END,
    completed_at = CASE WHEN %(state)s = 'complete' THEN now() ELSE completed_at END
WHERE id = %(id)s
"""

# A suite's cancel: its queued tasks (and running ones when asked) end cancelled; a running
# task's lease is taken back, so its worker's report is refused (409) and it lets the task go.
CANCEL_TASKS = """
WITH gone AS (
    UPDATE tasks SET state = 'cancelled', ended_at = now(), message = %(message)s,
        lease_owner = NULL, lease_expires = NULL, heartbeat_at = NULL
    WHERE suite_id = %(id)s AND state = ANY(%(states)s::text[])
    RETURNING id, attempts
), attempts_ended AS (
    UPDATE attempts a SET outcome = 'cancelled', ended_at = now()
    FROM gone WHERE a.task_id = gone.id AND a.number = gone.attempts AND a.outcome = 'running'
)
SELECT count(*) AS n FROM gone
"""

# The sweep's facts: every live suite, with how long it has waited for a task.
LIVE = """
SELECT id, state, pending + running AS unfinished, total,
    extract(epoch FROM now() - coalesce(last_task_at, created_at))::float8 AS idle
FROM suites WHERE state IN ('open', 'closed')
"""

# The sweep's writes re-check their conditions, so a task submitted since the facts were read
# (which reopens the suite and moves last_task_at) keeps it open.
CLOSE_IDLE = """
UPDATE suites SET state = 'closed', closed_at = now(), updated_at = now()
WHERE id = ANY(%(ids)s) AND state = 'open' AND total > 0
  AND coalesce(last_task_at, created_at) <= now() - make_interval(secs => %(idle)s)
RETURNING id
"""

COMPLETE_DRAINED = """
UPDATE suites SET state = 'complete', completed_at = now(), updated_at = now()
WHERE id = ANY(%(ids)s) AND state = 'closed' AND pending = 0 AND running = 0
RETURNING id
"""

# What a task joining a suite needs of it (the submit route's check).
JOIN = """
SELECT id, group_id, state, tags, priority FROM suites WHERE uuid = %(uuid)s::uuid
"""

# The counters' check (tests, `shipyard suite status`): the tasks by state, counted.
RECOUNT = "SELECT state, count(*) AS n FROM tasks WHERE suite_id = %(id)s GROUP BY state"
