"""baseline models and runs

Revision ID: e2fa1c1c4745
Revises: 86fae1a91c11
Created: 2026-11-26 18:01:28.163402
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e2fa1c1c4745"
down_revision: str | None = "86fae1a91c11"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply the change."""
    op.create_table(
        "baseline_model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("challenge_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("checkpoint_key", sa.String(length=255), nullable=False),
        sa.Column("checkpoint_bytes", sa.Integer(), nullable=False),
        sa.Column("checkpoint_sha256", sa.String(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["challenge_id"],
            ["challenge.id"],
            name=op.f("fk_baseline_model_challenge_id_challenge"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
            name=op.f("fk_baseline_model_created_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_baseline_model")),
        sa.UniqueConstraint(
            "challenge_id", "name", name=op.f("uq_baseline_model_challenge_id_name")
        ),
    )
    op.create_table(
        "baseline_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_task_id", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("device", sa.String(length=120), nullable=False),
        sa.Column("predict_seconds", sa.Float(), nullable=True),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["baseline_model.id"],
            name=op.f("fk_baseline_run_model_id_baseline_model"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["phase_id"],
            ["phase.id"],
            name=op.f("fk_baseline_run_phase_id_phase"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["user.id"],
            name=op.f("fk_baseline_run_requested_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
            name=op.f("fk_baseline_run_submission_id_submission"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_baseline_run")),
    )
    with op.batch_alter_table("baseline_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_baseline_run_phase_id"), ["phase_id"], unique=False)
        batch_op.create_index(
            "ix_baseline_run_status_updated", ["status", "updated_at"], unique=False
        )


def downgrade() -> None:
    """Revert the change."""
    with op.batch_alter_table("baseline_run", schema=None) as batch_op:
        batch_op.drop_index("ix_baseline_run_status_updated")
        batch_op.drop_index(batch_op.f("ix_baseline_run_phase_id"))

    op.drop_table("baseline_run")
    op.drop_table("baseline_model")
