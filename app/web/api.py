"""The REST API for scripts: `/api/v1`, authenticated with personal bearer tokens.

Paths are fixed by the documentation and the client CLI. Errors are JSON
(`{"detail": ..., "errors"?: ..., "retry_at"?: ...}`): 401 without a valid token, 403
when the caller may not act, 404 for what they may not know exists, 422 for bad input,
429 when a submission limit is reached.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from app.db import Session
from app.errors import NotAuthenticated, PermissionDenied
from app.models import Submission, SubmissionStatus, TeamStatus
from app.schemas.api import (
    ClassIou,
    ErrorRead,
    JoinRequest,
    LeaderboardRead,
    LeaderboardRowRead,
    ModerationRequest,
    RemainingRead,
    RescoreRead,
    Scores,
    SubmissionRead,
    TeamRead,
)
from app.services import challenges as challenges_service
from app.services import exports as exports_service
from app.services import leaderboard as leaderboard_service
from app.services import moderation as moderation_service
from app.services import submissions as submissions_service
from app.services import teams as teams_service
from app.web.deps import ApiUser, SessionDep, StorageDep, TasksDep, get_api_user
from app.web.guards import ApiOrganizedPhase, ApiOrganizedSubmission, ApiOwnSubmission
from app.web.public_cache import CachedViewDep, PublicView, Rendered
from app.web.routing import TransactionRoute
from app.web.status_watch import MAX_WAIT_SECONDS, wait_for_change
from app.web.uploads import submit_upload

ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorRead} for status in (401, 403, 404, 409, 422, 429)
}

router = APIRouter(prefix="/api/v1", tags=["api"], responses=ERRORS, route_class=TransactionRoute)


def submission_read(submission: Submission) -> SubmissionRead:
    """Convert a submission row for the API."""
    scores = None
    if submission.status == SubmissionStatus.SCORED:
        scores = Scores(
            miou=submission.miou,
            iou=ClassIou(
                tumor=submission.iou_tumor,
                stroma=submission.iou_stroma,
                normal=submission.iou_normal,
            ),
        )
    return SubmissionRead(
        id=submission.id,
        status=submission.status,
        challenge=submission.phase.challenge.slug,
        phase=submission.phase.slug,
        team=submission.team.name,
        method_name=submission.method_name,
        created_at=submission.created_at,
        finished_at=submission.finished_at,
        scores=scores,
        error=submission.error or None if submission.status == SubmissionStatus.FAILED else None,
    )


@router.post(
    "/challenges/{challenge}/join",
    response_model=TeamRead,
    status_code=201,
    responses={202: {"model": TeamRead, "description": "Registered, awaiting approval"}},
)
def join(challenge: str, body: JoinRequest, session: SessionDep, user: ApiUser) -> Response:
    """Register the caller's team (201 when approved at once, 202 while pending)."""
    team = teams_service.ensure_team(
        session=session,
        challenge=challenges_service.get_challenge(session=session, slug=challenge),
        user=user,
        name=body.team,
        accept_rules=body.accept_rules,
    )
    payload = TeamRead(
        id=team.id,
        name=team.name,
        status=team.status,
        invite_code=team.invite_code,
    )
    status_code = 201 if team.status == TeamStatus.APPROVED else 202
    return JSONResponse(payload.model_dump(mode="json"), status_code=status_code)


@router.post(
    "/challenges/{challenge}/phases/{phase}/submissions",
    response_model=SubmissionRead,
    status_code=202,
)
def submit(
    request: Request,
    challenge: str,
    phase: str,
    session: SessionDep,
    storage: StorageDep,
    tasks: TasksDep,
    user: ApiUser,
    file: Annotated[UploadFile, File(description="A zip of PNG masks")],
    method_name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "",
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> SubmissionRead:
    """Upload a submission; it is checked at once and scored within seconds."""
    found = challenges_service.get_challenge_phase(
        session=session, challenge_slug=challenge, phase_slug=phase
    )
    submission = submit_upload(
        file,
        session=session,
        storage=storage,
        phase=found,
        user=user,
        enqueue=tasks.score,
        method_name=method_name,
        description=description,
        url=url,
        idempotency_key=idempotency_key,
    )
    return submission_read(submission)


@router.get("/submissions/{submission_id}", response_model=SubmissionRead)
async def get_submission(
    request: Request,
    submission: ApiOwnSubmission,
    session: SessionDep,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT_SECONDS,
            description="Seconds to hold the answer until the status differs from `since` "
            "(a long poll): it comes as soon as the status changes.",
        ),
    ] = 0,
    since: Annotated[
        SubmissionStatus | None,
        Query(description="The status the caller knows; by default, the status now."),
    ] = None,
) -> SubmissionRead:
    """Read a submission of the caller's team (organizers read every one)."""
    await wait_for_change(request, session, submission, wait, since)
    return submission_read(submission)


@router.get("/challenges/{challenge}/phases/{phase}/leaderboard", response_model=LeaderboardRead)
async def get_leaderboard(
    request: Request,
    challenge: str,
    phase: str,
    session: SessionDep,
    cached_view: CachedViewDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """Read a leaderboard, honouring its visibility (public ones need no token)."""
    # Async: calls without a token get the answer serialized before for the current stamp
    # when there is one (see app.web.public_cache), without a thread hop of their own; the
    # others are answered in one thread hop, database work included.
    view = None
    if authorization is None:
        view = PublicView(
            name=("leaderboard API", challenge, phase),
            challenge=challenge,
            phase=phase,
            moment=challenges_service.visible_to_everyone,
            media_type="application/json",
        )
    return await cached_view(view, lambda: _leaderboard(session, challenge, phase, authorization))


def _leaderboard(
    session: Session, challenge: str, phase: str, authorization: str | None
) -> Rendered:
    user = get_api_user(session, authorization)
    found = challenges_service.get_challenge_phase(
        session=session, challenge_slug=challenge, phase_slug=phase
    )
    if not challenges_service.leaderboard_visible(session=session, phase=found, user=user):
        if user is None:
            raise NotAuthenticated("this leaderboard is not public")
        raise PermissionDenied("this leaderboard is hidden until the organizers publish it")
    rows = leaderboard_service.leaderboard(session=session, phase=found)
    body = (
        LeaderboardRead(
            challenge=challenge,
            phase=phase,
            rows=[
                LeaderboardRowRead(
                    rank=row.rank,
                    team=row.team,
                    miou=row.miou,
                    iou=ClassIou(tumor=row.tumor, stroma=row.stroma, normal=row.normal),
                    baseline=row.baseline,
                    entries=row.entries,
                    method_name=row.method_name,
                    submitted_at=row.submitted_at,
                )
                for row in rows
            ],
        )
        .model_dump_json(by_alias=True)  # the bytes FastAPI's response_model gives
        .encode()
    )
    shared = user is None and challenges_service.visible_to_everyone(found)
    response = Response(body, media_type="application/json")
    return response, leaderboard_service.stamp_of(found) if shared else None


@router.get("/challenges/{challenge}/phases/{phase}/remaining", response_model=RemainingRead)
def get_remaining(challenge: str, phase: str, session: SessionDep, user: ApiUser) -> RemainingRead:
    """Say how many submissions the caller's team has left today and in total."""
    found = challenges_service.get_challenge_phase(
        session=session, challenge_slug=challenge, phase_slug=phase
    )
    team = teams_service.require_team(session=session, challenge=found.challenge, user=user)
    left = submissions_service.remaining(session=session, phase=found, team=team)
    return RemainingRead(
        today=left.today,
        total=left.total,
        used_today=left.used_today,
        used_total=left.used_total,
        resets_at=left.resets_at,
    )


# --- Organizer endpoints ---------------------------------------------------------------


@router.get(
    "/challenges/{challenge}/phases/{phase}/submissions",
    response_model=list[SubmissionRead],
    tags=["organizer"],
)
def list_submissions(
    found: ApiOrganizedPhase,
    session: SessionDep,
    status: SubmissionStatus | None = None,
) -> list[SubmissionRead]:
    """List every submission of a phase, newest first (organizers)."""
    rows = moderation_service.list_submissions(
        session=session, phase=found, status=status, limit=5000
    )
    return [submission_read(row) for row in rows]


@router.post(
    "/submissions/{submission_id}/rescore",
    response_model=RescoreRead,
    status_code=202,
    tags=["organizer"],
)
def rescore_submission(
    submission: ApiOrganizedSubmission, session: SessionDep, user: ApiUser, tasks: TasksDep
) -> RescoreRead:
    """Score a submission again (organizers; never counts against limits)."""
    queued = moderation_service.rescore(
        session=session, submissions=[submission], actor=user, enqueue=tasks.score
    )
    return RescoreRead(queued=queued)


@router.post(
    "/challenges/{challenge}/phases/{phase}/rescore",
    response_model=RescoreRead,
    status_code=202,
    tags=["organizer"],
)
def rescore_phase(
    found: ApiOrganizedPhase, session: SessionDep, user: ApiUser, tasks: TasksDep
) -> RescoreRead:
    """Score every scored or failed submission of a phase again (organizers)."""
    targets = moderation_service.rescorable(session=session, phase=found)
    queued = moderation_service.rescore(
        session=session, submissions=targets, actor=user, enqueue=tasks.score
    )
    return RescoreRead(queued=queued)


@router.post(
    "/submissions/{submission_id}/cancel", response_model=SubmissionRead, tags=["organizer"]
)
def cancel_submission(
    submission: ApiOrganizedSubmission, session: SessionDep, user: ApiUser
) -> SubmissionRead:
    """Cancel a queued submission (organizers)."""
    moderation_service.cancel(session=session, submission=submission, actor=user)
    return submission_read(submission)


@router.post(
    "/submissions/{submission_id}/moderation", response_model=SubmissionRead, tags=["organizer"]
)
def moderate_submission(
    submission: ApiOrganizedSubmission, body: ModerationRequest, session: SessionDep, user: ApiUser
) -> SubmissionRead:
    """Hide, disqualify or restore a submission, with a reason (organizers)."""
    moderation_service.set_visibility(
        session=session,
        submission=submission,
        actor=user,
        action=body.action,
        reason=body.reason,
    )
    return submission_read(submission)


@router.get(
    "/challenges/{challenge}/phases/{phase}/export/{name}",
    tags=["organizer"],
    responses={200: {"content": {"text/csv": {}, "application/x-tex": {}}}},
)
def export(
    found: ApiOrganizedPhase,
    name: Literal["leaderboard.csv", "leaderboard.tex", "submissions.csv"],
    session: SessionDep,
) -> Response:
    """Export the leaderboard (CSV, LaTeX) or every submission (CSV) (organizers)."""
    if name == "submissions.csv":
        return Response(
            exports_service.submissions_csv(session=session, phase=found), media_type="text/csv"
        )
    rows = leaderboard_service.leaderboard(session=session, phase=found)
    if name == "leaderboard.csv":
        return Response(exports_service.leaderboard_csv(rows), media_type="text/csv")
    caption = f"{found.challenge.title}: {found.title} leaderboard"
    return Response(
        exports_service.leaderboard_latex(list(rows), caption), media_type="application/x-tex"
    )
