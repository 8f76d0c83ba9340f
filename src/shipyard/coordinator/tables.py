"""The task queue's tables (issue 13 §3): tasks, their attempts, workers, artifacts.

Declared on the coordinator's one :data:`~shipyard.coordinator.schema.metadata`; revision
``0001_tasks`` creates exactly these (a test compares the migrated database with them). The
queries themselves live in :mod:`shipyard.coordinator.queries`, written for PostgreSQL.

States are readable text under a CHECK constraint rather than Mitosis' integers: a row read in
``psql`` says what it is, and a wrong value is refused by the database, not only by the code.
``creator_id`` and ``group_id`` name the auth part's users and groups by id without a foreign
key, so either part can migrate on its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from shipyard.coordinator.decisions import (
    ATTEMPT_OUTCOMES,
    TASK_STATES,
    WATCH_STATES,
    WORKER_STATES,
)
from shipyard.coordinator.managerdecisions import EVENT_KINDS
from shipyard.coordinator.managerprotocol import MANAGER_STATES
from shipyard.coordinator.schema import metadata
from shipyard.coordinator.suitestate import SUITE_STATES


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _now() -> Column[Any]:
    return Column(
        "created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")
    )


tasks = Table(
    "tasks",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column(
        "uuid",
        UUID(as_uuid=False),
        nullable=False,
        unique=True,
        server_default=text("gen_random_uuid()"),
    ),
    Column("group_id", BigInteger, nullable=False),
    Column("creator_id", BigInteger, nullable=False),
    Column("state", Text, nullable=False, server_default="queued"),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("labels", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("command", ARRAY(Text), nullable=False),
    Column("env", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("local_path", Text),
    Column("timeout", Double),
    Column("max_attempts", Integer, nullable=False, server_default="3"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("watch_task", BigInteger, ForeignKey("tasks.id", ondelete="SET NULL")),
    Column("watch_state", Text),
    Column("lease_owner", UUID(as_uuid=False)),
    Column("lease_expires", DateTime(timezone=True)),
    Column("heartbeat_at", DateTime(timezone=True)),
    _now(),
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("exit_status", Integer),
    Column("output_tail", Text),
    Column("result", JSONB),
    Column("message", Text),
    # The client's name for the task (revision 0003_task_keys): a retried submit finds it.
    Column("key", Text),
    # The suite the task belongs to (revision 0004_suites; issue 14): NULL for a lone task.
    Column("suite_id", BigInteger, ForeignKey("suites.id", ondelete="SET NULL")),
    # NULLs are distinct: tasks without a key never clash.
    UniqueConstraint("group_id", "key", name="uq_tasks_group_key"),
    CheckConstraint(_one_of("state", TASK_STATES), name="state"),
    CheckConstraint("max_attempts >= 1", name="max_attempts"),
    CheckConstraint("timeout IS NULL OR timeout > 0", name="timeout"),
    CheckConstraint(
        f"watch_state IS NULL OR {_one_of('watch_state', WATCH_STATES)}", name="watch_state"
    ),
    # The claim's own index: only queued rows, in the claim's order (priority, then age).
    Index(
        "ix_tasks_claim",
        "group_id",
        text("priority DESC"),
        "id",
        postgresql_where=text("state = 'queued'"),
    ),
    # Recovery scans running rows by lease expiry.
    Index("ix_tasks_lease", "lease_expires", postgresql_where=text("state = 'running'")),
    Index("ix_tasks_group_state", "group_id", "state"),
    Index("ix_tasks_creator", "creator_id"),
    Index("ix_tasks_watch", "watch_task", postgresql_where=text("watch_task IS NOT NULL")),
    Index("ix_tasks_tags", "tags", postgresql_using="gin"),
    Index("ix_tasks_labels", "labels", postgresql_using="gin"),
    Index("ix_tasks_suite", "suite_id", "state", postgresql_where=text("suite_id IS NOT NULL")),
    # A node manager's claim within its suite (revision 0006_suite_claim): as ix_tasks_claim.
    Index(
        "ix_tasks_suite_claim",
        "suite_id",
        text("priority DESC"),
        "id",
        postgresql_where=text("state = 'queued'"),
    ),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("task_id", BigInteger, ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("worker_id", UUID(as_uuid=False), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("ended_at", DateTime(timezone=True)),
    Column("outcome", Text, nullable=False, server_default="running"),
    Column("exit_status", Integer),
    UniqueConstraint("task_id", "number", name="uq_attempts_task_number"),
    CheckConstraint(_one_of("outcome", ATTEMPT_OUTCOMES), name="outcome"),
)

workers = Table(
    "workers",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True, server_default=text("gen_random_uuid()")),
    Column("group_id", BigInteger, nullable=False),
    Column("tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("state", Text, nullable=False, server_default="active"),
    _now(),
    Column("last_heartbeat", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint(_one_of("state", WORKER_STATES), name="state"),
    Index("ix_workers_group", "group_id"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("task_id", BigInteger, ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("path", Text, nullable=False),
    _now(),
    UniqueConstraint("task_id", "name", name="uq_artifacts_task_name"),
    CheckConstraint("size >= 0", name="size"),
)

# Task suites (revision 0004_suites; issue 14 §1): the counters are kept by a trigger on tasks
# (see that revision for why), in the same transaction as the task changes.
suites = Table(
    "suites",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column(
        "uuid",
        UUID(as_uuid=False),
        nullable=False,
        unique=True,
        server_default=text("gen_random_uuid()"),
    ),
    Column("name", Text),
    Column("description", Text),
    Column("group_id", BigInteger, nullable=False),
    Column("creator_id", BigInteger, nullable=False),
    Column("tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("labels", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("worker_schedule", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("env_preparation", JSONB),
    Column("env_cleanup", JSONB),
    Column("state", Text, nullable=False, server_default="open"),
    Column("reason", Text),
    *(
        Column(name, BigInteger, nullable=False, server_default="0")
        for name in ("total", "pending", "running", "done", "failed", "cancelled")
    ),
    _now(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("last_task_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    CheckConstraint(_one_of("state", SUITE_STATES), name="state"),
    Index("ix_suites_group_state", "group_id", "state"),
    Index("ix_suites_live", "state", postgresql_where=text("state IN ('open', 'closed')")),
)

# Node managers (revision 0005_managers; issue 14 §2). A manager is also a row of ``workers``
# (the same id): the task queue's fetch, heartbeat, report and recover hold its leases as they
# hold an independent worker's.
managers = Table(
    "managers",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("group_id", BigInteger, nullable=False),
    Column("hostname", Text, nullable=False, server_default=""),
    Column("tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("labels", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("cpus", Integer, nullable=False, server_default="1"),
    Column("state", Text, nullable=False, server_default="idle"),
    Column("suite_id", BigInteger, ForeignKey("suites.id", ondelete="SET NULL")),
    Column("metrics", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("shutdown", Text),
    _now(),
    Column("last_heartbeat", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("connected_at", DateTime(timezone=True)),
    CheckConstraint(_one_of("state", MANAGER_STATES), name="state"),
    CheckConstraint("shutdown IN ('graceful', 'force')", name="shutdown"),
    Index("ix_managers_group", "group_id", "state"),
)

suite_managers = Table(
    "suite_managers",
    metadata,
    Column("suite_id", BigInteger, ForeignKey("suites.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "manager_id",
        UUID(as_uuid=False),
        ForeignKey("managers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("selection", Text, nullable=False),
    _now(),
    CheckConstraint("selection IN ('tag_matched', 'user_specified')", name="selection"),
)

suite_manager_events = Table(
    "suite_manager_events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("suite_id", BigInteger, ForeignKey("suites.id", ondelete="CASCADE"), nullable=False),
    Column(
        "manager_id",
        UUID(as_uuid=False),
        ForeignKey("managers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("kind", Text, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("exit_status", Integer),
    Column("seconds", Double),
    Column("output", Text, nullable=False, server_default=""),
    _now(),
    CheckConstraint(_one_of("kind", EVENT_KINDS), name="kind"),
    Index("ix_suite_manager_events_pair", "suite_id", "manager_id"),
    Index("ix_suite_manager_events_manager", "manager_id", "id"),
)
