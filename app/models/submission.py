"""Submissions and their scores."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, StrEnumType, UtcDateTime, utcnow
from app.models.challenge import Phase
from app.models.enums import COUNTED_STATUSES, ExternalData, SubmissionStatus
from app.models.team import Team
from app.models.user import User


class Submission(Base):
    """One uploaded archive of a team for a phase, and what scoring made of it."""

    __tablename__ = "submission"
    __table_args__ = (
        Index("ix_submission_team_phase_created", "team_id", "phase_id", "created_at"),
        Index("ix_submission_status_updated", "status", "updated_at"),
        Index("ix_submission_phase_miou", "phase_id", "miou"),
        Index("uq_submission_idempotency", "team_id", "idempotency_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phase.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    status: Mapped[SubmissionStatus] = mapped_column(
        StrEnumType(SubmissionStatus, 16), default=SubmissionStatus.QUEUED
    )
    method_name: Mapped[str] = mapped_column(String(120), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(500), default="")
    external_data: Mapped[ExternalData] = mapped_column(
        StrEnumType(ExternalData, 16), default=ExternalData.NONE
    )
    """The team's declaration: 'none' (training data + ImageNet weights only) or 'other'."""
    archive_key: Mapped[str] = mapped_column(String(255))
    archive_name: Mapped[str] = mapped_column(String(255), default="")
    archive_bytes: Mapped[int] = mapped_column(Integer, default=0)
    archive_sha256: Mapped[str] = mapped_column(String(64), default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(128), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_task_id: Mapped[str | None] = mapped_column(String(64), default=None)
    """The broker message that runs the current attempt; tells a redelivery from a duplicate."""
    error: Mapped[str] = mapped_column(Text, default="")
    selected: Mapped[bool] = mapped_column(Boolean, default=False)
    quota_exempt: Mapped[bool] = mapped_column(Boolean, default=False)
    """Set when organizers rescore a failed submission: it had given its quota back."""
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    """Taken off the leaderboard by an organizer (reversible); the team still sees it."""
    disqualified: Mapped[bool] = mapped_column(Boolean, default=False)
    moderation_reason: Mapped[str] = mapped_column(Text, default="")
    miou: Mapped[float | None] = mapped_column(Float, default=None)
    iou_tumor: Mapped[float | None] = mapped_column(Float, default=None)
    iou_stroma: Mapped[float | None] = mapped_column(Float, default=None)
    iou_normal: Mapped[float | None] = mapped_column(Float, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """The full score report: Dice, fwIoU, confusion matrix and per-image scores."""
    scoring_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)

    phase: Mapped[Phase] = relationship(lazy="joined")
    team: Mapped[Team] = relationship(lazy="joined")
    user: Mapped[User | None] = relationship(lazy="joined")

    @property
    def counts_toward_limit(self) -> bool:
        """Return whether the submission uses up quota (failed and cancelled ones do not)."""
        return self.status in COUNTED_STATUSES
