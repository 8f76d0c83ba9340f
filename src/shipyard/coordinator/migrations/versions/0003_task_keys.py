"""A task's key: the client's own name for it, unique in its group, so a batch submitted again
after its answer was lost (the coordinator killed mid-request) queues nothing twice
(docs/coordinator.md, "When things die").

Revision ID: 0003_task_keys
Revises: 0002_auth
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_task_keys"
down_revision: str | None = "0002_auth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("key", sa.Text, nullable=True))
    op.create_unique_constraint("uq_tasks_group_key", "tasks", ["group_id", "key"])


def downgrade() -> None:
    op.drop_constraint("uq_tasks_group_key", "tasks", type_="unique")
    op.drop_column("tasks", "key")
