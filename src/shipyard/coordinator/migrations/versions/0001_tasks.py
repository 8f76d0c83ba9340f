"""The task queue: tasks, attempts, workers, artifacts (issue 13 §3).

Written out column by column rather than created from :mod:`shipyard.coordinator.tables`, so this
revision keeps creating what it created when the tables change later (a later revision alters
them). ``tests/integration/test_coordinator_migrations.py`` checks the two agree at head.

Revision ID: 0001_tasks
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision: str = "0001_tasks"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)
_NOW = sa.text("now()")
_EMPTY = sa.text("'{}'::jsonb")


def upgrade() -> None:
    # gen_random_uuid() is built in from PostgreSQL 13 on.
    _tasks()
    _attempts()
    _workers()
    _artifacts()


def _tasks() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "uuid", UUID(as_uuid=False), nullable=False, server_default=sa.text("gen_random_uuid()")
        ),
        sa.Column("group_id", sa.BigInteger, nullable=False),
        sa.Column("creator_id", sa.BigInteger, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="queued"),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("labels", JSONB, nullable=False, server_default=_EMPTY),
        sa.Column("command", ARRAY(sa.Text), nullable=False),
        sa.Column("env", JSONB, nullable=False, server_default=_EMPTY),
        sa.Column("local_path", sa.Text),
        sa.Column("timeout", sa.Double),
        sa.Column("max_attempts", sa.Integer, nullable=False, server_default="3"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("watch_task", sa.BigInteger, sa.ForeignKey("tasks.id", ondelete="SET NULL")),
        sa.Column("watch_state", sa.Text),
        sa.Column("lease_owner", UUID(as_uuid=False)),
        sa.Column("lease_expires", _TZ),
        sa.Column("heartbeat_at", _TZ),
        sa.Column("created_at", _TZ, nullable=False, server_default=_NOW),
        sa.Column("started_at", _TZ),
        sa.Column("ended_at", _TZ),
        sa.Column("exit_status", sa.Integer),
        sa.Column("output_tail", sa.Text),
        sa.Column("result", JSONB),
        sa.Column("message", sa.Text),
        sa.UniqueConstraint("uuid"),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name="state"
        ),
        sa.CheckConstraint("max_attempts >= 1", name="max_attempts"),
        sa.CheckConstraint("timeout IS NULL OR timeout > 0", name="timeout"),
        sa.CheckConstraint(
            "watch_state IS NULL OR watch_state IN ('started', 'succeeded', 'failed', 'ended')",
            name="watch_state",
        ),
    )
    op.create_index(
        "ix_tasks_claim",
        "tasks",
        ["group_id", sa.text("priority DESC"), "id"],
        postgresql_where=sa.text("state = 'queued'"),
    )
    op.create_index(
        "ix_tasks_lease", "tasks", ["lease_expires"], postgresql_where=sa.text("state = 'running'")
    )
    op.create_index("ix_tasks_group_state", "tasks", ["group_id", "state"])
    op.create_index("ix_tasks_creator", "tasks", ["creator_id"])
    op.create_index(
        "ix_tasks_watch",
        "tasks",
        ["watch_task"],
        postgresql_where=sa.text("watch_task IS NOT NULL"),
    )
    op.create_index("ix_tasks_tags", "tasks", ["tags"], postgresql_using="gin")
    op.create_index("ix_tasks_labels", "tasks", ["labels"], postgresql_using="gin")
    # A queue table churns: room on each page for HOT updates and an eager autovacuum keep the
    # claim index from filling with dead rows (the queue digest's §4.6, PgQueuer's settings).
    op.execute(
        "ALTER TABLE tasks SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01, "
        "autovacuum_vacuum_cost_limit = 10000, autovacuum_vacuum_cost_delay = 0)"
    )


def _attempts() -> None:
    op.create_table(
        "attempts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "task_id", sa.BigInteger, sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("worker_id", UUID(as_uuid=False), nullable=False),
        sa.Column("started_at", _TZ, nullable=False, server_default=_NOW),
        sa.Column("ended_at", _TZ),
        sa.Column("outcome", sa.Text, nullable=False, server_default="running"),
        sa.Column("exit_status", sa.Integer),
        sa.UniqueConstraint("task_id", "number", name="uq_attempts_task_number"),
        sa.CheckConstraint(
            "outcome IN ('running', 'succeeded', 'failed', 'lost', 'cancelled')", name="outcome"
        ),
    )


def _workers() -> None:
    op.create_table(
        "workers",
        sa.Column(
            "id", UUID(as_uuid=False), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        sa.Column("group_id", sa.BigInteger, nullable=False),
        sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("state", sa.Text, nullable=False, server_default="active"),
        sa.Column("created_at", _TZ, nullable=False, server_default=_NOW),
        sa.Column("last_heartbeat", _TZ, nullable=False, server_default=_NOW),
        sa.CheckConstraint("state IN ('active', 'draining', 'gone')", name="state"),
    )
    op.create_index("ix_workers_group", "workers", ["group_id"])


def _artifacts() -> None:
    op.create_table(
        "artifacts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "task_id", sa.BigInteger, sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("created_at", _TZ, nullable=False, server_default=_NOW),
        sa.UniqueConstraint("task_id", "name", name="uq_artifacts_task_name"),
        sa.CheckConstraint("size >= 0", name="size"),
    )


def downgrade() -> None:
    for table in ("artifacts", "attempts", "workers", "tasks"):
        op.drop_table(table)
