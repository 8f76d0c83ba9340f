"""Every SQL statement of the task queue, by name (STYLE 4: one module owns the queries).

Parameters are always bound (``%(name)s``); the only text spliced in is a WHERE clause built by
:func:`shipyard.coordinator.decisions.where_clause` from fixed column names and operators.
"""

from __future__ import annotations

CHANNEL = "shipyard_tasks"

NOTIFY = "SELECT pg_notify('shipyard_tasks', '')"

#: Tasks ended (succeeded, failed, cancelled): a result awaited with ``wait`` looks again. A
#: channel of its own, so an end never wakes the workers' waiting fetches.
ENDED_CHANNEL = "shipyard_ended"
NOTIFY_ENDED = "SELECT pg_notify('shipyard_ended', '')"

TASK_COLUMNS = (
    "uuid::text AS uuid, group_id, creator_id, state, priority, tags, labels, command, env, "
    "local_path, timeout, max_attempts, attempts, "
    "(SELECT u.uuid::text FROM tasks u WHERE u.id = t.watch_task) AS watch_upstream, "
    "watch_state, lease_owner::text AS lease_owner, lease_expires, heartbeat_at, created_at, "
    "started_at, ended_at, exit_status, output_tail, result, message, key, "
    "(SELECT s.uuid::text FROM suites s WHERE s.id = t.suite_id) AS suite_uuid"
)

UPSTREAMS = "SELECT uuid::text AS uuid, id, group_id FROM tasks WHERE uuid = ANY(%(uuids)s::uuid[])"

# One statement for up to tasks.SUBMIT_CHUNK rows of a batch (a larger batch is several, in
# its one transaction): the rows travel as one JSON array (no parameter limit). Ids are drawn
# in the SELECT's order (``n``, the place in the batch), so the returned rows sorted by id pair
# with the chunk's rows in order — but for rows whose key a task of their group already has:
# skipped (ON CONFLICT), and told apart by their (group, key) missing from what comes back.
SUBMIT = """
INSERT INTO tasks (group_id, creator_id, priority, tags, labels, command, env, local_path,
                   timeout, max_attempts, watch_task, watch_state, key, suite_id)
SELECT r.group_id, r.creator_id, r.priority, r.tags, r.labels, r.command, r.env, r.local_path,
       r.timeout, r.max_attempts, r.watch_task, r.watch_state, r.key, r.suite_id
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
    n bigint, group_id bigint, creator_id bigint, priority int, tags text[], labels jsonb,
    command text[], env jsonb, local_path text, timeout double precision, max_attempts int,
    watch_task bigint, watch_state text, key text, suite_id bigint)
ORDER BY r.n
ON CONFLICT (group_id, key) DO NOTHING
RETURNING id, uuid::text, group_id, key
"""

# The tasks already holding keys a submit found taken: (group, key) pairs as two arrays.
KEYED = """
SELECT t.group_id, t.key, t.uuid::text AS uuid
FROM tasks t JOIN unnest(%(groups)s::bigint[], %(keys)s::text[]) AS k(group_id, key)
  ON t.group_id = k.group_id AND t.key = k.key
"""

# Whether the watched upstream ``u`` reached the state task ``t`` waits for
# (decisions.watch_outcome's "go").
_REACHED = """CASE t.watch_state
    WHEN 'started' THEN u.started_at IS NOT NULL
    WHEN 'ended' THEN u.state IN ('succeeded', 'failed', 'cancelled')
    ELSE u.state = t.watch_state END"""

# The claim: lock up to n fetchable rows, skipping rows other fetchers hold, in priority then
# age order, and mark them running in the same statement (no window between lock and mark).
# The ordered, locked select sits in a subquery, as the locking clause applies after ORDER BY.
# The worker's group and tags are scalar subqueries (computed once, before the scan), so the
# scan walks ix_tasks_claim (group, priority DESC, id) in order and stops after n rows; joined
# to the workers row instead, PostgreSQL sorted every queued row of the group on each fetch.
# The tags test is wrapped in coalesce (the same truth: neither array is NULL) so the planner
# neither answers it from the GIN index ix_tasks_tags nor estimates it: bare, "tags <@ (a value
# known only at run time)" is estimated to hold for 0.5% of rows, and once the table had
# statistics the planner read every queued task of the group through the GIN index and sorted
# them (126 ms at 150,000 queued) rather than walk the claim index (3 ms).
#
# FETCH_SUITE is the same claim within one suite (a node manager's fetch; issue 14), a text of
# its own so each keeps a plan that fits it. There the suite decides who runs its tasks: the
# manager serves it by its tags or by an explicit assignment (managerqueries.NEXT_SUITE), and
# the suite's tasks are of the suite's group (routes._spec), so group and tags are checked once,
# on the suite and the worker row, not per task. Per-task filters would both be wrong (an
# assigned manager without the suite's tags never got a task) and slow: PostgreSQL estimates
# "tags <@ (a value known only at run time)" to hold for 0.5% of rows, and with that it chose
# to read and sort every queued task of the suite (an on-disk sort, 119-153 ms at 100,000)
# over walking ix_tasks_suite_claim (suite, priority DESC, id) and stopping after n (~3 ms).
_FETCH = f"""
WITH claimed AS (
    UPDATE tasks SET state = 'running', attempts = tasks.attempts + 1,
        lease_owner = %(worker)s::uuid, lease_expires = now() + make_interval(secs => %(lease)s),
        heartbeat_at = now(), started_at = coalesce(tasks.started_at, now())
    WHERE tasks.id IN (
        SELECT t.id FROM tasks t
        WHERE t.state = 'queued'
          {{eligible}}
          AND (t.watch_task IS NULL OR EXISTS (
                SELECT 1 FROM tasks u WHERE u.id = t.watch_task AND {_REACHED}))
        ORDER BY t.priority DESC, t.id
        LIMIT %(limit)s
        FOR UPDATE OF t SKIP LOCKED)
    RETURNING tasks.id, tasks.uuid::text AS uuid, tasks.attempts, tasks.command, tasks.env,
        tasks.local_path, tasks.timeout, tasks.priority, tasks.lease_expires
), logged AS (
    INSERT INTO attempts (task_id, number, worker_id)
    SELECT id, attempts, %(worker)s::uuid FROM claimed
)
SELECT * FROM claimed ORDER BY priority DESC, id
"""  # noqa: S608 (constant text, spliced at import)
FETCH = _FETCH.format(
    eligible="""AND t.group_id = (SELECT group_id FROM workers
                            WHERE id = %(worker)s::uuid AND state = 'active')
          AND coalesce(t.tags <@ (SELECT tags FROM workers WHERE id = %(worker)s::uuid), false)"""
)
FETCH_SUITE = _FETCH.format(
    eligible="""AND t.suite_id = %(suite)s
          AND EXISTS (SELECT 1 FROM workers w JOIN suites s ON s.group_id = w.group_id
                      WHERE w.id = %(worker)s::uuid AND w.state = 'active' AND s.id = %(suite)s)"""
)

# A task given back by the worker holding it (a node manager whose managed worker crashed, or
# that gives its suite up): the attempt is recorded lost, the task queued again while attempts
# remain (failed otherwise), as RECOVER does for a lease run out. One task fenced by its
# attempt (``uuid``), or all the worker holds (of one suite, with ``suite``).
RELEASE = """
WITH chosen AS (
    SELECT id FROM tasks
    WHERE state = 'running' AND lease_owner = %(worker)s::uuid
      AND (%(uuid)s::uuid IS NULL OR (uuid = %(uuid)s::uuid AND attempts = %(attempt)s))
      AND (%(suite)s::bigint IS NULL OR suite_id = %(suite)s)
    ORDER BY id
    FOR UPDATE
), moved AS (
    UPDATE tasks t SET
        state = CASE WHEN t.attempts >= t.max_attempts THEN 'failed' ELSE 'queued' END,
        ended_at = CASE WHEN t.attempts >= t.max_attempts THEN now() END,
        message = CASE WHEN t.attempts >= t.max_attempts
            THEN format('gave up after %%s attempts: the last was released (%%s)', t.attempts,
                        %(reason)s::text)
            ELSE format('attempt %%s released (%%s); queued again', t.attempts,
                        %(reason)s::text) END,
        lease_owner = NULL, lease_expires = NULL, heartbeat_at = NULL
    FROM chosen WHERE t.id = chosen.id
    RETURNING t.id, t.uuid::text AS uuid, t.attempts, t.state
), lost AS (
    UPDATE attempts a SET outcome = 'lost', ended_at = now()
    FROM moved WHERE a.task_id = moved.id AND a.number = moved.attempts AND a.outcome = 'running'
)
SELECT id, uuid, state FROM moved
"""

# A release sent again (its answer lost): the attempt already ended lost under this worker.
RELEASED = """
SELECT t.state FROM attempts a JOIN tasks t ON t.id = a.task_id
WHERE t.uuid = %(uuid)s::uuid AND a.number = %(attempt)s AND a.worker_id = %(worker)s::uuid
  AND a.outcome = 'lost'
"""

# Leases run out (or a worker lets its tasks go): back to the queue while attempts remain,
# given up otherwise; the attempt that held the lease is recorded as lost. SKIP LOCKED here too,
# so two fetchers recovering at once never both move the same row.
RECOVER = """
WITH expired AS (
    SELECT id FROM tasks
    WHERE state = 'running' AND (lease_expires < now() OR lease_owner = %(release)s::uuid)
    FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE tasks t SET
        state = CASE WHEN t.attempts >= t.max_attempts THEN 'failed' ELSE 'queued' END,
        ended_at = CASE WHEN t.attempts >= t.max_attempts THEN now() END,
        message = CASE WHEN t.attempts >= t.max_attempts
            THEN format('gave up after %%s attempts: the last lost its lease', t.attempts)
            ELSE format('attempt %%s lost its lease; queued again', t.attempts) END,
        lease_owner = NULL, lease_expires = NULL, heartbeat_at = NULL
    FROM expired WHERE t.id = expired.id
    RETURNING t.id, t.attempts, t.state
), lost AS (
    UPDATE attempts a SET outcome = 'lost', ended_at = now()
    FROM moved WHERE a.task_id = moved.id AND a.number = moved.attempts AND a.outcome = 'running'
)
SELECT id, state FROM moved
"""

HEARTBEAT_WORKER = """
UPDATE workers SET last_heartbeat = now() WHERE id = %(worker)s::uuid RETURNING state
"""

# Only the leases the worker says it holds (NULL: all of its own, for a caller that runs one task
# at a time): a task claimed by a fetch whose answer never reached the worker is not listed, so
# its lease runs out and it is recovered, instead of being kept alive for ever by a worker that
# does not know it has it.
HEARTBEAT_TASKS = """
UPDATE tasks SET lease_expires = now() + make_interval(secs => %(lease)s), heartbeat_at = now()
WHERE lease_owner = %(worker)s::uuid AND state = 'running'
    AND (%(holding)s::uuid[] IS NULL OR uuid = ANY(%(holding)s::uuid[]))
RETURNING uuid::text
"""

# A worker's reports, in one statement however many: only the attempt that holds the lease may
# end it (the attempt number is the fencing token); the next state is decisions.after_attempt's,
# in SQL. Rows locked in id order, so two batches never deadlock. A report with no row back did
# not hold its lease (or named no task); STATE_OF then says which.
REPORT = """
WITH r AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
        uuid uuid, attempt int, exit_status int, output_tail text, result jsonb)
), held AS (
    SELECT t.id, t.max_attempts, r.attempt, r.exit_status, r.output_tail, r.result
    FROM tasks t JOIN r ON t.uuid = r.uuid
    WHERE t.state = 'running' AND t.lease_owner = %(worker)s::uuid AND t.attempts = r.attempt
    ORDER BY t.id
    FOR UPDATE OF t
), next AS (
    SELECT held.*,
        CASE WHEN exit_status = 0 THEN 'succeeded' ELSE 'failed' END AS outcome,
        CASE WHEN exit_status = 0 THEN 'succeeded'
             WHEN attempt < max_attempts THEN 'queued'
             ELSE 'failed' END AS state
    FROM held
), ended AS (
    UPDATE attempts a SET outcome = next.outcome, ended_at = now(),
        exit_status = next.exit_status
    FROM next WHERE a.task_id = next.id AND a.number = next.attempt
), moved AS (
    UPDATE tasks t SET state = next.state, exit_status = next.exit_status,
        output_tail = next.output_tail, result = next.result,
        ended_at = CASE WHEN next.state = 'queued' THEN NULL ELSE now() END,
        message = CASE WHEN next.state = 'failed'
            THEN format('gave up after %%s attempts: the last exited %%s', next.attempt,
                        next.exit_status) END,
        lease_owner = NULL, lease_expires = NULL, heartbeat_at = NULL
    FROM next WHERE t.id = next.id
    RETURNING t.id, t.uuid::text AS uuid, next.state
)
SELECT id, uuid, state,
       EXISTS (SELECT 1 FROM tasks w WHERE w.watch_task = moved.id AND w.state = 'queued')
           AS watched
FROM moved
"""

# A report of an attempt that already ended so, by the same worker: the first report was taken
# and its answer lost (the coordinator killed); the task's state now answers the repeat.
REPLAYED = """
SELECT t.state FROM attempts a JOIN tasks t ON t.id = a.task_id
WHERE t.uuid = %(uuid)s::uuid AND a.number = %(attempt)s AND a.worker_id = %(worker)s::uuid
  AND a.exit_status = %(exit_status)s AND a.outcome IN ('succeeded', 'failed')
"""

# Tasks whose watched upstream ended without reaching the state they wait for can never go:
# cancelled, saying why, instead of waiting forever.
CANCEL_UNREACHABLE = f"""
UPDATE tasks t SET state = 'cancelled', ended_at = now(),
    message = format('upstream %%s ended %%s; it was watched for %%s', u.uuid, u.state,
                     t.watch_state)
FROM tasks u
WHERE t.watch_task = u.id AND u.id = ANY(%(ended)s) AND t.state = 'queued'
  AND u.state IN ('succeeded', 'failed', 'cancelled') AND NOT ({_REACHED})
RETURNING t.id
"""  # noqa: S608 (constant text, spliced at import)

WATCHED = "SELECT 1 FROM tasks WHERE watch_task = ANY(%(ids)s) AND state = 'queued' LIMIT 1"

GET = f"SELECT {TASK_COLUMNS} FROM tasks t WHERE uuid = %(uuid)s::uuid"  # noqa: S608

STATE_OF = """
SELECT state, started_at IS NOT NULL AS started, attempts FROM tasks WHERE uuid = %(uuid)s::uuid
"""

ATTEMPTS = """
SELECT a.number, a.worker_id::text AS worker_id, a.started_at, a.ended_at, a.outcome,
       a.exit_status
FROM attempts a JOIN tasks t ON t.id = a.task_id
WHERE t.uuid = %(uuid)s::uuid ORDER BY a.number
"""

# The columns a user may change before the task starts (decisions.can_edit); the SET list is
# made of these fixed names only.
EDITABLE = ("priority", "tags", "labels", "command", "env", "timeout", "max_attempts",
            "local_path")  # fmt: skip
EDIT = """
UPDATE tasks SET {assignments}
WHERE uuid = %(uuid)s::uuid AND state = 'queued' AND started_at IS NULL
RETURNING id
"""

CANCEL = """
UPDATE tasks t SET state = 'cancelled', ended_at = now(), message = %(message)s
WHERE {where} AND t.state = 'queued'
RETURNING t.id, t.uuid::text
"""

# A worker given an id keeps it (the id of its token's principal, so the two are one worker);
# registering again under that id updates its group and tags and makes it active again.
REGISTER = """
INSERT INTO workers (id, group_id, tags)
VALUES (coalesce(%(id)s::uuid, gen_random_uuid()), %(group)s, %(tags)s)
ON CONFLICT (id) DO UPDATE SET group_id = EXCLUDED.group_id, tags = EXCLUDED.tags,
    state = 'active', last_heartbeat = now()
RETURNING id::text
"""

LEAVE = "UPDATE workers SET state = 'gone' WHERE id = %(worker)s::uuid RETURNING id"

WORKER_EXISTS = "SELECT state FROM workers WHERE id = %(worker)s::uuid"

ADD_ARTIFACT = """
INSERT INTO artifacts (task_id, name, size, path)
SELECT id, %(name)s, %(size)s, %(path)s FROM tasks WHERE uuid = %(uuid)s::uuid
ON CONFLICT (task_id, name) DO UPDATE SET size = EXCLUDED.size, path = EXCLUDED.path,
    created_at = now()
RETURNING id
"""

ARTIFACTS = """
SELECT a.name, a.size, a.path, a.created_at FROM artifacts a JOIN tasks t ON t.id = a.task_id
WHERE t.uuid = %(uuid)s::uuid ORDER BY a.name
"""

# For /metrics: tasks and workers by state (the queue's depth is the queued count).
TASK_STATES_COUNT = "SELECT state, count(*) AS n FROM tasks GROUP BY state"
WORKER_STATES_COUNT = "SELECT state, count(*) AS n FROM workers GROUP BY state"
