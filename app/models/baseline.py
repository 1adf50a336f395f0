"""Organizer-provided baseline checkpoints and their runs on phases."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, StrEnumType, UtcDateTime, utcnow
from app.models.challenge import Challenge, Phase
from app.models.enums import RunStatus
from app.models.submission import Submission
from app.models.user import User


class BaselineModel(Base):
    """A checkpoint of the bundled MLPS model, registered for one challenge."""

    __tablename__ = "baseline_model"
    __table_args__ = (UniqueConstraint("challenge_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    checkpoint_key: Mapped[str] = mapped_column(String(255))
    checkpoint_bytes: Mapped[int] = mapped_column(Integer, default=0)
    checkpoint_sha256: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """What the GPU worker read from the checkpoint (preset, training, versions)."""
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    challenge: Mapped[Challenge] = relationship(lazy="joined")


class BaselineRun(Base):
    """One request to predict a phase with a baseline model; its predictions become a submission."""

    __tablename__ = "baseline_run"
    __table_args__ = (Index("ix_baseline_run_status_updated", "status", "updated_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phase.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("baseline_model.id", ondelete="CASCADE"))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    status: Mapped[RunStatus] = mapped_column(StrEnumType(RunStatus, 16), default=RunStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_task_id: Mapped[str | None] = mapped_column(String(64), default=None)
    error: Mapped[str] = mapped_column(Text, default="")
    device: Mapped[str] = mapped_column(String(120), default="")
    predict_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submission.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    phase: Mapped[Phase] = relationship(lazy="joined")
    model: Mapped[BaselineModel] = relationship(lazy="joined")
    requested_by: Mapped[User | None] = relationship(lazy="joined")
    submission: Mapped[Submission | None] = relationship(lazy="joined")
