"""submission claimed task id

Revision ID: 56acd100cf93
Revises: b0afc8feb67e
Created: 2026-11-26 16:00:25.841394
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "56acd100cf93"
down_revision: str | None = "b0afc8feb67e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply the change."""
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_task_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Revert the change."""
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_column("claimed_task_id")
