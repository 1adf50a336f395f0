"""phase show details

Revision ID: e2e8523219f6
Revises: 56acd100cf93
Created: 2026-11-26 16:16:47.892865
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e2e8523219f6"
down_revision: str | None = "56acd100cf93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply the change."""
    with op.batch_alter_table("phase", schema=None) as batch_op:
        # Existing phases keep showing details, as they did before the column existed.
        batch_op.add_column(
            sa.Column("show_details", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    """Revert the change."""
    with op.batch_alter_table("phase", schema=None) as batch_op:
        batch_op.drop_column("show_details")
