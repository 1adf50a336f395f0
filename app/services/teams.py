"""Team registration to a challenge: create a team, or join one with its invite code."""

import secrets

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.models import Challenge, RegistrationMode, Team, TeamMember, TeamStatus, User
from app.services.choices import parse_choice

BASELINE_TEAM_NAME = "Baseline (organizers)"


def get_membership(
    *, session: Session, challenge: Challenge, user: User | None
) -> TeamMember | None:
    """Return the user's membership in this challenge, if any."""
    if user is None:
        return None
    return session.scalar(
        select(TeamMember).where(
            TeamMember.challenge_id == challenge.id, TeamMember.user_id == user.id
        )
    )


def require_team(*, session: Session, challenge: Challenge, user: User) -> Team:
    """Return the user's team in this challenge, or raise PermissionDenied."""
    membership = get_membership(session=session, challenge=challenge, user=user)
    if membership is None:
        raise PermissionDenied("register a team for this challenge first")
    return membership.team


def ensure_team(
    *, session: Session, challenge: Challenge, user: User, name: str, accept_rules: bool
) -> Team:
    """Return the user's team when it has this name, registering it when the user has none."""
    membership = get_membership(session=session, challenge=challenge, user=user)
    if membership is None:
        return register_team(
            session=session, challenge=challenge, user=user, name=name, accept_rules=accept_rules
        )
    if membership.team.name.casefold() != " ".join(name.split()).casefold():
        raise Conflict(f"you are already in team {membership.team.name!r} of this challenge")
    return membership.team


def list_teams(*, session: Session, challenge: Challenge) -> list[Team]:
    """Return the challenge's participating teams, pending ones first, oldest first."""
    return list(
        session.scalars(
            select(Team)
            .where(Team.challenge_id == challenge.id, Team.is_baseline.is_(False))
            .order_by(Team.status.desc(), Team.created_at)
        )
    )


def get_team(*, session: Session, challenge: Challenge, team_id: int) -> Team:
    """Return a team of this challenge by id, or raise NotFound."""
    team = session.get(Team, team_id)
    if team is None or team.challenge_id != challenge.id:
        raise NotFound("no such team")
    return team


def _check_team_name(name: str) -> str:
    clean = " ".join(name.split())
    if not 2 <= len(clean) <= 80:
        raise InvalidInput({"team": "use 2 to 80 characters"})
    if clean.casefold().startswith("baseline"):
        raise InvalidInput({"team": "names starting with 'baseline' are reserved for organizers"})
    return clean


def register_team(
    *, session: Session, challenge: Challenge, user: User, name: str, accept_rules: bool
) -> Team:
    """Register a new team for the user; approved at once when the challenge auto-approves."""
    if not accept_rules:
        raise InvalidInput({"accept_rules": "accept the challenge rules to register"})
    if get_membership(session=session, challenge=challenge, user=user) is not None:
        raise Conflict("you are already in a team for this challenge")
    clean = _check_team_name(name)
    taken = session.scalar(
        select(Team.id).where(
            Team.challenge_id == challenge.id, func.lower(Team.name) == clean.lower()
        )
    )
    if taken is not None:
        raise Conflict(f"the team name {clean!r} is taken in this challenge")
    team = Team(
        challenge_id=challenge.id,
        name=clean,
        invite_code=secrets.token_hex(8),
        status=(
            TeamStatus.APPROVED
            if challenge.registration_mode == RegistrationMode.AUTO
            else TeamStatus.PENDING
        ),
    )
    try:
        with session.begin_nested():
            session.add(team)
            session.flush()
    except IntegrityError:
        raise Conflict(f"the team name {clean!r} is taken in this challenge") from None
    session.add(TeamMember(team_id=team.id, challenge_id=challenge.id, user_id=user.id))
    session.flush()
    return team


def get_team_by_name(*, session: Session, challenge: Challenge, name: str) -> Team:
    """Return a challenge's team by name (letter case aside), or raise NotFound."""
    team = session.scalar(
        select(Team).where(
            Team.challenge_id == challenge.id, func.lower(Team.name) == name.strip().lower()
        )
    )
    if team is None:
        raise NotFound(f"challenge {challenge.slug!r} has no team named {name!r}")
    return team


def list_user_teams(*, session: Session, user: User) -> list[Team]:
    """Return every team the user belongs to, in any challenge."""
    return list(
        session.scalars(
            select(Team)
            .join(TeamMember, TeamMember.team_id == Team.id)
            .where(TeamMember.user_id == user.id)
            .order_by(Team.created_at)
        )
    )


def join_team(
    *, session: Session, challenge: Challenge, user: User, invite_code: str, accept_rules: bool
) -> Team:
    """Join an existing team of the challenge by its invite code."""
    if not accept_rules:
        raise InvalidInput({"accept_rules": "accept the challenge rules to register"})
    if get_membership(session=session, challenge=challenge, user=user) is not None:
        raise Conflict("you are already in a team for this challenge")
    team = session.scalar(
        select(Team).where(
            Team.challenge_id == challenge.id, Team.invite_code == invite_code.strip().lower()
        )
    )
    if team is None or team.is_baseline:
        raise NotFound("no team of this challenge has that invite code")
    session.add(TeamMember(team_id=team.id, challenge_id=challenge.id, user_id=user.id))
    session.flush()
    return team


def set_team_status(*, session: Session, team: Team, status: TeamStatus | str) -> None:
    """Approve or deny a team's registration."""
    team.status = parse_choice(TeamStatus, status, field="status")
    session.flush()


def ensure_baseline_team(*, session: Session, challenge: Challenge) -> Team:
    """Return the challenge's reserved baseline team, creating it when missing."""
    team = session.scalar(
        select(Team).where(Team.challenge_id == challenge.id, Team.is_baseline.is_(True))
    )
    if team is None:
        team = Team(
            challenge_id=challenge.id,
            name=BASELINE_TEAM_NAME,
            invite_code=secrets.token_hex(8),
            status=TeamStatus.APPROVED,
            is_baseline=True,
        )
        session.add(team)
        session.flush()
    return team
