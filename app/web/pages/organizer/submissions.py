"""The console's submissions of a phase: filtering, rescoring, cancelling, moderating and
downloading them."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from app.errors import NotFound
from app.models import ModerationAction, Submission
from app.services import moderation as moderation_service
from app.web.deps import CsrfDep, SessionDep, SettingsDep, StorageDep, TasksDep, UserDep
from app.web.guards import OrganizedPhase, OrganizedSubmission
from app.web.pages.organizer.console import console_page, console_router
from app.web.rendering import redirect_to

router = console_router()


def _back_to_submissions(request: Request, submission: Submission) -> Response:
    phase = submission.phase
    return redirect_to(
        request, "organizer_submissions", slug=phase.challenge.slug, phase_slug=phase.slug
    )


def _utc_day(day: str) -> tuple[datetime, datetime] | None:
    """The UTC day a filter names, as [start, end); None when it names none."""
    if not day:
        return None
    try:
        start = datetime.fromisoformat(day).replace(tzinfo=UTC)
        return start, start + timedelta(days=1)
    except (ValueError, OverflowError):
        return None


@router.get(
    "/{slug}/phases/{phase_slug}/submissions",
    response_class=HTMLResponse,
    name="organizer_submissions",
)
def submissions(
    request: Request,
    phase: OrganizedPhase,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
    team: str = "",
    status: str = "",
    day: str = "",
) -> Response:
    """List every submission of a phase, filtered by team, status and UTC day."""
    start, end = _utc_day(day) or (None, None)
    rows = moderation_service.list_submissions(
        session=session,
        phase=phase,
        team_name=team,
        status=status or None,
        created_from=start,
        created_before=end,
        limit=1000,
    )
    return console_page(
        request,
        "submissions",
        settings,
        user,
        challenge=phase.challenge,
        phase=phase,
        submissions=rows,
        filters={"team": team, "status": status, "day": day},
        rescorable=len(moderation_service.rescorable(session=session, phase=phase)),
    )


@router.post(
    "/submissions/{submission_id}/rescore", dependencies=[CsrfDep], name="organizer_rescore"
)
def rescore_one(
    request: Request,
    submission: OrganizedSubmission,
    session: SessionDep,
    user: UserDep,
    tasks: TasksDep,
) -> Response:
    """Score one submission again (it never counts against the team's limits)."""
    moderation_service.rescore(
        session=session, submissions=[submission], actor=user, enqueue=tasks.score
    )
    return _back_to_submissions(request, submission)


@router.get(
    "/{slug}/phases/{phase_slug}/rescore",
    response_class=HTMLResponse,
    name="organizer_rescore_confirm",
)
def rescore_all_confirm(
    request: Request,
    phase: OrganizedPhase,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
) -> Response:
    """Ask for confirmation, saying how many submissions a rescore of the phase queues."""
    count = len(moderation_service.rescorable(session=session, phase=phase))
    return console_page(
        request, "rescore", settings, user, challenge=phase.challenge, phase=phase, count=count
    )


@router.post(
    "/{slug}/phases/{phase_slug}/rescore", dependencies=[CsrfDep], name="organizer_rescore_all"
)
def rescore_all(
    request: Request,
    phase: OrganizedPhase,
    session: SessionDep,
    user: UserDep,
    tasks: TasksDep,
    expected: Annotated[int, Form()],
) -> Response:
    """Rescore every scored or failed submission of the phase (after the confirmation)."""
    slug, phase_slug = phase.challenge.slug, phase.slug
    targets = moderation_service.rescorable(session=session, phase=phase)
    if len(targets) != expected:
        return redirect_to(request, "organizer_rescore_confirm", slug=slug, phase_slug=phase_slug)
    moderation_service.rescore(
        session=session, submissions=targets, actor=user, enqueue=tasks.score
    )
    return redirect_to(request, "organizer_submissions", slug=slug, phase_slug=phase_slug)


@router.post("/submissions/{submission_id}/cancel", dependencies=[CsrfDep], name="organizer_cancel")
def cancel(
    request: Request, submission: OrganizedSubmission, session: SessionDep, user: UserDep
) -> Response:
    """Cancel a queued submission."""
    moderation_service.cancel(session=session, submission=submission, actor=user)
    return _back_to_submissions(request, submission)


@router.post(
    "/submissions/{submission_id}/moderate", dependencies=[CsrfDep], name="organizer_moderate"
)
def moderate(
    request: Request,
    submission: OrganizedSubmission,
    session: SessionDep,
    user: UserDep,
    action: Annotated[ModerationAction, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Hide, disqualify or restore a submission, with a reason."""
    moderation_service.set_visibility(
        session=session, submission=submission, actor=user, action=action, reason=reason
    )
    return _back_to_submissions(request, submission)


@router.get("/submissions/{submission_id}/archive", name="organizer_archive")
def archive(submission: OrganizedSubmission, storage: StorageDep) -> Response:
    """Download a submission's archive."""
    if not storage.path(submission.archive_key).is_file():
        raise NotFound("the archive of this submission is missing from storage")
    return FileResponse(
        storage.path(submission.archive_key),
        media_type="application/zip",
        filename=f"submission-{submission.id}-{submission.archive_name}",
    )
