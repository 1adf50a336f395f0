"""Creating submissions under the phase's limits, reading them, and choosing which counts.

Limits are checked and the row inserted in one transaction that holds a lock on the team
row (SELECT ... FOR UPDATE on PostgreSQL; SQLite transactions begin IMMEDIATE), so
concurrent uploads can never overshoot a limit. Failed and cancelled submissions do not
count. The daily limit resets at 00:00 UTC.
"""

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import after_commit, on_rollback, utcnow
from app.errors import Conflict, InvalidInput, LimitReached, NotFound, PermissionDenied
from app.models import (
    COUNTED_STATUSES,
    Counting,
    ExternalData,
    Phase,
    PhaseState,
    Submission,
    SubmissionStatus,
    Team,
    TeamMember,
    TeamStatus,
    User,
)
from app.scoring import Problem, check_submission
from app.services import challenges as challenges_service
from app.services import leaderboard as leaderboard_service
from app.services.choices import choice_error
from app.services.storage import Storage


@dataclass(frozen=True)
class Remaining:
    """What a team may still submit to a phase."""

    today: int | None
    total: int | None
    used_today: int
    used_total: int
    resets_at: datetime

    @property
    def exhausted(self) -> bool:
        """Return True when no submission is possible now."""
        return (self.today is not None and self.today <= 0) or (
            self.total is not None and self.total <= 0
        )


def day_start(now: datetime) -> datetime:
    """Return 00:00 UTC of the day containing `now`."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def remaining(
    *, session: Session, phase: Phase, team: Team, now: datetime | None = None
) -> Remaining:
    """Count the team's submissions that use up quota, today and in total."""
    now = now or utcnow()
    counted = select(func.count(Submission.id)).where(
        Submission.phase_id == phase.id,
        Submission.team_id == team.id,
        Submission.status.in_(COUNTED_STATUSES),
        Submission.quota_exempt.is_(False),
    )
    used_total = session.scalar(counted) or 0
    used_today = session.scalar(counted.where(Submission.created_at >= day_start(now))) or 0
    return Remaining(
        today=None if phase.daily_limit is None else max(0, phase.daily_limit - used_today),
        total=None if phase.total_limit is None else max(0, phase.total_limit - used_total),
        used_today=used_today,
        used_total=used_total,
        resets_at=day_start(now) + timedelta(days=1),
    )


def precheck_for_team(
    *, session: Session, phase: Phase, user: User, archive: Path, archive_name: str | None = None
) -> list[Problem]:
    """Pre-check an archive for a participant whose team may submit to the phase now."""
    team = _submitting_team(session=session, phase=phase, user=user)
    state = challenges_service.phase_state(phase)
    if state != PhaseState.OPEN and not team.is_baseline:
        raise PermissionDenied(f"the phase is {state}; submissions are not accepted now")
    return precheck_archive(phase=phase, archive=archive, archive_name=archive_name)


def precheck_archive(
    *, phase: Phase, archive: Path, archive_name: str | None = None
) -> list[Problem]:
    """Run the structural checks on an archive (names, sizes, safety) without storing it;
    problems name the file as `archive_name` (what the user called it)."""
    sizes = {name: (int(w), int(h)) for name, (w, h) in phase.image_sizes.items()}
    return check_submission(archive, sizes, name=archive_name)


def create_submission(
    *,
    session: Session,
    storage: Storage,
    phase: Phase,
    user: User | None,
    upload: Path,
    archive_name: str,
    sha256: str,
    method_name: str = "",
    description: str = "",
    url: str = "",
    external_data: ExternalData | str = ExternalData.NONE,
    idempotency_key: str | None = None,
    enqueue: Callable[[int], None],
    team: Team | None = None,
) -> Submission:
    """Store an uploaded archive as a queued submission and schedule its scoring.

    The upload is moved into storage only once every check passed; the task is sent
    after the transaction commits. Raises InvalidInput (with every structural problem),
    PermissionDenied, LimitReached or Conflict. With a known idempotency key, returns the
    submission created by the first request instead of a new one.
    """
    if team is None:
        if user is None:
            raise PermissionDenied("a submission needs a submitting user or team")
        team = _submitting_team(session=session, phase=phase, user=user)
    if idempotency_key:
        existing = session.scalar(
            select(Submission).where(
                Submission.team_id == team.id, Submission.idempotency_key == idempotency_key
            )
        )
        if existing is not None:
            upload.unlink(missing_ok=True)
            return existing
    fields = _clean_fields(method_name, description, url, external_data)
    state = challenges_service.phase_state(phase)
    if state != PhaseState.OPEN and not team.is_baseline:
        raise PermissionDenied(f"the phase is {state}; submissions are not accepted now")
    problems = precheck_archive(phase=phase, archive=upload, archive_name=archive_name)
    if problems:
        raise InvalidInput({"file": "\n".join(str(problem) for problem in problems)})

    _lock_team(session=session, team=team)
    if not team.is_baseline:
        left = remaining(session=session, phase=phase, team=team)
        if left.total is not None and left.total <= 0:
            raise LimitReached("your team has used all its submissions for this phase", None)
        if left.today is not None and left.today <= 0:
            raise LimitReached(
                f"your team has used its {phase.daily_limit} submissions for today (UTC)",
                left.resets_at,
            )
    key = f"submissions/{phase.id}/{team.id}/{uuid.uuid4().hex}.zip"
    submission = Submission(
        phase_id=phase.id,
        team_id=team.id,
        user_id=user.id if user else None,
        archive_key=key,
        archive_name=Path(archive_name).name[:255] or "submission.zip",
        archive_bytes=upload.stat().st_size,
        archive_sha256=sha256,
        idempotency_key=idempotency_key,
        **fields,
    )
    try:
        with session.begin_nested():
            session.add(submission)
            session.flush()
    except IntegrityError:
        # A concurrent retry with the same idempotency key won the race: answer with its row.
        existing = session.scalar(
            select(Submission).where(
                Submission.team_id == team.id, Submission.idempotency_key == idempotency_key
            )
        )
        if idempotency_key is None or existing is None:
            raise
        upload.unlink(missing_ok=True)
        return existing
    storage.put_file(key, upload)
    on_rollback(session, lambda: storage.delete(key))
    submission_id = submission.id
    after_commit(session, lambda: enqueue(submission_id))
    return submission


def _submitting_team(*, session: Session, phase: Phase, user: User) -> Team:
    membership = session.scalar(
        select(TeamMember).where(
            TeamMember.challenge_id == phase.challenge_id, TeamMember.user_id == user.id
        )
    )
    if membership is None:
        raise PermissionDenied("register a team for this challenge before submitting")
    team = membership.team
    if team.status != TeamStatus.APPROVED:
        raise PermissionDenied(f"your team's registration is {team.status}; wait for approval")
    return team


def _clean_fields(
    method_name: str, description: str, url: str, external_data: str
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if len(method_name) > 120:
        errors["method_name"] = "use at most 120 characters"
    if len(description) > 5000:
        errors["description"] = "use at most 5000 characters"
    url = url.strip()
    if url and not url.startswith(("https://", "http://")):
        errors["url"] = "give a full http(s):// address"
    if (error := choice_error(ExternalData, external_data)) is not None:
        errors["external_data"] = error
    if errors:
        raise InvalidInput(errors)
    return {
        "method_name": method_name.strip(),
        "description": description.strip(),
        "url": url[:500],
        "external_data": external_data,
    }


def _lock_team(*, session: Session, team: Team) -> None:
    """Serialise quota checks of one team (a no-op lock statement on SQLite)."""
    session.execute(select(Team.id).where(Team.id == team.id).with_for_update())


def get_submission(*, session: Session, submission_id: int, user: User | None) -> Submission:
    """Return a submission its team or the challenge's organizers may read; NotFound otherwise.

    Another team's submission answers NotFound, not PermissionDenied, so that ids reveal
    nothing.
    """
    submission = session.get(Submission, submission_id)
    if submission is None or user is None:
        raise NotFound("no such submission")
    if challenges_service.is_organizer(
        session=session, challenge=submission.phase.challenge, user=user
    ):
        return submission
    member = session.scalar(
        select(TeamMember.id).where(
            TeamMember.team_id == submission.team_id, TeamMember.user_id == user.id
        )
    )
    if member is None:
        raise NotFound("no such submission")
    return submission


def list_team_submissions(*, session: Session, phase: Phase, team: Team) -> list[Submission]:
    """Return a team's submissions to a phase, newest first."""
    return list(
        session.scalars(
            select(Submission)
            .where(Submission.phase_id == phase.id, Submission.team_id == team.id)
            .order_by(Submission.created_at.desc(), Submission.id.desc())
        )
    )


def select_submission(*, session: Session, submission: Submission) -> None:
    """Make a scored submission the one that counts for its team (phases counting 'selected')."""
    if submission.phase.counting != Counting.SELECTED:
        raise Conflict("this phase ranks teams automatically; there is nothing to choose")
    state = challenges_service.phase_state(submission.phase)
    if state != PhaseState.OPEN:
        raise Conflict(f"the phase is {state}; the counted submission can no longer change")
    if submission.status != SubmissionStatus.SCORED:
        raise Conflict("only a scored submission can be chosen")
    for other in list_team_submissions(
        session=session, phase=submission.phase, team=submission.team
    ):
        other.selected = other.id == submission.id
    session.flush()
    leaderboard_service.invalidate(session=session, phase=submission.phase)


def statuses(*, session: Session, submission_ids: Iterable[int]) -> dict[int, SubmissionStatus]:
    """Return the current status of each of the submissions that exist."""
    ids = list(submission_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Submission.id, Submission.status).where(Submission.id.in_(ids))
    ).all()
    return {row.id: row.status for row in rows}
