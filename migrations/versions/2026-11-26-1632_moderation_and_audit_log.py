"""moderation and audit log

Revision ID: 86fae1a91c11
Revises: e2e8523219f6
Created: 2026-11-26 16:32:55.891337
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "86fae1a91c11"
down_revision: str | None = "e2e8523219f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply the change."""
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("challenge_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["challenge_id"],
            ["challenge.id"],
            name=op.f("fk_audit_entry_challenge_id_challenge"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_audit_entry_user_id_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
    )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_entry_challenge_id"), ["challenge_id"], unique=False
        )

    with op.batch_alter_table("submission", schema=None) as batch_op:
        # Server defaults fill the rows that exist already.
        batch_op.add_column(
            sa.Column("quota_exempt", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("disqualified", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("moderation_reason", sa.Text(), nullable=False, server_default="")
        )


def downgrade() -> None:
    """Revert the change."""
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_column("moderation_reason")
        batch_op.drop_column("disqualified")
        batch_op.drop_column("hidden")
        batch_op.drop_column("quota_exempt")

    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entry_challenge_id"))

    op.drop_table("audit_entry")
