"""Participation figures for organizers: registrations by country, submissions per day."""

from collections import Counter
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Challenge, Phase, Submission, Team, TeamMember, User


def registrations_by_country(*, session: Session, challenge: Challenge) -> list[tuple[str, int]]:
    """Return (country code, participants) for the challenge's registered users, largest first."""
    countries = session.scalars(
        select(User.country)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.challenge_id == challenge.id)
    )
    counts = Counter(country or "??" for country in countries)
    return counts.most_common()


def submissions_per_day(*, session: Session, phase: Phase) -> list[tuple[date, int]]:
    """Return (UTC day, submissions) for a phase, oldest day first."""
    created = session.scalars(
        select(Submission.created_at)
        .join(Team, Team.id == Submission.team_id)
        .where(Submission.phase_id == phase.id, Team.is_baseline.is_(False))
    )
    counts = Counter(moment.date() for moment in created)
    return sorted(counts.items())
