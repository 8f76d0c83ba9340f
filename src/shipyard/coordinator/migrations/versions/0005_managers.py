"""Node managers (issue 14 §2): the ``managers`` table, a suite's assigned managers
(``suite_managers``), what happened to a suite on a manager (``suite_manager_events``: hooks
run, suites given up, tasks released), and the trigger that tells the managers a suite has
queued tasks again.

Why a trigger for ``suite_available``: a suite gets queued tasks through a submit, a reopen,
a failed attempt queued again, a released or recovered task — five statements in three
modules. Its ``pending`` counter (kept by revision ``0004_suites``' trigger) going from 0 to
more is the one fact they share, so a row trigger on that change NOTIFYs channel
``shipyard_managers`` with ``{"recheck": suite uuid}``; each coordinator process then asks
which of *its* connected idle managers may serve the suite and pushes to them. NOTIFY is
delivered at commit, so a rolled-back submit tells nobody.

Revision ID: 0005_managers
Revises: 0004_suites
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision: str = "0005_managers"
down_revision: str | None = "0004_suites"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)
_NOW = sa.func.now()

#: managerprotocol.MANAGER_STATES, as the revision was written (a revision never imports code
#: that may change after it).
STATES = ("idle", "preparing", "executing", "cleanup", "offline", "gone")
EVENTS = ("env_preparation", "env_cleanup", "gave_up", "released")

FUNCTION = """
CREATE FUNCTION shipyard_suite_available() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('shipyard_managers', json_build_object('recheck', NEW.uuid)::text);
    RETURN NULL;
END $$
"""

TRIGGER = (
    "CREATE TRIGGER suite_available AFTER UPDATE OF pending ON suites FOR EACH ROW "
    "WHEN (OLD.pending = 0 AND NEW.pending > 0 AND NEW.state IN ('open', 'closed')) "
    "EXECUTE FUNCTION shipyard_suite_available()"
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    op.create_table(
        "managers",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("group_id", sa.BigInteger, nullable=False),
        sa.Column("hostname", sa.Text, nullable=False, server_default=""),
        sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("labels", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("cpus", sa.Integer, nullable=False, server_default="1"),
        sa.Column("state", sa.Text, nullable=False, server_default="idle"),
        sa.Column("suite_id", sa.BigInteger, sa.ForeignKey(
            "suites.id", ondelete="SET NULL", name="fk_managers_suite_id_suites")),
        sa.Column("metrics", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("shutdown", sa.Text),
        sa.Column("created_at", _TZ, nullable=False, server_default=_NOW),
        sa.Column("last_heartbeat", _TZ, nullable=False, server_default=_NOW),
        sa.Column("connected_at", _TZ),
        sa.CheckConstraint(_one_of("state", STATES), name="state"),
        sa.CheckConstraint("shutdown IN ('graceful', 'force')", name="shutdown"),
    )  # fmt: skip
    op.create_index("ix_managers_group", "managers", ["group_id", "state"])
    op.create_table(
        "suite_managers",
        sa.Column("suite_id", sa.BigInteger, sa.ForeignKey(
            "suites.id", ondelete="CASCADE", name="fk_suite_managers_suite_id_suites"),
            primary_key=True),
        sa.Column("manager_id", UUID(as_uuid=False), sa.ForeignKey(
            "managers.id", ondelete="CASCADE", name="fk_suite_managers_manager_id_managers"),
            primary_key=True),
        sa.Column("selection", sa.Text, nullable=False),
        sa.Column("created_at", _TZ, nullable=False, server_default=_NOW),
        sa.CheckConstraint("selection IN ('tag_matched', 'user_specified')",
                           name="selection"),
    )  # fmt: skip
    op.create_table(
        "suite_manager_events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("suite_id", sa.BigInteger, sa.ForeignKey(
            "suites.id", ondelete="CASCADE", name="fk_suite_manager_events_suite_id_suites"),
            nullable=False),
        sa.Column("manager_id", UUID(as_uuid=False), sa.ForeignKey(
            "managers.id", ondelete="CASCADE",
            name="fk_suite_manager_events_manager_id_managers"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("exit_status", sa.Integer),
        sa.Column("seconds", sa.Double),
        sa.Column("output", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", _TZ, nullable=False, server_default=_NOW),
        sa.CheckConstraint(_one_of("kind", EVENTS), name="kind"),
    )  # fmt: skip
    op.create_index(
        "ix_suite_manager_events_pair", "suite_manager_events", ["suite_id", "manager_id"]
    )
    op.create_index("ix_suite_manager_events_manager", "suite_manager_events", ["manager_id", "id"])
    op.execute(FUNCTION)
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER suite_available ON suites")
    op.execute("DROP FUNCTION shipyard_suite_available()")
    op.drop_table("suite_manager_events")
    op.drop_table("suite_managers")
    op.drop_table("managers")
