"""A suite's own claim index (issue 14): a node manager's fetch walks a suite's queued tasks in
the claim's order (priority, then age) and stops after the n it asked for.

Why an index of its own: with only ``ix_tasks_suite`` (suite, state), the fetch read and sorted
every queued task of the suite on each call — an on-disk sort of 100,000 rows, 119–153 ms, where
the target was a 5 ms p95. ``queries.FETCH_SUITE`` is written so that this index is the only
fitting path (see the comment there); with it the claim of 32 takes ~3 ms at 100,000 queued.

Revision ID: 0006_suite_claim
Revises: 0005_managers
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_suite_claim"
down_revision: str | None = "0005_managers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_tasks_suite_claim", "tasks", ["suite_id", sa.text("priority DESC"), "id"],
        postgresql_where=sa.text("state = 'queued'"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_tasks_suite_claim", table_name="tasks")
