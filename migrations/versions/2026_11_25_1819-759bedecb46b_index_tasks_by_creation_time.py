"""index tasks by creation time

Part of the sample (projects and tasks): `make remove-sample` deletes this file.

Revision ID: 759bedecb46b
Revises: 5fd64f24d4e9
Create Date: 2026-11-25 18:19:12.493805+00:00

The pattern for an index on a table that is already in use: CREATE INDEX
CONCURRENTLY does not block writes, and cannot run inside a transaction, so it
runs in an autocommit block. The advisory lock that serialises upgrades is a
session-level lock (migrations/env.py), so it is still held here.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "759bedecb46b"
down_revision: str | Sequence[str] | None = "5fd64f24d4e9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_tasks_created_at",
            "tasks",
            ["created_at"],
            unique=False,
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_tasks_created_at", table_name="tasks", postgresql_concurrently=True)
