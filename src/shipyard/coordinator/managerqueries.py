"""Every SQL statement of node managers, by name (issue 14 §2; the tasks' own are in
:mod:`shipyard.coordinator.queries`, the suites' in :mod:`shipyard.coordinator.suitequeries`).

The matching rule (:mod:`shipyard.coordinator.managerdecisions`) is written once here in SQL
(:data:`_SERVES`), used both to choose a manager's next suite and to find the idle managers to
tell when a suite has work.
"""

from __future__ import annotations

CHANNEL = "shipyard_managers"

MANAGER_COLUMNS = (
    "m.id::text AS id, m.group_id, m.hostname, m.tags, m.labels, m.cpus, m.state, "
    "(SELECT s.uuid::text FROM suites s WHERE s.id = m.suite_id) AS suite_uuid, m.metrics, "
    "m.shutdown, m.created_at, m.last_heartbeat, m.connected_at"
)

# A manager registers (again) under its token's id: its facts are its word; an offline or
# gone manager is idle again; a suite it had is kept (next_suite returns it: idempotent).
REGISTER = """
INSERT INTO managers (id, group_id, hostname, tags, labels, cpus)
VALUES (%(id)s::uuid, %(group)s, %(hostname)s, %(tags)s, %(labels)s, %(cpus)s)
ON CONFLICT (id) DO UPDATE SET group_id = EXCLUDED.group_id, hostname = EXCLUDED.hostname,
    tags = EXCLUDED.tags, labels = EXCLUDED.labels, cpus = EXCLUDED.cpus,
    state = CASE WHEN managers.state IN ('offline', 'gone') THEN 'idle' ELSE managers.state END,
    shutdown = NULL, last_heartbeat = now()
RETURNING id::text
"""

GET = f"SELECT {MANAGER_COLUMNS} FROM managers m WHERE m.id = %(id)s::uuid"  # noqa: S608

# The manager's word, and whether it was offline (its worker row is made active again then).
HEARTBEAT = """
WITH before AS (SELECT id, state FROM managers WHERE id = %(id)s::uuid FOR UPDATE)
UPDATE managers m SET
    state = CASE WHEN before.state = 'gone' THEN 'gone' ELSE %(state)s END,
    metrics = %(metrics)s, last_heartbeat = now()
FROM before WHERE m.id = before.id
RETURNING before.state AS was, m.shutdown, m.suite_id
"""

WORKER_ACTIVE = """
UPDATE workers SET state = 'active', last_heartbeat = now() WHERE id = %(id)s::uuid
"""

# Whether manager ``m`` may serve suite ``s`` (managerdecisions.serves): same group, not given
# up there, and named for it by a user when any manager is, else holding the suite's tags.
_SERVES = """
    s.group_id = m.group_id
    AND NOT EXISTS (
        SELECT 1 FROM suite_manager_events e
        WHERE e.suite_id = s.id AND e.manager_id = m.id
          AND (e.kind = 'gave_up' OR (e.kind = 'env_preparation' AND NOT e.ok)))
    AND CASE WHEN EXISTS (SELECT 1 FROM suite_managers a
                          WHERE a.suite_id = s.id AND a.selection = 'user_specified')
        THEN EXISTS (SELECT 1 FROM suite_managers a
                     WHERE a.suite_id = s.id AND a.manager_id = m.id
                       AND a.selection = 'user_specified')
        ELSE m.tags @> s.tags END
"""

# An idle manager's next suite (managerdecisions.chosen): made its suite in the same statement.
# A manager that has a suite gets it again (NEXT_SUITE is not run then: see managers.py).
NEXT_SUITE = f"""
WITH pick AS (
    SELECT s.id FROM suites s, managers m
    WHERE m.id = %(id)s::uuid AND s.state IN ('open', 'closed') AND s.pending > 0
      AND {_SERVES}
    ORDER BY s.priority DESC, s.created_at, s.id
    LIMIT 1
)
UPDATE managers SET suite_id = pick.id, state = 'preparing'
FROM pick WHERE managers.id = %(id)s::uuid AND managers.suite_id IS NULL
RETURNING pick.id
"""  # noqa: S608 (constant text, spliced at import)

MANAGER_SUITE = "SELECT suite_id, state FROM managers WHERE id = %(id)s::uuid"

# A fetch's suite: its id, and whether it is the asking manager's.
FETCH_SUITE = """
SELECT s.id, (m.suite_id = s.id) AS mine FROM suites s
LEFT JOIN managers m ON m.id = %(id)s::uuid
WHERE s.uuid = %(uuid)s::uuid
"""

SUITE_ID = "SELECT id FROM suites WHERE uuid = %(uuid)s::uuid"

SUITE_DONE = """
UPDATE managers SET suite_id = NULL,
    state = CASE WHEN state IN ('offline', 'gone') THEN state ELSE 'idle' END
WHERE id = %(id)s::uuid AND suite_id = (SELECT id FROM suites WHERE uuid = %(uuid)s::uuid)
RETURNING id
"""

EVENT = """
INSERT INTO suite_manager_events (suite_id, manager_id, kind, ok, exit_status, seconds, output)
VALUES (%(suite)s, %(id)s::uuid, %(kind)s, %(ok)s, %(exit_status)s, %(seconds)s, %(output)s)
"""

# A released task's event, under the task's suite (none for a lone task).
RELEASED_EVENT = """
INSERT INTO suite_manager_events (suite_id, manager_id, kind, ok, output)
SELECT t.suite_id, %(id)s::uuid, 'released', false, %(output)s FROM tasks t
WHERE t.uuid = %(uuid)s::uuid AND t.suite_id IS NOT NULL
"""

EVENTS = """
SELECT e.kind, e.ok, e.exit_status, e.seconds, e.output, e.created_at,
       s.uuid::text AS suite_uuid
FROM suite_manager_events e JOIN suites s ON s.id = e.suite_id
WHERE e.manager_id = %(id)s::uuid ORDER BY e.id DESC LIMIT %(limit)s
"""

CONNECTED = "UPDATE managers SET connected_at = now() WHERE id = %(id)s::uuid"
# A socket closed: a manager that was asked to shut down has left (gone, no suite; its worker
# row stops fetching); any other may come back (the offline sweep decides).
DISCONNECTED = """
WITH left_ AS (
    UPDATE managers SET connected_at = NULL,
        state = CASE WHEN shutdown IS NOT NULL THEN 'gone' ELSE state END,
        suite_id = CASE WHEN shutdown IS NOT NULL THEN NULL ELSE suite_id END
    WHERE id = %(id)s::uuid
    RETURNING id, shutdown IS NOT NULL AS gone
), stopped AS (
    UPDATE workers w SET state = 'gone' FROM left_ WHERE w.id = left_.id AND left_.gone
)
SELECT gone FROM left_
"""

# The sweep: managers silent past the threshold go offline and lose their suite; their worker
# rows stop fetching (the heartbeat that brings one back makes it active again).
OFFLINE = """
WITH gone AS (
    UPDATE managers SET state = 'offline', suite_id = NULL, connected_at = NULL
    WHERE state NOT IN ('offline', 'gone')
      AND last_heartbeat < now() - make_interval(secs => %(after)s)
    RETURNING id
), stopped AS (
    UPDATE workers w SET state = 'gone' FROM gone WHERE w.id = gone.id
)
SELECT id::text AS id FROM gone
"""

SHUTDOWN = """
UPDATE managers SET shutdown = %(shutdown)s WHERE id = %(id)s::uuid RETURNING id
"""

# The managers to tell that suite ``uuid`` has queued tasks: idle, without a suite, connected
# to this process (``ids``), and allowed to serve it.
AVAILABLE_TO = f"""
SELECT m.id::text AS id, s.uuid::text AS suite_uuid, s.priority FROM suites s, managers m
WHERE s.uuid = %(uuid)s::uuid AND s.state IN ('open', 'closed') AND s.pending > 0
  AND m.id = ANY(%(ids)s::uuid[]) AND m.state = 'idle' AND m.suite_id IS NULL
  AND {_SERVES}
"""  # noqa: S608 (constant text, spliced at import)

# A push to one manager, through whichever coordinator process holds its socket.
NOTIFY = "SELECT pg_notify('shipyard_managers', %(payload)s)"

# A cancelled suite's managers are told (in the cancel's transaction: only if it commits).
NOTIFY_CANCEL = """
SELECT pg_notify('shipyard_managers', json_build_object(
    'manager', m.id, 'push', json_build_object(
        'type', 'cancel_suite', 'suite_uuid', s.uuid, 'cancel_running', %(running)s))::text)
FROM managers m JOIN suites s ON s.id = m.suite_id WHERE m.suite_id = %(id)s
"""

_LISTED = """
FROM managers m
WHERE m.group_id = ANY(%(groups)s)
  AND (%(state)s::text IS NULL OR m.state = %(state)s)
  AND m.tags @> %(tags)s::text[]
"""

LIST = f"""
SELECT {MANAGER_COLUMNS} {_LISTED}
ORDER BY m.created_at DESC, m.id
LIMIT %(limit)s OFFSET %(offset)s
"""

COUNT = f"SELECT count(*) AS n {_LISTED}"

# A suite's managers: assigned (suite_managers) or serving it now (managers.suite_id).
OF_SUITE = """
SELECT m.id::text AS id, m.hostname, m.state, a.selection, (m.suite_id = %(suite)s) AS serving
FROM managers m LEFT JOIN suite_managers a ON a.manager_id = m.id AND a.suite_id = %(suite)s
WHERE a.suite_id IS NOT NULL OR m.suite_id = %(suite)s
ORDER BY m.id
"""

# The facts refresh and assignment decide from (managerdecisions.refreshed / assignment_refusal).
GROUP_MANAGERS = """
SELECT id::text AS id, group_id, tags FROM managers WHERE group_id = %(group)s
"""

MANAGERS_BY_ID = """
SELECT id::text AS id, group_id, tags FROM managers WHERE id = ANY(%(ids)s::uuid[])
"""

ASSIGNMENTS = """
SELECT manager_id::text AS id, selection FROM suite_managers WHERE suite_id = %(suite)s
"""

GIVEN_UP = """
SELECT DISTINCT manager_id::text AS id FROM suite_manager_events
WHERE suite_id = %(suite)s AND (kind = 'gave_up' OR (kind = 'env_preparation' AND NOT ok))
"""

ASSIGN = """
INSERT INTO suite_managers (suite_id, manager_id, selection)
SELECT %(suite)s, unnest(%(ids)s::uuid[]), %(selection)s
ON CONFLICT (suite_id, manager_id) DO UPDATE SET selection = EXCLUDED.selection
    WHERE %(selection)s = 'user_specified'
"""

UNASSIGN = """
DELETE FROM suite_managers WHERE suite_id = %(suite)s AND manager_id = ANY(%(ids)s::uuid[])
    AND (%(selection)s::text IS NULL OR selection = %(selection)s)
RETURNING manager_id::text AS id
"""

# For /metrics: suites and managers by state.
SUITE_STATES_COUNT = "SELECT state, count(*) AS n FROM suites GROUP BY state"
MANAGER_STATES_COUNT = "SELECT state, count(*) AS n FROM managers GROUP BY state"
