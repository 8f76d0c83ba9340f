"""Task suites (issue 14 §1): the ``suites`` table, ``tasks.suite_id``, and the trigger that
keeps a suite's counters in the same transaction as every change of its tasks.

Why a trigger, where Mitosis [B] wrote "no DB triggers": a task's state changes in eight
statements of :mod:`shipyard.coordinator.queries` (submit, fetch, report, recover, cancel…),
and a counter kept by hand in each would drift the first time one is added or changed. One
statement-level trigger with transition tables sees them all, updates each suite once per
statement (not once per task), and runs inside the statement's own transaction. On insert it
also reopens a closed suite and refuses a complete or cancelled one: the UPDATE's WHERE is
re-checked after it waits for the suite's row lock, so a cancel committed meanwhile wins.

Revision ID: 0004_suites
Revises: 0003_task_keys
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision: str = "0004_suites"
down_revision: str | None = "0003_task_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)
_NOW = sa.func.now()
_COUNTERS = ("total", "pending", "running", "done", "failed", "cancelled")

# The counters' change per suite, after a CTE ``changed`` (suite_id, state, d): -1 for each
# row as it was, +1 for each row as it is.
_APPLY = """
    , per AS (
        SELECT suite_id, sum(d) AS total,
            coalesce(sum(d) FILTER (WHERE state = 'queued'), 0) AS pending,
            coalesce(sum(d) FILTER (WHERE state = 'running'), 0) AS running,
            coalesce(sum(d) FILTER (WHERE state = 'succeeded'), 0) AS done,
            coalesce(sum(d) FILTER (WHERE state = 'failed'), 0) AS failed,
            coalesce(sum(d) FILTER (WHERE state = 'cancelled'), 0) AS cancelled
        FROM changed WHERE suite_id IS NOT NULL GROUP BY suite_id
    )
    UPDATE suites s SET total = s.total + per.total, pending = s.pending + per.pending,
        running = s.running + per.running, done = s.done + per.done,
        failed = s.failed + per.failed, cancelled = s.cancelled + per.cancelled,
        updated_at = now()
    FROM per WHERE s.id = per.suite_id
"""

FUNCTION = f"""
CREATE FUNCTION shipyard_suite_counters() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted bigint;
    taken bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT count(DISTINCT suite_id) INTO wanted FROM new_rows WHERE suite_id IS NOT NULL;
        IF wanted = 0 THEN
            RETURN NULL;
        END IF;
        -- The submit transition (suitestate.after('submit')): closed reopens, open stays,
        -- complete and cancelled refuse.
        UPDATE suites SET state = 'open', closed_at = NULL, last_task_at = now()
        WHERE id IN (SELECT suite_id FROM new_rows) AND state IN ('open', 'closed');
        GET DIAGNOSTICS taken = ROW_COUNT;
        IF taken < wanted THEN
            -- Named, so the queue answers 409 for it (tasks._translated), not 400.
            RAISE EXCEPTION 'a task was submitted to a suite that is complete or cancelled'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'suite_takes_tasks';
        END IF;
        WITH changed AS (SELECT suite_id, state, 1 AS d FROM new_rows) {_APPLY};
    ELSIF TG_OP = 'UPDATE' THEN
        WITH changed AS (
            SELECT o.suite_id, o.state, -1 AS d FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE o.suite_id IS NOT NULL
              AND (o.state IS DISTINCT FROM n.state OR o.suite_id IS DISTINCT FROM n.suite_id)
            UNION ALL
            SELECT n.suite_id, n.state, 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.suite_id IS NOT NULL
              AND (o.state IS DISTINCT FROM n.state OR o.suite_id IS DISTINCT FROM n.suite_id)
        ) {_APPLY};
    ELSE
        WITH changed AS (SELECT suite_id, state, -1 AS d FROM old_rows) {_APPLY};
    END IF;
    RETURN NULL;
END $$
"""  # noqa: S608 (constant text, spliced at import)

TRIGGERS = (
    "CREATE TRIGGER suite_counters_insert AFTER INSERT ON tasks "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION shipyard_suite_counters()",
    "CREATE TRIGGER suite_counters_update AFTER UPDATE ON tasks "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION shipyard_suite_counters()",
    "CREATE TRIGGER suite_counters_delete AFTER DELETE ON tasks "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION shipyard_suite_counters()",
)


def upgrade() -> None:
    _suites()
    op.add_column(
        "tasks",
        sa.Column("suite_id", sa.BigInteger, sa.ForeignKey(
            "suites.id", ondelete="SET NULL", name="fk_tasks_suite_id_suites"), nullable=True),
    )  # fmt: skip
    op.create_index(
        "ix_tasks_suite", "tasks", ["suite_id", "state"],
        postgresql_where=sa.text("suite_id IS NOT NULL"),
    )  # fmt: skip
    op.execute(FUNCTION)
    for trigger in TRIGGERS:
        op.execute(trigger)


def _suites() -> None:
    states = "state IN ('open', 'closed', 'complete', 'cancelled')"
    op.create_table(
        "suites",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("uuid", UUID(as_uuid=False), nullable=False, unique=True,
                  server_default=sa.text("gen_random_uuid()")),
        sa.Column("name", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("group_id", sa.BigInteger, nullable=False),
        sa.Column("creator_id", sa.BigInteger, nullable=False),
        sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("labels", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("worker_schedule", JSONB, nullable=False,
                  server_default=sa.text("'{}'::jsonb")),
        sa.Column("env_preparation", JSONB),
        sa.Column("env_cleanup", JSONB),
        sa.Column("state", sa.Text, nullable=False, server_default="open"),
        sa.Column("reason", sa.Text),
        *(sa.Column(name, sa.BigInteger, nullable=False, server_default="0")
          for name in _COUNTERS),
        sa.Column("created_at", _TZ, nullable=False, server_default=_NOW),
        sa.Column("updated_at", _TZ, nullable=False, server_default=_NOW),
        sa.Column("last_task_at", _TZ),
        sa.Column("closed_at", _TZ),
        sa.Column("completed_at", _TZ),
        sa.CheckConstraint(states, name="state"),
    )  # fmt: skip
    op.create_index("ix_suites_group_state", "suites", ["group_id", "state"])
    op.create_index(
        "ix_suites_live", "suites", ["state"],
        postgresql_where=sa.text("state IN ('open', 'closed')"),
    )  # fmt: skip


def downgrade() -> None:
    for name in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER suite_counters_{name} ON tasks")
    op.execute("DROP FUNCTION shipyard_suite_counters()")
    op.drop_index("ix_tasks_suite", table_name="tasks")
    op.drop_column("tasks", "suite_id")
    op.drop_table("suites")
