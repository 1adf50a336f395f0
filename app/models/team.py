"""Teams registered to a challenge, and their members."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, StrEnumType, UtcDateTime, utcnow
from app.models.enums import TeamStatus
from app.models.user import User


class Team(Base):
    """A team's registration to one challenge; limits count per team."""

    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("challenge_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    invite_code: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[TeamStatus] = mapped_column(
        StrEnumType(TeamStatus, 16), default=TeamStatus.PENDING
    )
    is_baseline: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    rules_accepted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    members: Mapped[list["TeamMember"]] = relationship(
        back_populates="team", lazy="selectin", order_by="TeamMember.joined_at"
    )


class TeamMember(Base):
    """A user's membership; a user is in at most one team per challenge."""

    __tablename__ = "team_member"
    __table_args__ = (UniqueConstraint("challenge_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    team: Mapped[Team] = relationship(back_populates="members")
    user: Mapped[User] = relationship(lazy="joined")
