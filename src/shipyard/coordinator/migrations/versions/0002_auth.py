"""Users, groups, memberships with a role, worker and manager principals, the signing key
(issue 13 §2; :mod:`shipyard.coordinator.authschema`).

Written out column by column, like ``0001_tasks``, so this revision keeps creating what it
created when the tables change later.

Revision ID: 0002_auth
Revises: 0001_tasks
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_auth"
down_revision: str | None = "0001_tasks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)
_NOW = sa.func.now()


def upgrade() -> None:
    _users()
    _groups()
    _memberships()
    _principals()
    _signing_keys()


def _users() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("signature", sa.BigInteger, nullable=False),
        sa.Column("created_at", _TZ, nullable=False, server_default=_NOW),
        sa.Column("updated_at", _TZ, nullable=False, server_default=_NOW),
    )


def _groups() -> None:
    op.create_table(
        "groups",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("creator_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("created_at", _TZ, nullable=False, server_default=_NOW),
    )


def _memberships() -> None:
    op.create_table(
        "memberships",
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("group_id", sa.BigInteger, sa.ForeignKey("groups.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("role", sa.SmallInteger, nullable=False),
        sa.Column("created_at", _TZ, nullable=False, server_default=_NOW),
        sa.PrimaryKeyConstraint("user_id", "group_id"),
        sa.CheckConstraint("role BETWEEN 0 AND 2", name="role"),
    )  # fmt: skip


def _principals() -> None:
    op.create_table(
        "principals",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("group_id", sa.BigInteger, sa.ForeignKey("groups.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("creator_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("signature", sa.BigInteger, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("created_at", _TZ, nullable=False, server_default=_NOW),
        sa.CheckConstraint("kind IN ('worker', 'manager')", name="kind"),
    )  # fmt: skip


def _signing_keys() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("private_pem", sa.Text, nullable=False),
        sa.Column("public_pem", sa.Text, nullable=False),
        sa.Column("created_at", _TZ, nullable=False, server_default=_NOW),
        sa.CheckConstraint("id = 1", name="one_key"),
    )


def downgrade() -> None:
    for table in ("signing_keys", "principals", "memberships", "groups", "users"):
        op.drop_table(table)
