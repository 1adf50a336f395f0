"""What organizers do to submissions and teams; every action is written to the audit log.

Rescoring keeps the row (so it never counts against a limit), cancelling applies to queued
submissions only, and hiding or disqualifying takes a submission off the leaderboard with a
reason that can be undone.
"""

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import after_commit, utcnow
from app.errors import Conflict, InvalidInput, PermissionDenied
from app.models import (
    AuditEntry,
    Challenge,
    LeaderboardVisibility,
    ModerationAction,
    Phase,
    Submission,
    SubmissionStatus,
    Team,
    User,
)
from app.services import challenges as challenges_service
from app.services import leaderboard as leaderboard_service
from app.services import runs as runs_service
from app.services import scoring_runs as scoring_runs_service
from app.services import teams as teams_service
from app.services.choices import parse_choice

RESCORABLE = (SubmissionStatus.SCORED, SubmissionStatus.FAILED)


def require_organizer(*, session: Session, challenge: Challenge, user: User | None) -> User:
    """Return the user when they organize the challenge (or are a site admin); 403 otherwise."""
    if user is None or not challenges_service.is_organizer(
        session=session, challenge=challenge, user=user
    ):
        raise PermissionDenied("only the organizers of this challenge may do this")
    return user


def audit(
    *,
    session: Session,
    challenge: Challenge,
    actor: User | None,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Write one entry to the challenge's audit log."""
    session.add(
        AuditEntry(
            challenge_id=challenge.id,
            user_id=actor.id if actor else None,  # None: the command line
            action=action,
            target=target[:200],
            details=details or {},
        )
    )


def audit_log(*, session: Session, challenge: Challenge, limit: int = 500) -> list[AuditEntry]:
    """Return the newest entries of the challenge's audit log."""
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.challenge_id == challenge.id)
            .order_by(AuditEntry.id.desc())
            .limit(limit)
        )
    )


def rescore(
    *,
    session: Session,
    submissions: list[Submission],
    actor: User,
    enqueue: Callable[[int], None],
) -> list[int]:
    """Queue scored or failed submissions again; returns their ids. Limits are untouched."""
    ids = []
    for candidate in submissions:
        submission = runs_service.locked(session=session, model=Submission, row_id=candidate.id)
        if submission is None or submission.status not in RESCORABLE:
            continue
        if submission.status == SubmissionStatus.FAILED:
            submission.quota_exempt = True  # it had given its quota back; rescoring is free
        runs_service.requeue(kind=scoring_runs_service.SCORING_RUN, run=submission, fresh=True)
        submission.miou = None
        submission.iou_tumor = submission.iou_stroma = submission.iou_normal = None
        submission.result = None
        submission.finished_at = None
        ids.append(submission.id)
    if ids:
        phase = submissions[0].phase
        audit(
            session=session,
            challenge=phase.challenge,
            actor=actor,
            action="rescore",
            target=f"{phase.slug}: {len(ids)} submission(s)",
            details={"submission_ids": ids},
        )
        leaderboard_service.invalidate(session=session, phase=phase)
        for submission_id in ids:
            after_commit(session, partial(enqueue, submission_id))
    return ids


def list_submissions(
    *,
    session: Session,
    phase: Phase,
    limit: int,
    team_name: str = "",
    status: str | None = None,
    created_from: datetime | None = None,
    created_before: datetime | None = None,
) -> list[Submission]:
    """Return a phase's submissions, newest first, filtered by team name, status and time."""
    query = select(Submission).where(Submission.phase_id == phase.id)
    if team_name:
        query = query.join(Team, Team.id == Submission.team_id).where(
            Team.name.icontains(team_name, autoescape=True)
        )
    if status:
        query = query.where(
            Submission.status == parse_choice(SubmissionStatus, status, field="status")
        )
    if created_from is not None:
        query = query.where(Submission.created_at >= created_from)
    if created_before is not None:
        query = query.where(Submission.created_at < created_before)
    return list(session.scalars(query.order_by(Submission.id.desc()).limit(limit)))


def rescorable(*, session: Session, phase: Phase) -> list[Submission]:
    """Return the phase's submissions that a 'rescore all' would queue again."""
    return list(
        session.scalars(
            select(Submission)
            .where(Submission.phase_id == phase.id, Submission.status.in_(RESCORABLE))
            .order_by(Submission.id)
        )
    )


def cancel(*, session: Session, submission: Submission, actor: User) -> None:
    """Cancel a queued submission (it then counts against no limit)."""
    # Under the row lock, so a worker's claim cannot interleave.
    locked = runs_service.locked(session=session, model=Submission, row_id=submission.id)
    if locked is None or locked.status != SubmissionStatus.QUEUED:
        raise Conflict(f"only queued submissions can be cancelled; this one is {submission.status}")
    submission.status = SubmissionStatus.CANCELLED
    submission.finished_at = utcnow()
    audit(
        session=session,
        challenge=submission.phase.challenge,
        actor=actor,
        action="cancel",
        target=f"submission {submission.id}",
    )


def set_visibility(
    *,
    session: Session,
    submission: Submission,
    actor: User,
    action: ModerationAction | str,
    reason: str = "",
) -> None:
    """Hide, unhide, disqualify or requalify a submission (a reason is required to remove)."""
    action = parse_choice(ModerationAction, action, field="action")
    removes = action in (ModerationAction.HIDE, ModerationAction.DISQUALIFY)
    if removes and not reason.strip():
        raise InvalidInput({"reason": "give a reason; the team and the audit log will see it"})
    if action in (ModerationAction.HIDE, ModerationAction.UNHIDE):
        submission.hidden = action == ModerationAction.HIDE
    else:
        submission.disqualified = action == ModerationAction.DISQUALIFY
    if removes:
        submission.moderation_reason = reason.strip()
    elif not submission.hidden and not submission.disqualified:
        submission.moderation_reason = ""
    audit(
        session=session,
        challenge=submission.phase.challenge,
        actor=actor,
        action=action,
        target=f"submission {submission.id} ({submission.team.name})",
        details={"reason": reason.strip()} if reason.strip() else {},
    )
    leaderboard_service.invalidate(session=session, phase=submission.phase)


def set_team_status(*, session: Session, team: Team, actor: User, status: str) -> None:
    """Approve or deny a team's registration, with an audit entry."""
    challenge = session.get_one(Challenge, team.challenge_id)
    teams_service.set_team_status(session=session, team=team, status=status)
    audit(
        session=session, challenge=challenge, actor=actor, action=f"team {status}", target=team.name
    )


def publish_leaderboard(*, session: Session, phase: Phase, actor: User) -> None:
    """Make a phase's leaderboard public (for example once the phase has ended)."""
    previous = phase.leaderboard_visibility
    challenges_service.configure_phase(
        session=session, phase=phase, visibility=LeaderboardVisibility.PUBLIC
    )
    audit(
        session=session,
        challenge=phase.challenge,
        actor=actor,
        action="publish leaderboard",
        target=phase.slug,
        details={"was": previous},
    )
