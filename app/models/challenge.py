"""Challenges, their organizers and their phases."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, StrEnumType, UtcDateTime, utcnow
from app.models.enums import Counting, LeaderboardVisibility, RegistrationMode


class Challenge(Base):
    """A challenge such as WSSS4LUAD: its texts, rules and registration mode."""

    __tablename__ = "challenge"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="")
    description_md: Mapped[str] = mapped_column(Text, default="")
    rules_md: Mapped[str] = mapped_column(Text, default="")
    data_md: Mapped[str] = mapped_column(Text, default="")
    registration_mode: Mapped[RegistrationMode] = mapped_column(
        StrEnumType(RegistrationMode, 16), default=RegistrationMode.AUTO
    )
    """'auto' approves teams at once; 'manual' waits for an organizer."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    phases: Mapped[list["Phase"]] = relationship(
        back_populates="challenge", order_by="Phase.starts_at", lazy="selectin"
    )


class ChallengeOrganizer(Base):
    """A user who runs a challenge."""

    __tablename__ = "challenge_organizer"
    __table_args__ = (UniqueConstraint("challenge_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)


class Phase(Base):
    """A stage of a challenge with its own data, dates, limits and leaderboard."""

    __tablename__ = "phase"
    __table_args__ = (UniqueConstraint("challenge_id", "slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    description_md: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    daily_limit: Mapped[int | None] = mapped_column(Integer, default=5)
    total_limit: Mapped[int | None] = mapped_column(Integer, default=None)
    leaderboard_visibility: Mapped[LeaderboardVisibility] = mapped_column(
        StrEnumType(LeaderboardVisibility, 24), default=LeaderboardVisibility.PUBLIC
    )
    """'public', 'after_end' (hidden until the phase ends) or 'organizers'."""
    show_details: Mapped[bool] = mapped_column(Boolean, default=True)
    """Show teams their confusion matrix and per-image scores. Off for a test phase: those
    numbers reveal each hidden image's class fractions."""
    counting: Mapped[Counting] = mapped_column(StrEnumType(Counting, 16), default=Counting.BEST)
    """Which submission of a team ranks: 'best', 'latest' or 'selected'."""
    ground_truth_key: Mapped[str] = mapped_column(String(255), default="")
    data_archive_key: Mapped[str] = mapped_column(String(255), default="")
    data_archive_bytes: Mapped[int] = mapped_column(Integer, default=0)
    image_count: Mapped[int] = mapped_column(Integer, default=0)
    image_sizes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """{file name: [width, height]} of every image, for pre-checks without disk access."""
    pixel_counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    leaderboard_version: Mapped[int] = mapped_column(Integer, default=0)
    """Bumped whenever a score lands or a ranking input changes; caches key on it."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    challenge: Mapped[Challenge] = relationship(back_populates="phases", lazy="joined")
